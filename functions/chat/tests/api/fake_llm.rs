//! A fake OpenAI-compatible chat-completions server on 127.0.0.1:0: each `POST
//! /v1/chat/completions` takes the next scripted reply (the last one repeats) and is recorded,
//! so tests assert both what we return and what we sent. Also the chunk builders the scripts
//! are made of.
//!
//! Written over tokio's TCP socket rather than hyper: the faults under test live below HTTP
//! semantics (a chunked body cut before its terminating chunk, a connection held open, a client
//! that hangs up), and writing the bytes ourselves makes each of them exact. The runner's tests
//! (`local-dev/tests/api/chat.rs`) include this file too.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

/// The model name the fake reports in its chunks (a dated snapshot, as OpenAI does).
pub(crate) const REPORTED_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The `[DONE]` sentinel.
pub(crate) const DONE: &str = "data: [DONE]\n\n";

/// One step of a scripted body.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Raw bytes for the body, e.g. `"data: {…}\n\n"` or `": keep-alive\n\n"` (one HTTP chunk).
    Send(String),
    Wait(Duration),
}

/// How a scripted body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The terminating chunk, then the connection closes.
    Finish,
    /// The connection closes without the terminating chunk: a stream cut mid-way.
    Cut,
    /// The connection stays open and silent until the client hangs up.
    Hang,
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    status: u16,
    headers: Vec<(String, String)>,
    /// Before the status line is written (a slow response head).
    head_delay: Duration,
    steps: Vec<Step>,
    end: End,
}

impl Script {
    /// A 200 `text/event-stream` reply sending `chunks` back to back.
    pub(crate) fn sse<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Script {
        Script::sse_steps(chunks.into_iter().map(|c| Step::Send(c.into())).collect())
    }

    /// A 200 `text/event-stream` reply with waits between chunks.
    pub(crate) fn sse_steps(steps: Vec<Step>) -> Script {
        Script {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            head_delay: Duration::ZERO,
            steps,
            end: End::Finish,
        }
    }

    /// A reply with a JSON (or any other) body sent in one piece.
    pub(crate) fn json(status: u16, body: impl Into<String>) -> Script {
        Script {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            head_delay: Duration::ZERO,
            steps: vec![Step::Send(body.into())],
            end: End::Finish,
        }
    }

    /// Adds a response header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Script {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn head_delay(mut self, delay: Duration) -> Script {
        self.head_delay = delay;
        self
    }

    pub(crate) fn ending(mut self, end: End) -> Script {
        self.end = end;
        self
    }

    /// A streamed text answer as OpenAI sends it: role chunk, one chunk per part, a `stop`
    /// chunk, the usage chunk (`prompt_tokens` 40, one completion token a part), `[DONE]`.
    pub(crate) fn text_reply(parts: &[&str]) -> Script {
        Script::text_reply_from(REPORTED_MODEL, parts)
    }

    /// [`text_reply`](Self::text_reply), reporting `model` as the model that answered.
    pub(crate) fn text_reply_from(model: &str, parts: &[&str]) -> Script {
        let mut chunks = vec![role_chunk(model)];
        chunks.extend(parts.iter().map(|p| text_chunk(p)));
        chunks.push(finish_chunk("stop"));
        chunks.push(usage_chunk(40, parts.len() as u64));
        chunks.push(DONE.to_owned());
        Script::sse(chunks)
    }

    /// A streamed turn calling `lookup_vehicle` once per `(id, plate)`, each call's arguments
    /// split over several deltas; `finish_reason` `tool_calls`, usage 100/20.
    pub(crate) fn tool_reply(calls: &[(&str, &str)]) -> Script {
        let mut chunks = vec![role_chunk(REPORTED_MODEL)];
        for (i, (id, plate)) in calls.iter().enumerate() {
            let index = Some(i as u64);
            chunks.push(tool_start(index, Some(id), "lookup_vehicle", ""));
            for piece in split_arguments(&json!({ "plate": plate }).to_string()) {
                chunks.push(tool_args(index, &piece));
            }
        }
        chunks.push(finish_chunk("tool_calls"));
        chunks.push(usage_chunk(100, 20));
        chunks.push(DONE.to_owned());
        Script::sse(chunks)
    }
}

/// Cuts a JSON text into pieces of at most four bytes (ASCII only here), as models stream it.
pub(crate) fn split_arguments(arguments: &str) -> Vec<String> {
    arguments
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// `data: <json>\n\n`.
pub(crate) fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn chunk(choice: Value) -> Value {
    json!({
        "id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1_760_000_000,
        "choices": [choice], "usage": null
    })
}

/// The first chunk of a turn: the role, empty content, and the model that answered.
pub(crate) fn role_chunk(model: &str) -> String {
    let mut value = chunk(json!({
        "index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null
    }));
    value["model"] = json!(model);
    data(&value)
}

pub(crate) fn text_chunk(text: &str) -> String {
    data(&chunk(
        json!({"index": 0, "delta": {"content": text}, "finish_reason": null}),
    ))
}

pub(crate) fn finish_chunk(reason: &str) -> String {
    data(&chunk(
        json!({"index": 0, "delta": {}, "finish_reason": reason}),
    ))
}

/// The `stream_options.include_usage` chunk: no choices, the whole turn's usage.
pub(crate) fn usage_chunk(prompt: u64, completion: u64) -> String {
    data(&json!({
        "id": "chatcmpl-fake1", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion}
    }))
}

/// The first fragment of a tool call. `index` and `id` are optional because providers omit them.
pub(crate) fn tool_start(index: Option<u64>, id: Option<&str>, name: &str, args: &str) -> String {
    let mut call = json!({"type": "function", "function": {"name": name, "arguments": args}});
    if let Some(i) = index {
        call["index"] = json!(i);
    }
    if let Some(id) = id {
        call["id"] = json!(id);
    }
    data(&chunk(
        json!({"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}),
    ))
}

/// A later fragment: only (maybe) the index and the next piece of the arguments.
pub(crate) fn tool_args(index: Option<u64>, args: &str) -> String {
    let mut call = json!({"function": {"arguments": args}});
    if let Some(i) = index {
        call["index"] = json!(i);
    }
    data(&chunk(
        json!({"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}),
    ))
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Header names in lower case.
    pub(crate) headers: HashMap<String, String>,
    /// The body as JSON (`Null` if it was not JSON).
    pub(crate) body: Value,
    pub(crate) at: Instant,
}

/// The running fake; it stops with the test's runtime.
#[derive(Debug, Clone)]
pub(crate) struct FakeLlm {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    hangups: Arc<AtomicUsize>,
}

impl FakeLlm {
    /// Serves `scripts` in order, one per request; the last one repeats.
    pub(crate) async fn start(scripts: Vec<Script>) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeLlm {
            addr,
            seen: Arc::default(),
            hangups: Arc::default(),
        };
        let scripts = Arc::new(Mutex::new(VecDeque::from(scripts)));
        let (seen, hangups) = (Arc::clone(&fake.seen), Arc::clone(&fake.hangups));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (scripts, seen, hangups) = (
                    Arc::clone(&scripts),
                    Arc::clone(&seen),
                    Arc::clone(&hangups),
                );
                tokio::spawn(async move {
                    if serve(socket, &scripts, &seen).await == Outcome::ClientLeft {
                        hangups.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        fake
    }

    /// The value for `OPENAI_BASE_URL`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The request bodies, in order.
    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.requests().into_iter().map(|s| s.body).collect()
    }

    /// How many times the client hung up before a scripted reply was over.
    pub(crate) fn hangups(&self) -> usize {
        self.hangups.load(Ordering::SeqCst)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Served,
    ClientLeft,
}

async fn serve(
    mut socket: TcpStream,
    scripts: &Mutex<VecDeque<Script>>,
    seen: &Mutex<Vec<Seen>>,
) -> Outcome {
    let Some(request) = read_request(&mut socket).await else {
        return Outcome::ClientLeft;
    };
    let script = if request.method == "POST" && request.path == "/v1/chat/completions" {
        let mut queue = scripts.lock().unwrap();
        if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        }
    } else {
        None
    };
    seen.lock().unwrap().push(request);
    let script = script.unwrap_or_else(|| {
        Script::json(
            404,
            r#"{"error":{"message":"no such route or no script","type":"invalid_request_error"}}"#,
        )
    });

    let (mut reader, mut writer) = socket.into_split();
    if !script.head_delay.is_zero() && hung_up(&mut reader, script.head_delay).await {
        return Outcome::ClientLeft;
    }
    let reason = http::StatusCode::from_u16(script.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", script.status);
    for (name, value) in &script.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    if writer.write_all(head.as_bytes()).await.is_err() {
        return Outcome::ClientLeft;
    }
    for step in &script.steps {
        match step {
            Step::Send(bytes) if bytes.is_empty() => {}
            Step::Send(bytes) => {
                let framed = format!("{:x}\r\n{bytes}\r\n", bytes.len());
                if writer.write_all(framed.as_bytes()).await.is_err()
                    || writer.flush().await.is_err()
                {
                    return Outcome::ClientLeft;
                }
            }
            Step::Wait(d) => {
                if hung_up(&mut reader, *d).await {
                    return Outcome::ClientLeft;
                }
            }
        }
    }
    match script.end {
        End::Finish => {
            let _ = writer.write_all(b"0\r\n\r\n").await;
            let _ = writer.shutdown().await;
            Outcome::Served
        }
        // Dropping both halves closes the socket with the body unfinished.
        End::Cut => Outcome::Served,
        End::Hang => {
            // Wait (bounded, so a forgotten connection cannot outlive a test run) for the hang-up.
            if hung_up(&mut reader, Duration::from_secs(60)).await {
                Outcome::ClientLeft
            } else {
                Outcome::Served
            }
        }
    }
}

/// Waits up to `wait` and says whether the client hung up meanwhile: it sends nothing more
/// after its request, so a read that ends means the connection closed.
async fn hung_up(reader: &mut OwnedReadHalf, wait: Duration) -> bool {
    let until = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout_at(until, reader.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body (what reqwest sends for JSON).
async fn read_request(socket: &mut (impl AsyncRead + Unpin)) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}
