//! `/api/ws` (docs/websocket.md) with a real WebSocket client (tungstenite) against the real
//! server: chat with sequence numbers, a resume after a reconnect (one upstream call), refused
//! frames, the frame limit (1009), the Origin allow-list (403), the socket cap (503), pings, a
//! reader that stops reading (1013, its stored turn resumable), and the runner process's
//! memory with 200 idle sockets and with stalled readers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use elbatt::testing::ChildServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::TestApp;

use crate::chat::fake_llm::{
    DONE, FakeLlm, REPORTED_MODEL, Script, Step, finish_chunk, role_chunk, text_chunk, usage_chunk,
};

type Ws = WebSocketStream<TcpStream>;

const LIMIT: Duration = Duration::from_secs(15);
const MB: f64 = 1024.0 * 1024.0;

/// Opens `/api/ws` on `addr` with `origin` (none: a non-browser client); the handshake's
/// refusal, if any, as tungstenite reports it.
async fn open(addr: SocketAddr, origin: Option<&str>) -> Result<Ws, WsError> {
    open_on(TcpStream::connect(addr).await.unwrap(), addr, origin).await
}

async fn open_on(stream: TcpStream, addr: SocketAddr, origin: Option<&str>) -> Result<Ws, WsError> {
    let mut req = format!("ws://{addr}/api/ws").into_client_request().unwrap();
    if let Some(origin) = origin {
        req.headers_mut().insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::client_async(req, stream)
        .await
        .map(|(ws, _)| ws)
}

/// A client whose receive buffer is tiny, so that what it does not read backs up on the
/// server at once rather than in megabytes of socket buffers.
async fn open_small_window(addr: SocketAddr) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    open_on(stream, addr, None).await.unwrap()
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON frame (pings and pongs skipped); panics on a close or the end.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame, not an error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }
}

/// How the socket ended: the close frame (code, reason), or `None` if it just went away.
async fn closing(ws: &mut Ws) -> Option<(CloseCode, String)> {
    loop {
        match tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => {
                return frame.map(|CloseFrame { code, reason }| (code, reason.to_string()));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// A `turn` frame, then its events up to `done`/`error`.
async fn turn(ws: &mut Ws) -> (Value, Vec<Value>) {
    let head = next_json(ws).await;
    assert_eq!(head["type"], "turn", "{head}");
    let mut events = Vec::new();
    loop {
        let ev = next_json(ws).await;
        assert_eq!(ev["type"], "event", "{ev}");
        let last = matches!(ev["event"].as_str(), Some("done" | "error"));
        events.push(ev);
        if last {
            return (head, events);
        }
    }
}

fn text_of(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "delta")
        .map(|e| e["data"]["text"].as_str().unwrap().to_owned())
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

const PARTS: &[&str] = &[
    "Batteri",
    "garantien ",
    "er ",
    "normalt ",
    "8 ",
    "år ",
    "eller ",
    "160 000 ",
    "km",
    ".",
];

/// Ten parts 60 ms apart: long enough to leave in the middle of.
fn slow_reply() -> Script {
    let mut steps = vec![Step::Send(role_chunk(REPORTED_MODEL))];
    for p in PARTS {
        steps.push(Step::Wait(Duration::from_millis(60)));
        steps.push(Step::Send(text_chunk(p)));
    }
    steps.push(Step::Send(finish_chunk("stop")));
    steps.push(Step::Send(usage_chunk(40, PARTS.len() as u64)));
    steps.push(Step::Send(DONE.to_owned()));
    Script::sse_steps(steps)
}

/// An answer of `parts` parts of 1,000 characters, `pace` apart: a fast model (a real one
/// streams about 1 KB a second; sent all at once, the answer would sit in the turn's own
/// channel before any socket could push back).
fn long_reply(parts: usize, pace: Duration) -> Script {
    let part = "x".repeat(999) + " ";
    let mut steps = vec![Step::Send(role_chunk(REPORTED_MODEL))];
    for _ in 0..parts {
        steps.push(Step::Wait(pace));
        steps.push(Step::Send(text_chunk(&part)));
    }
    steps.push(Step::Send(finish_chunk("stop")));
    steps.push(Step::Send(usage_chunk(40, parts as u64)));
    steps.push(Step::Send(DONE.to_owned()));
    Script::sse_steps(steps)
}

fn model_env(llm: &FakeLlm) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_API_KEY", "runner-test-key".to_owned()),
        ("OPENAI_BASE_URL", llm.base_url()),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "2".to_owned()),
        ("CHAT_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("CHAT_RATE_LIMIT_BURST", "100000".to_owned()),
    ]
}

async fn app_with(vars: &[(&str, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn(&pairs).await
}

#[tokio::test]
async fn chat_over_the_socket_streams_delta_to_done_with_sequence_numbers() {
    let llm = FakeLlm::start(vec![Script::text_reply(&["Hei ", "på ", "deg."])]).await;
    let app = app_with(&model_env(&llm)).await;
    let mut ws = open(app.server.addr, Some("http://localhost:5173"))
        .await
        .unwrap();
    send(&mut ws, json!({"type": "chat", "message": "Hei"})).await;
    let (head, events) = turn(&mut ws).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["delta", "delta", "delta", "done"]);
    assert_eq!(seqs(&events), [1, 2, 3, 4]);
    assert!(
        events.iter().all(|e| e["turn"] == head["turn"]),
        "{events:?}"
    );
    assert_eq!(text_of(&events), "Hei på deg.");
    let done = &events[3]["data"];
    assert_eq!(done["mode"], "model");
    assert_eq!(done["resumable"], true);
    assert_eq!(done["conversation_id"], head["conversation_id"]);
    assert_eq!(head["resumable"], true);

    // The same socket takes the next turn of the same conversation.
    send(
        &mut ws,
        json!({"type": "chat", "message": "Takk", "conversation_id": head["conversation_id"]}),
    )
    .await;
    let (second, events) = turn(&mut ws).await;
    assert_eq!(second["conversation_id"], head["conversation_id"]);
    assert_ne!(second["turn"], head["turn"]);
    assert_eq!(seqs(&events)[0], 1);
    assert_eq!(llm.calls(), 2);
}

#[tokio::test]
async fn a_reconnect_with_since_seq_gets_the_rest_exactly_once_and_the_model_is_called_once() {
    let llm = FakeLlm::start(vec![slow_reply()]).await;
    let app = app_with(&model_env(&llm)).await;
    let addr = app.server.addr;

    let mut ws = open(addr, None).await.unwrap();
    send(
        &mut ws,
        json!({"type": "chat", "message": "Hvor lenge varer garantien?"}),
    )
    .await;
    let head = next_json(&mut ws).await;
    let k = 3;
    let mut before = Vec::new();
    for _ in 0..k {
        before.push(next_json(&mut ws).await);
    }
    // The phone loses its connection: no close frame, the TCP connection just goes.
    drop(ws);

    let mut ws = open(addr, None).await.unwrap();
    send(
        &mut ws,
        json!({"type": "resume", "conversation_id": head["conversation_id"],
               "turn": head["turn"], "since_seq": k}),
    )
    .await;
    let (again, after) = turn(&mut ws).await;
    assert_eq!(again["turn"], head["turn"]);
    let all: Vec<u64> = seqs(&before).into_iter().chain(seqs(&after)).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "each event exactly once");
    let text = text_of(&before) + &text_of(&after);
    assert_eq!(text, PARTS.concat());
    assert_eq!(after.last().unwrap()["event"], "done");
    assert_eq!(llm.calls(), 1, "no second model call");

    // `since_seq` alone means the conversation's latest turn.
    send(
        &mut ws,
        json!({"type": "resume", "conversation_id": head["conversation_id"], "since_seq": all.len() - 1}),
    )
    .await;
    let (_, tail) = turn(&mut ws).await;
    assert_eq!(seqs(&tail), [all.len() as u64]);
    assert_eq!(llm.calls(), 1);
}

#[tokio::test]
async fn refused_frames_get_an_error_frame_and_the_socket_stays_open() {
    let app = TestApp::spawn(&[]).await;
    let mut ws = open(app.server.addr, None).await.unwrap();
    for (frame, code) in [
        ("{", "bad_json"),
        (r#"{"type":"shout"}"#, "bad_frame"),
        (r#"{"type":"chat","mesage":"typo"}"#, "bad_json"),
        (r#"{"type":"chat","message":"   "}"#, "message_empty"),
        (
            r#"{"type":"resume","conversation_id":"nope","since_seq":1}"#,
            "conversation_not_found",
        ),
        (
            r#"{"type":"resume","conversation_id":"c","since_seq":1,"turn":"x"}"#,
            "bad_since",
        ),
    ] {
        ws.send(Message::Text(frame.into())).await.unwrap();
        let err = next_json(&mut ws).await;
        assert_eq!(err["type"], "error", "{frame}: {err}");
        assert_eq!(err["error"]["code"], code, "{frame}: {err}");
    }
    // Still open: a chat is answered (offline: no key).
    send(
        &mut ws,
        json!({"type": "chat", "message": "Hvor lenge varer batterigarantien?"}),
    )
    .await;
    let (_, events) = turn(&mut ws).await;
    assert_eq!(events.last().unwrap()["data"]["mode"], "offline");
}

#[tokio::test]
async fn each_chat_frame_counts_against_chats_rate_limit() {
    let app = TestApp::spawn(&[
        ("CHAT_RATE_LIMIT_PER_MINUTE", "1"),
        ("CHAT_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let mut ws = open(app.server.addr, None).await.unwrap();
    let ask = json!({"type": "chat", "message": "Hvor lenge varer batterigarantien?"});
    send(&mut ws, ask.clone()).await;
    let (_, events) = turn(&mut ws).await;
    assert_eq!(events.last().unwrap()["event"], "done");
    send(&mut ws, ask).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    assert!(refused["error"]["retry_after_secs"].as_u64().unwrap() >= 1);
    // The same client over HTTP shares the limit.
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(r#"{"message":"Hei"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
}

#[tokio::test]
async fn the_daily_budget_is_chats_own_spent_over_the_socket_and_over_http_alike() {
    // One turn that reports 100,001 tokens spends the whole budget.
    let costly = Script::sse([
        role_chunk(REPORTED_MODEL),
        text_chunk("Hei."),
        finish_chunk("stop"),
        usage_chunk(100_000, 1),
        DONE.to_owned(),
    ]);
    let llm = FakeLlm::start(vec![costly]).await;
    let mut vars = model_env(&llm);
    vars.push(("CHAT_DAILY_TOKEN_BUDGET", "50000".to_owned()));
    let app = app_with(&vars).await;
    let mut ws = open(app.server.addr, None).await.unwrap();
    let ask = json!({"type": "chat", "message": "Hvor lenge varer batterigarantien?"});
    send(&mut ws, ask.clone()).await;
    let (_, events) = turn(&mut ws).await;
    assert_eq!(events.last().unwrap()["data"]["mode"], "model");
    send(&mut ws, ask).await;
    let (_, events) = turn(&mut ws).await;
    let done = &events.last().unwrap()["data"];
    assert_eq!(done["mode"], "offline", "{done}");
    assert_eq!(done["offline_reason"], "budget_spent", "{done}");
    // `/chat` meets the same spent budget.
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(r#"{"message":"Hei"}"#)
        .send()
        .await
        .unwrap();
    let body = crate::helpers::json_of(resp).await;
    assert_eq!(body["offline_reason"], "budget_spent", "{body}");
    assert_eq!(llm.calls(), 1);
}

#[tokio::test]
async fn a_second_chat_during_a_turn_is_refused_and_the_turn_goes_on() {
    let llm = FakeLlm::start(vec![slow_reply()]).await;
    let app = app_with(&model_env(&llm)).await;
    let mut ws = open(app.server.addr, None).await.unwrap();
    send(&mut ws, json!({"type": "chat", "message": "Hei"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "turn");
    send(&mut ws, json!({"type": "chat", "message": "Hei igjen"})).await;
    let mut refused = false;
    let mut events = Vec::new();
    loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" {
            assert_eq!(f["error"]["code"], "turn_in_progress");
            refused = true;
            continue;
        }
        let last = f["event"] == "done";
        events.push(f);
        if last {
            break;
        }
    }
    assert!(refused);
    assert_eq!(text_of(&events), PARTS.concat());
    assert_eq!(llm.calls(), 1);
}

#[tokio::test]
async fn an_oversized_frame_is_closed_with_1009_and_a_binary_one_with_1003() {
    let app = TestApp::spawn(&[("CHAT_MAX_BODY_BYTES", "1024")]).await;
    let mut ws = open(app.server.addr, None).await.unwrap();
    let big = json!({"type": "chat", "message": "x".repeat(2000)}).to_string();
    ws.send(Message::Text(big.into())).await.unwrap();
    let (code, reason) = closing(&mut ws).await.expect("a close frame");
    assert_eq!(code, CloseCode::Size);
    assert!(reason.contains("1024"), "{reason}");

    let mut ws = open(app.server.addr, None).await.unwrap();
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        closing(&mut ws).await.map(|c| c.0),
        Some(CloseCode::Unsupported)
    );
}

#[tokio::test]
async fn an_origin_not_allowed_is_403_before_the_upgrade() {
    let app = TestApp::spawn(&[("ALLOWED_ORIGINS", "https://elbatt.no")]).await;
    let addr = app.server.addr;
    match open(addr, Some("https://evil.example")).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "origin_not_allowed");
        }
        other => panic!("expected 403, got {:?}", other.map(|_| "an open socket")),
    }
    for origin in [
        Some("https://elbatt.no"),
        Some("http://localhost:8080"),
        None,
    ] {
        assert!(open(addr, origin).await.is_ok(), "{origin:?}");
    }
    // A plain GET is told to upgrade.
    let resp = app.get("/api/ws").await;
    assert_eq!(resp.status(), 426);
    assert_eq!(resp.headers()["sec-websocket-version"], "13");
}

#[tokio::test]
async fn over_the_socket_cap_the_upgrade_is_503_until_one_closes() {
    let app = TestApp::spawn(&[("WS_MAX_SOCKETS", "2")]).await;
    let addr = app.server.addr;
    let mut a = open(addr, None).await.unwrap();
    let _b = open(addr, None).await.unwrap();
    match open(addr, None).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 503);
            assert!(resp.headers().contains_key("retry-after"));
        }
        other => panic!("expected 503, got {:?}", other.map(|_| "an open socket")),
    }
    a.close(None).await.unwrap();
    let _ = closing(&mut a).await;
    // The place frees when the closed socket's task ends.
    let started = Instant::now();
    loop {
        match open(addr, None).await {
            Ok(_) => break,
            Err(_) if started.elapsed() < LIMIT => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("still refused: {e}"),
        }
    }
}

#[tokio::test]
async fn a_peer_that_does_not_answer_pings_is_closed() {
    const PING: Duration = Duration::from_secs(1);
    let app = TestApp::spawn(&[("WS_PING_SECS", "1")]).await;
    let mut quiet = QuietPeer::open(app.server.addr).await;
    let mut lively = open(app.server.addr, None).await.unwrap();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    // `lively` reads (tungstenite answers each ping as it reads) until told to stop.
    let reading = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => return true,
                msg = lively.next() => match msg {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                    Some(Ok(_)) => {}
                },
            }
        }
    });
    // `quiet` never writes a byte, however slowly this machine runs: no timing to win.
    let (pings, code) = tokio::time::timeout(LIMIT, quiet.until_closed())
        .await
        .expect("the quiet peer is closed");
    assert!(pings >= 1, "pinged before closing");
    assert_eq!(code, Some(u16::from(CloseCode::Away)));
    // The lively peer has been open as long, and stays open a whole ping period more.
    tokio::time::sleep(PING).await;
    let _ = stop.send(());
    assert!(reading.await.unwrap(), "a peer that answers stays open");
}

/// A WebSocket client on a bare TCP stream that never sends anything after its handshake (so
/// never a pong): it only reads the server's frames.
struct QuietPeer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl QuietPeer {
    async fn open(addr: SocketAddr) -> QuietPeer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let handshake = format!(
            "GET /api/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(handshake.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert!(
            buf.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.drain(..head_end);
        QuietPeer { stream, buf }
    }

    /// Reads (unmasked, unfragmented) server frames until a close frame or the end of the
    /// stream: how many pings came first, and the close code.
    async fn until_closed(&mut self) -> (usize, Option<u16>) {
        use tokio::io::AsyncReadExt;
        let mut pings = 0;
        loop {
            // A server's control frames are short: a 2-byte header and at most 125 bytes.
            if self.buf.len() >= 2 {
                let (opcode, len) = (self.buf[0] & 0x0f, usize::from(self.buf[1] & 0x7f));
                assert!(len < 126, "an unexpected long frame (opcode {opcode})");
                if self.buf.len() >= 2 + len {
                    let payload: Vec<u8> = self.buf.drain(..2 + len).skip(2).collect();
                    match opcode {
                        0x9 => pings += 1,
                        0x8 => {
                            let code = (payload.len() >= 2)
                                .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                            return (pings, code);
                        }
                        other => panic!("unexpected frame, opcode {other}"),
                    }
                    continue;
                }
            }
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return (pings, None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

#[tokio::test]
async fn a_reader_that_stops_is_closed_with_1013_and_its_stored_turn_is_completed_and_resumable() {
    let parts = 3400; // 3.4 MB of text at about 1 MB a second: more than socket buffers take
    let llm = FakeLlm::start(vec![long_reply(parts, Duration::from_millis(1))]).await;
    let mut vars = model_env(&llm);
    vars.push(("WS_SEND_BUFFER_BYTES", "65536".to_owned()));
    // Every event kept, so that the whole turn can be resumed.
    vars.push(("CHAT_RESUME_MAX_BYTES", "16777216".to_owned()));
    vars.push(("CHAT_RESUME_MAX_EVENTS", "10000".to_owned()));
    let app = app_with(&vars).await;
    let addr = app.server.addr;
    let mut ws = open_small_window(addr).await;
    send(&mut ws, json!({"type": "chat", "message": "Fortell alt"})).await;
    let head = next_json(&mut ws).await;
    // Read nothing until the turn has been stored whole (however long a loaded machine takes):
    // by then the server either gave up on us or holds the whole answer for us.
    let id = head["conversation_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + LIMIT;
    loop {
        let resp = app.get(&format!("/conversations/{id}")).await;
        if resp.status() == 200 {
            let stored = crate::helpers::json_of(resp).await;
            if stored["messages"].as_array().is_some_and(|m| m.len() == 2) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the turn was never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = Vec::new();
    let end = loop {
        match tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("ends in time")
        {
            Some(Ok(Message::Text(t))) => {
                seen.push(serde_json::from_str::<Value>(t.as_str()).unwrap())
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    eprintln!(
        "websocket: stalled reader saw {} frames then {end:?}",
        seen.len()
    );
    assert!(
        end.is_none() || end == Some(CloseCode::Again),
        "closed with {end:?}"
    );
    assert!(
        seen.len() < parts,
        "the server did not buffer the whole answer for us"
    );
    assert!(!seen.iter().any(|e| e["event"] == "done"));

    // The turn went on without us: resume from what we saw.
    let k = seen.last().map_or(0, |e| e["seq"].as_u64().unwrap());
    assert_eq!(seqs(&seen), (1..=k).collect::<Vec<_>>());
    let mut ws = open(addr, None).await.unwrap();
    send(
        &mut ws,
        json!({"type": "resume", "conversation_id": head["conversation_id"], "turn": head["turn"], "since_seq": k}),
    )
    .await;
    let (_, rest) = turn(&mut ws).await;
    assert_eq!(rest[0]["seq"].as_u64(), Some(k + 1));
    assert_eq!(rest.last().unwrap()["event"], "done");
    let text = text_of(&seen) + &text_of(&rest);
    assert_eq!(text.len(), parts * 1000);
    assert_eq!(llm.calls(), 1);
    let id = head["conversation_id"].as_str().unwrap();
    let stored = crate::helpers::json_of(app.get(&format!("/conversations/{id}")).await).await;
    let messages = stored["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap()["content"].as_str().unwrap().len(),
        parts * 1000
    );
}

/// A process's resident memory in bytes (Linux).
fn rss_bytes(pid: u32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The runner binary as its own process, so that its memory is measured alone.
async fn runner_process(name: &str, vars: &[(&str, String)]) -> (ChildServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("elbatt-ws-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"));
    cmd.env_clear()
        .env("CHAT_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("CHAT_RATE_LIMIT_BURST", "1000000")
        .env("STORE", "memory")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(&dir);
    (ChildServer::start(cmd).await, dir)
}

/// Measured by this test (debug build): 9.5–9.7 KiB per idle socket (docs/websocket.md#memory).
/// At SIGTERM an open socket hears 1012 and the runner still exits cleanly.
#[tokio::test]
async fn two_hundred_idle_sockets_are_all_served_and_each_costs_little_memory() {
    const N: usize = 200;
    let (server, dir) = runner_process("idle", &[]).await;
    let (addr, pid) = (server.addr, server.child.id().unwrap());
    // Warm-up: a few sockets opened and closed, so that what is built once is built. Not N of
    // them: the allocator would keep their memory and lend it to the N measured below.
    let mut warm = Vec::new();
    for _ in 0..4 {
        warm.push(open(addr, None).await.unwrap());
    }
    for mut ws in warm {
        ws.close(None).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Some(before) = rss_bytes(pid) else {
        return; // not Linux: nothing to measure
    };
    let mut sockets = Vec::new();
    for _ in 0..N {
        sockets.push(open(addr, None).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_bytes(pid).unwrap();
    let per = after.saturating_sub(before) / N;
    eprintln!(
        "websocket: {N} idle sockets: RSS {:.1} → {:.1} MB, {:.1} KiB per socket",
        before as f64 / MB,
        after as f64 / MB,
        per as f64 / 1024.0
    );
    // Measured: 9.5–9.7 KiB (14 KiB while sockets still held hyper's read buffer).
    // tungstenite's default read buffer alone (128 KiB) would fail it.
    assert!(per < 48 * 1024, "{per} bytes per idle socket");
    // All served: every socket gets its answer (offline FAQ: no key).
    let answers = sockets.iter_mut().map(|ws| async move {
        send(
            ws,
            json!({"type": "chat", "message": "Hvor lenge varer batterigarantien?"}),
        )
        .await;
        let (_, events) = turn(ws).await;
        events.last().unwrap()["event"] == "done"
    });
    let done = futures_util::future::join_all(answers).await;
    assert!(done.iter().all(|d| *d), "every socket answered");
    // SIGTERM: every open socket is told (1012) and the runner exits within its grace period.
    let mut last = sockets.pop().unwrap();
    drop(sockets);
    let (ended, (status, log)) = tokio::join!(closing(&mut last), server.terminate());
    assert_eq!(ended.map(|c| c.0), Some(CloseCode::Restart));
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Readers that stop reading while long answers stream: each costs the runner about its send
/// buffer, not the answer, and is closed; readers that keep up with the same answers are
/// measured after them for comparison.
///
/// The runner caps each socket's kernel send buffer (32 KiB), so the outbox's bound is what
/// a stalled reader meets. A turn keeps its own text as it streams (to store it), so
/// both rounds pay for that; the difference is the socket's.
#[tokio::test]
async fn stalled_readers_cost_the_runner_at_most_their_send_buffers() {
    const N: usize = 10;
    const PARTS: usize = 3000; // 3 MB per answer at about 1 MB a second (chat takes up to 4 MiB)
    const SEND_BUFFER: usize = 262_144;
    let llm = FakeLlm::start(vec![long_reply(PARTS, Duration::from_millis(1))]).await;
    let mut vars = model_env(&llm);
    vars.push(("WS_SEND_BUFFER_BYTES", SEND_BUFFER.to_string()));
    // Stateless: a stored turn would keep its answer in the in-memory store, which is not the
    // socket's memory either.
    vars.push(("STORE", "off".to_owned()));
    let (server, dir) = runner_process("stall", &vars).await;
    let (addr, pid) = (server.addr, server.child.id().unwrap());
    let Some(start) = rss_bytes(pid) else {
        return; // not Linux: nothing to measure
    };
    let sample = |until: Instant| async move {
        let mut peak = 0;
        while Instant::now() < until {
            peak = peak.max(rss_bytes(pid).unwrap());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        peak
    };

    // Warm-up: one short answer read to the end.
    let mut ws = open(addr, None).await.unwrap();
    send(&mut ws, json!({"type": "chat", "message": "Hei"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "turn");
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes(pid).unwrap();

    // Round 1: N readers that read nothing.
    let mut stalled = Vec::new();
    for _ in 0..N {
        let mut ws = open_small_window(addr).await;
        send(&mut ws, json!({"type": "chat", "message": "Fortell alt"})).await;
        stalled.push(ws);
    }
    let stalled_peak = sample(Instant::now() + Duration::from_secs(6)).await;
    let per_stalled = stalled_peak.saturating_sub(before) / N;

    // Round 2, for comparison: N readers that keep up with the same answers.
    let readers = (0..N).map(|_| async move {
        let mut ws = open(addr, None).await.unwrap();
        send(&mut ws, json!({"type": "chat", "message": "Fortell alt"})).await;
        let (_, events) = turn(&mut ws).await;
        text_of(&events).len()
    });
    let round = futures_util::future::join_all(readers);
    let settled = rss_bytes(pid).unwrap();
    let (lengths, reading_peak) =
        tokio::join!(round, sample(Instant::now() + Duration::from_secs(8)));
    assert!(lengths.iter().all(|l| *l == PARTS * 1000), "{lengths:?}");
    eprintln!(
        "websocket: RSS {:.1} MB at start, {:.1} MB before; {N} stalled readers of 3 MB answers: \
         peak {:.1} MB = {:.0} KiB per stalled reader; then {N} readers keeping up: {:.1} → \
         peak {:.1} MB = {:.0} KiB per reader (the turn's own text)",
        start as f64 / MB,
        before as f64 / MB,
        stalled_peak as f64 / MB,
        per_stalled as f64 / 1024.0,
        settled as f64 / MB,
        reading_peak as f64 / MB,
        reading_peak.saturating_sub(settled) as f64 / 1024.0 / N as f64,
    );
    for mut ws in stalled {
        let mut frames = 0usize;
        let end = loop {
            match tokio::time::timeout(LIMIT, ws.next())
                .await
                .expect("ends in time")
            {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
                Some(Ok(Message::Text(t))) => {
                    assert!(
                        !t.as_str().contains(r#""event":"done""#),
                        "got the whole answer"
                    );
                    frames += 1;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            }
        };
        eprintln!("websocket: a stalled reader got {frames} frames, then {end:?}");
        assert!(end.is_none() || end == Some(CloseCode::Again), "{end:?}");
        assert!(frames < PARTS, "{frames} frames");
    }
    // Measured: 0.9 MB per stalled reader (outbox 256 KiB, the turn until it is cut, the
    // allocator). Buffering the unread answer would take 6 MB per reader (events and text).
    assert!(
        per_stalled < 2 * 1024 * 1024,
        "{per_stalled} bytes per stalled reader"
    );
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
