//! `fake-upstream`: both upstreams of the backend in one loopback process, for benchmarks and
//! soak tests (the tests' in-process fakes live in `elbatt::testing`).
//!
//! - `GET /enkeltoppslag/kjoretoydata?kjennemerke=EC47213` → a Statens vegvesen answer: the
//!   repository's invented battery-electric fixture (built in), or the `--fixture` file read once
//!   at start; any other plate → `204` (the registry's "no vehicle").
//! - `POST /v1/chat/completions` → with `"stream":true` a chat-completions SSE stream: after
//!   `--first-token-ms` the role chunk and the first text chunk, then one text chunk every
//!   `--chunk-ms` (`--chunks` in all), a `finish_reason` chunk, a usage chunk and `[DONE]`;
//!   otherwise one JSON completion after the same total delay.
//!   With `--tool-calls`, a streamed request that offers tools and whose last message is the
//!   user's, naming a standard plate (`EC47213`, `EC 47213`), is answered with one
//!   `lookup_vehicle` call for it instead; the request carrying the tool result then gets the
//!   text (the browser tests' vehicle card, scripts/browser-tests.sh).
//! - `GET /count` → `{"vegvesen":N,"chat":N}`: the calls received, so a bench can show how many
//!   lookups reached the "registry".
//!
//! It binds 127.0.0.1 only, reads request bodies up to 1 MiB, and exits by itself after
//! `--exit-after` seconds (default 1800), so a forgotten one never lingers. It prints
//! `port=<N>` on stdout once listening (`--port 0`, the default, picks a free port).

use std::convert::Infallible;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bench::args::Args;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const USAGE: &str = "\
Usage: fake-upstream [--port N] [--fixture PATH] [--first-token-ms MS] [--chunk-ms MS]
                     [--chunks N] [--vegvesen-ms MS] [--exit-after SECS] [--tool-calls]
Serves a fake Statens vegvesen and a fake OpenAI-compatible chat API on 127.0.0.1.
  --port            port (default $PORT or 0 = any free port; printed as port=N)
  --fixture         the Vegvesen answer for EC47213 (default $FAKE_VEGVESEN_FIXTURE or the
                    built-in shared/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json)
  --first-token-ms  delay before the first chunk (default 50)
  --chunk-ms        delay between chunks (default 5)
  --chunks          text chunks per reply (default 20)
  --vegvesen-ms     delay before each Vegvesen answer (default 0)
  --exit-after      exit after this many seconds (default 1800)
  --tool-calls      call lookup_vehicle for a plate in the user's last message";

/// The repository's invented battery-electric record, so the default needs no file at run time.
const DEFAULT_FIXTURE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json"
));
/// The plate the default fixture describes.
const FIXTURE_PLATE: &str = "EC47213";
const MAX_BODY: usize = 1024 * 1024;

type Body = BoxBody<Bytes, Infallible>;

#[derive(Debug)]
struct State {
    fixture: Bytes,
    first_token: Duration,
    between_chunks: Duration,
    chunks: u32,
    vegvesen_delay: Duration,
    tool_calls: bool,
    vegvesen_calls: AtomicU64,
    chat_calls: AtomicU64,
}

fn main() -> ExitCode {
    let args = match Args::parse(
        std::env::args().skip(1),
        &[
            "port",
            "fixture",
            "first-token-ms",
            "chunk-ms",
            "chunks",
            "vegvesen-ms",
            "exit-after",
            "tool-calls",
            "help",
        ],
        &["help", "tool-calls"],
    ) {
        Ok(a) if a.has("help") => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(a) => a,
        Err(e) => {
            eprintln!("fake-upstream: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match setup(&args) {
        Ok((state, port, exit_after)) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("fake-upstream: {e}");
                    return ExitCode::from(70);
                }
            };
            rt.block_on(serve(state, port, exit_after))
        }
        Err(e) => {
            eprintln!("fake-upstream: {e}");
            ExitCode::from(2)
        }
    }
}

fn setup(args: &Args) -> Result<(Arc<State>, u16, Duration), String> {
    let env_port = std::env::var("PORT").ok();
    let port: u16 = match args.get("port").or(env_port.as_deref()) {
        None => 0,
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
    };
    let env_fixture = std::env::var("FAKE_VEGVESEN_FIXTURE").ok();
    let fixture = match args.get("fixture").or(env_fixture.as_deref()) {
        None => DEFAULT_FIXTURE.to_vec(),
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read the Vegvesen fixture {path} ({e})"))?,
    };
    let ms = |name: &str, default: u64| args.parse_or(name, default).map(Duration::from_millis);
    let state = State {
        fixture: Bytes::from(fixture),
        first_token: ms("first-token-ms", 50)?,
        between_chunks: ms("chunk-ms", 5)?,
        chunks: args.parse_or("chunks", 20u32)?.max(1),
        vegvesen_delay: ms("vegvesen-ms", 0)?,
        tool_calls: args.has("tool-calls"),
        vegvesen_calls: AtomicU64::new(0),
        chat_calls: AtomicU64::new(0),
    };
    let exit_after = Duration::from_secs(args.parse_or("exit-after", 1800u64)?);
    Ok((Arc::new(state), port, exit_after))
}

async fn serve(state: Arc<State>, port: u16, exit_after: Duration) -> ExitCode {
    // Loopback only, whatever the caller asks: this is test traffic.
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-upstream: cannot listen on {addr}: {e}");
            return ExitCode::from(70);
        }
    };
    let local = listener.local_addr().map_or(port, |a| a.port());
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "port={local}");
        let _ = out.flush();
    }
    let accept_loop = async {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => {
                    // Each SSE chunk is a small write: without this, Nagle's algorithm holds
                    // it back until the client's delayed ACK (~40 ms) when chunks come at once.
                    let _ = s.set_nodelay(true);
                    s
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(route(&state, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    tokio::select! {
        () = accept_loop => ExitCode::SUCCESS,
        () = tokio::time::sleep(exit_after) => {
            eprintln!("fake-upstream: --exit-after reached; exiting");
            ExitCode::SUCCESS
        }
    }
}

async fn route(state: &State, req: http::Request<Incoming>) -> http::Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/enkeltoppslag/kjoretoydata") => vegvesen(state, &req).await,
        (&Method::POST, "/v1/chat/completions") => chat(state, req).await,
        (&Method::GET, "/count") => json_response(
            StatusCode::OK,
            &json!({
                "vegvesen": state.vegvesen_calls.load(Ordering::Relaxed),
                "chat": state.chat_calls.load(Ordering::Relaxed),
            }),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "no such fake route"}),
        ),
    }
}

async fn vegvesen(state: &State, req: &http::Request<Incoming>) -> http::Response<Body> {
    state.vegvesen_calls.fetch_add(1, Ordering::Relaxed);
    if !state.vegvesen_delay.is_zero() {
        tokio::time::sleep(state.vegvesen_delay).await;
    }
    let plate = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("kjennemerke="))
        .map(|v| {
            // The only escapes a plate can carry are spaces ("EC 47213"); drop them.
            v.replace("%20", "")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .unwrap_or_default();
    if plate == FIXTURE_PLATE {
        let mut resp = http::Response::new(Full::new(state.fixture.clone()).boxed());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    } else {
        let mut resp = http::Response::new(Full::new(Bytes::new()).boxed());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        resp
    }
}

async fn chat(state: &State, req: http::Request<Incoming>) -> http::Response<Body> {
    state.chat_calls.fetch_add(1, Ordering::Relaxed);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": {"message": "body too large or unreadable"}}),
            );
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"message": "not JSON", "type": "invalid_request_error"}}),
        );
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let usage = json!({
        "prompt_tokens": 100,
        "completion_tokens": state.chunks,
        "total_tokens": 100 + state.chunks,
    });
    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        let delay = state.first_token + state.between_chunks * (state.chunks - 1);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let text: String = (0..state.chunks).map(word).collect();
        return json_response(
            StatusCode::OK,
            &json!({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let (first, between, chunks) = (state.first_token, state.between_chunks, state.chunks);
    let call = if state.tool_calls {
        plate_to_look_up(&request)
    } else {
        None
    };
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let event = json!({
                "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            Bytes::from(format!("data: {event}\n\n"))
        };
        // A zero delay sends at once: tokio's timer would round even a zero sleep up to its next
        // millisecond tick, and `--chunk-ms 0` is how a bench asks for an upstream that costs
        // nothing.
        if !first.is_zero() {
            tokio::time::sleep(first).await;
        }
        if tx
            .send(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))
            .await
            .is_err()
        {
            return;
        }
        if let Some(plate) = call {
            let call = json!({"tool_calls": [{"index": 0, "id": "call_fake_1", "type": "function",
                "function": {"name": "lookup_vehicle", "arguments": json!({"plate": plate}).to_string()}}]});
            for b in [
                chunk(call, Value::Null),
                chunk(json!({}), Value::from("tool_calls")),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ] {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            return;
        }
        for i in 0..chunks {
            if i > 0 && !between.is_zero() {
                tokio::time::sleep(between).await;
            }
            if tx
                .send(chunk(json!({"content": word(i)}), Value::Null))
                .await
                .is_err()
            {
                return; // the client went away
            }
        }
        let usage_event = json!({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
            "choices": [], "usage": usage,
        });
        let tail = [
            chunk(json!({}), Value::from("stop")),
            Bytes::from(format!("data: {usage_event}\n\n")),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ];
        for b in tail {
            if tx.send(b).await.is_err() {
                return;
            }
        }
    });
    let frames = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|b| b.map(|b| Ok::<_, Infallible>(Frame::data(b))))
    });
    let mut resp = http::Response::new(StreamBody::new(frames).boxed());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// With `--tool-calls`: the standard plate (two letters, four or five digits) in the last
/// message when that message is the user's and the request offers tools.
fn plate_to_look_up(request: &Value) -> Option<String> {
    request.get("tools")?;
    let last = request.get("messages")?.as_array()?.last()?;
    if last.get("role")?.as_str()? != "user" {
        return None;
    }
    let text: Vec<char> = last.get("content")?.as_str()?.chars().collect();
    (0..text.len()).find_map(|start| {
        let mut rest = text[start..].iter().copied().filter(|c| *c != ' ');
        let letters: String = rest.by_ref().take(2).collect();
        let digits: String = rest.take_while(char::is_ascii_digit).collect();
        let boundary = start == 0 || !text[start - 1].is_alphanumeric();
        (boundary
            && letters.chars().count() == 2
            && letters.chars().all(|c| c.is_ascii_alphabetic())
            && (4..=5).contains(&digits.len()))
        .then(|| format!("{}{digits}", letters.to_ascii_uppercase()))
    })
}

/// The `i`-th piece of the canned answer (Norwegian, like the real assistant's).
fn word(i: u32) -> String {
    const WORDS: [&str; 8] = [
        "Batteriet ",
        "i ",
        "en ",
        "elbil ",
        "har ",
        "vanligvis ",
        "åtte ",
        "års garanti. ",
    ];
    WORDS[i as usize % WORDS.len()].to_owned()
}

fn json_response(status: StatusCode, body: &Value) -> http::Response<Body> {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(content: &str) -> Option<String> {
        plate_to_look_up(
            &json!({"tools": [{}], "messages": [{"role": "user", "content": content}]}),
        )
    }

    #[test]
    fn a_standard_plate_in_the_users_last_message_is_looked_up() {
        assert_eq!(
            asked("Hva vet du om bilen ec 47213?").as_deref(),
            Some("EC47213")
        );
        assert_eq!(asked("EH91427").as_deref(), Some("EH91427"));
        assert_eq!(asked("Hvor lenge varer garantien?"), None);
        assert_eq!(asked("XEC47213"), None, "inside a word");
        let after_tool = json!({"tools": [{}], "messages": [
            {"role": "user", "content": "EC47213"}, {"role": "tool", "content": "{}"}]});
        assert_eq!(
            plate_to_look_up(&after_tool),
            None,
            "the tool result gets text"
        );
        let no_tools = json!({"messages": [{"role": "user", "content": "EC47213"}]});
        assert_eq!(plate_to_look_up(&no_tools), None);
    }
}
