//! Fuzz target `sse_stream`: the streamed Chat Completions parser, from upstream bytes to the
//! completion.
//!
//! The first byte picks the mode:
//! - framing: the rest is a response body, cut into chunks at fuzzer-chosen points (as TCP
//!   reads would cut it), framed into events by the same function the LLM client uses, and fed
//!   to `StreamAccumulator::push` as the client does. The events must not depend on where the
//!   chunks were cut.
//! - events: the rest is a sequence of (event name, data) pairs pushed straight into the
//!   accumulator, then `finish`.
//!
//! Properties (both modes): nothing panics; the text deltas handed out add up to the finished
//! text; nothing is handed out after `[DONE]`; every finished tool call has a name, an id and
//! non-empty arguments.

#![no_main]

use std::convert::Infallible;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use chat::llm::stream::{StreamAccumulator, StreamEvent};
use futures_util::StreamExt;
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

/// One framed event, or where framing failed (by kind: messages may quote the buffer).
type Framed = Result<(String, String), &'static str>;

/// Frames `chunks` with the client's SSE framing. The stream is in memory and always ready,
/// so a no-op waker drives it.
fn frame(chunks: Vec<Bytes>) -> Vec<Framed> {
    let body = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let mut events = Box::pin(chat::llm::sse_events(body, usize::MAX));
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match events.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(Ok(event))) => out.push(Ok((event.event, event.data))),
            Poll::Ready(Some(Err(e))) => {
                out.push(Err(match e {
                    eventsource_stream::EventStreamError::Utf8(_) => "utf8",
                    eventsource_stream::EventStreamError::Parser(_) => "parser",
                    eventsource_stream::EventStreamError::Transport(_) => "transport",
                }));
                break;
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("an in-memory stream is never pending"),
        }
    }
    out
}

/// Pushes events as the LLM client does (stopping at an error or `[DONE]`) and checks the
/// accumulator's promises.
fn accumulate<'a>(events: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut acc = StreamAccumulator::new();
    let mut forwarded = String::new();
    for (name, data) in events {
        let was_done = acc.saw_done();
        let Ok(out) = acc.push(name, data) else {
            break;
        };
        if was_done {
            assert!(out.is_empty(), "events after [DONE]: {out:?}");
        }
        for event in out {
            match event {
                StreamEvent::TextDelta(text) => {
                    assert!(!text.is_empty(), "an empty delta was forwarded");
                    forwarded.push_str(&text);
                }
                StreamEvent::Done => assert!(acc.saw_done()),
            }
        }
    }
    let has_output = acc.has_output();
    let completion = acc.finish();
    assert_eq!(
        completion.text, forwarded,
        "deltas do not add up to the text"
    );
    assert!(has_output || completion.tool_calls.is_empty());
    for call in &completion.tool_calls {
        assert!(!call.name.is_empty() && !call.id.is_empty() && !call.arguments.trim().is_empty());
    }
}

fn framing(data: &[u8]) {
    // Up to four chunk lengths (1–64 bytes), used in turn; the rest is the body.
    let (sizes, body) = data.split_at(data.len().min(4));
    let body = Bytes::copy_from_slice(body);
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().map(|s| usize::from(s % 64) + 1).cycle() {
        if at >= body.len() || sizes.is_empty() {
            break;
        }
        let end = (at + size).min(body.len());
        chunks.push(body.slice(at..end));
        at = end;
    }
    if at < body.len() {
        chunks.push(body.slice(at..));
    }
    let whole = frame(vec![body]);
    let cut = frame(chunks);
    // A line over the cap is refused as soon as it is seen, so how much came before the
    // refusal depends on the cuts; everything else must not.
    if !whole.contains(&Err("transport")) {
        assert_eq!(whole, cut, "framing depends on where the body was cut");
    }
    accumulate(
        whole
            .iter()
            .map_while(|e| e.as_ref().ok())
            .map(|(name, data)| (name.as_str(), data.as_str())),
    );
}

fn events(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut pairs: Vec<(String, String)> = Vec::new();
    while !u.is_empty() {
        // Mostly the names providers send; sometimes anything.
        let name = match u.int_in_range(0..=5u8).unwrap_or(0) {
            0 | 1 => String::new(),
            2 => "message".to_owned(),
            3 => "error".to_owned(),
            4 => "ping".to_owned(),
            _ => String::arbitrary(&mut u).unwrap_or_default(),
        };
        let Ok(data) = String::arbitrary(&mut u) else {
            break;
        };
        pairs.push((name, data));
    }
    accumulate(pairs.iter().map(|(n, d)| (n.as_str(), d.as_str())));
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => framing(rest),
        Some((_, rest)) => events(rest),
        None => {}
    }
});
