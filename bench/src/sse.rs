//! Spots, in a streamed chat reply arriving in arbitrary pieces, the first piece of answer text
//! and the end of the reply, for both wire formats we time:
//!
//! - [`Format::Elbatt`]: our `/chat` stream (`event: delta` … `event: done`);
//! - [`Format::OpenAi`]: a chat-completions stream (`data: {…"content":"…"…}` … `data: [DONE]`).
//!
//! Only whole lines are looked at, so a marker split across two network reads still counts once.

/// Which stream is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Elbatt,
    OpenAi,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "elbatt" => Some(Format::Elbatt),
            "openai" => Some(Format::OpenAi),
            _ => None,
        }
    }
}

/// What the stream has shown so far.
#[derive(Debug)]
pub struct Probe {
    format: Format,
    pending: Vec<u8>,
    /// Elbatt: the last `event:` name seen (its `data:` line follows).
    event: String,
    pub first_text: bool,
    pub done: bool,
    /// An `error` event (ours) or an error object (OpenAI's) was seen.
    pub error: bool,
}

impl Probe {
    pub fn new(format: Format) -> Probe {
        Probe {
            format,
            pending: Vec::new(),
            event: String::new(),
            first_text: false,
            done: false,
            error: false,
        }
    }

    /// Feeds the next piece of the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\r', '\n']));
        }
    }

    fn line(&mut self, line: &str) {
        match self.format {
            Format::Elbatt => {
                if let Some(name) = line.strip_prefix("event:") {
                    self.event = name.trim().to_owned();
                    match self.event.as_str() {
                        "done" => self.done = true,
                        "error" => self.error = true,
                        _ => {}
                    }
                } else if line.starts_with("data:") && self.event == "delta" {
                    self.first_text = true;
                } else if line.is_empty() {
                    self.event.clear();
                }
            }
            Format::OpenAi => {
                let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                    return;
                };
                if data == "[DONE]" {
                    self.done = true;
                } else if data.contains("\"error\"") {
                    self.error = true;
                } else if let Some(at) = data.find("\"content\":\"") {
                    // A non-empty content string: the role-only first chunk has `"content":""`.
                    let after = &data[at + "\"content\":\"".len()..];
                    if !after.starts_with('"') {
                        self.first_text = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_stream_shows_text_at_the_first_delta_and_ends_at_done() {
        let mut p = Probe::new(Format::Elbatt);
        p.feed(b": ping\n\n");
        assert!(!p.first_text);
        p.feed(b"event: delta\ndata: {\"text\":\"Hei\"}\n\n");
        assert!(p.first_text && !p.done);
        p.feed(b"event: done\ndata: {\"mode\":\"model\"}\n\n");
        assert!(p.done && !p.error);
    }

    #[test]
    fn a_marker_split_across_reads_is_seen_once_whole() {
        let mut p = Probe::new(Format::Elbatt);
        p.feed(b"event: del");
        assert!(!p.first_text);
        p.feed(b"ta\r\nda");
        assert!(!p.first_text);
        p.feed(b"ta: {}\r\n");
        assert!(p.first_text);
    }

    #[test]
    fn a_vehicle_event_is_not_text() {
        let mut p = Probe::new(Format::Elbatt);
        p.feed(b"event: vehicle\ndata: {\"plate\":\"EC47213\"}\n\n");
        assert!(!p.first_text);
        p.feed(b"event: error\ndata: {}\n\n");
        assert!(p.error);
    }

    #[test]
    fn openai_text_starts_at_the_first_non_empty_content() {
        let mut p = Probe::new(Format::OpenAi);
        p.feed(b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
        assert!(!p.first_text);
        p.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hei\"}}]}\n\n");
        assert!(p.first_text && !p.done);
        p.feed(b"data: [DONE]\n\n");
        assert!(p.done);
    }

    #[test]
    fn openai_error_objects_are_noticed() {
        let mut p = Probe::new(Format::OpenAi);
        p.feed(b"data: {\"error\":{\"message\":\"overloaded\"}}\n");
        assert!(p.error && !p.first_text);
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!(Format::parse("openai"), Some(Format::OpenAi));
        assert_eq!(Format::parse("elbatt"), Some(Format::Elbatt));
        assert_eq!(Format::parse("sse"), None);
    }
}
