//! Faults: a misbehaving upstream in front of plate lookup (Statens vegvesen) and chat (the
//! model), through the runner. The upstream is raw TCP so it can misbehave the way no HTTP
//! library would: refuse, accept and hang, drip bytes, answer 5xx/429, send garbage, truncated
//! or 50 MB bodies, the wrong content type, or cut a stream mid-event.
//!
//! For each fault: the documented status (plate lookup, docs/api.md#plate-lookup) or behaviour
//! (chat: before any text the turn is answered offline, `provider_failed`; after text, an SSE
//! `error` event), a bounded total time, no panic on the test's thread (where the runner's
//! tasks run), and `/health` still answering afterwards. Timeouts are shortened through the
//! environment so every case ends in seconds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use elbatt::testing::vegvesen_fixture;
use futures_util::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::TestApp;

const MB: usize = 1024 * 1024;

/// What the misbehaving upstream does with each connection.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Accepts and never reads or answers.
    Hang,
    /// Reads the request, sends these bytes (a response, or part of one), then closes.
    Send(Vec<u8>),
    /// Reads the request, sends `head` at once, then `body` one byte every 100 ms.
    Drip { head: Vec<u8>, body: Vec<u8> },
    /// Reads the request, sends `head`, then `total` bytes of `pattern` repeated, in 64 KiB
    /// writes (never allocated at once), then closes.
    Flood {
        head: Vec<u8>,
        pattern: Vec<u8>,
        total: usize,
    },
}

/// A full response: status, headers, `content-length`, `connection: close`, body.
pub(crate) fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = head(status, headers);
    // `head` ended the header block; reopen it to add the length.
    out.truncate(out.len() - 2);
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A response head with `connection: close`; without `content-length` the body runs to the
/// close.
pub(crate) fn head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Fault\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A raw-TCP upstream that misbehaves in one way, on every connection.
#[derive(Debug)]
pub(crate) struct BadUpstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Body bytes a `Flood` got into the socket before its client stopped taking them.
    flooded: Arc<AtomicUsize>,
    /// For [`BadUpstream::refused`]: the port held bound (the cases run concurrently).
    _refused: Option<elbatt::testing::RefusedPort>,
}

impl BadUpstream {
    pub(crate) async fn start(fault: Fault) -> BadUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let flooded = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        let sent = Arc::clone(&flooded);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(misbehave(stream, fault.clone(), Arc::clone(&sent)));
            }
        });
        BadUpstream {
            addr,
            connections,
            flooded,
            _refused: None,
        }
    }

    /// An address where nothing listens: connections are refused.
    pub(crate) fn refused() -> BadUpstream {
        let refused = elbatt::testing::RefusedPort::bind();
        BadUpstream {
            addr: refused.addr,
            connections: Arc::new(AtomicUsize::new(0)),
            flooded: Arc::new(AtomicUsize::new(0)),
            _refused: Some(refused),
        }
    }

    /// How many connections it accepted (each client attempt opens one: every answer closes).
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn vegvesen_endpoint(&self) -> String {
        format!("http://{}/enkeltoppslag/kjoretoydata", self.addr)
    }

    fn llm_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

async fn misbehave(mut stream: TcpStream, fault: Fault, flooded: Arc<AtomicUsize>) {
    if matches!(fault, Fault::Hang) {
        // Hold the connection open, unread, until the runtime ends.
        std::future::pending::<()>().await;
    }
    if read_request(&mut stream).await.is_err() {
        return;
    }
    // Write errors mean the client gave up, which is what it should do.
    let _ = match fault {
        Fault::Hang => Ok(()),
        Fault::Send(bytes) => stream.write_all(&bytes).await,
        Fault::Drip { head, body } => drip(&mut stream, &head, &body).await,
        Fault::Flood {
            head,
            pattern,
            total,
        } => flood(&mut stream, &head, &pattern, total, &flooded).await,
    };
    let _ = stream.shutdown().await;
}

async fn drip(stream: &mut TcpStream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    stream.write_all(head).await?;
    for byte in body {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(std::slice::from_ref(byte)).await?;
    }
    Ok(())
}

async fn flood(
    stream: &mut TcpStream,
    head: &[u8],
    pattern: &[u8],
    total: usize,
    flooded: &AtomicUsize,
) -> std::io::Result<()> {
    stream.write_all(head).await?;
    let copies = (64 * 1024 / pattern.len()).max(1);
    let block = pattern.repeat(copies);
    let mut sent = 0;
    while sent < total {
        let n = block.len().min(total - sent);
        stream.write_all(&block[..n]).await?;
        flooded.fetch_add(n, Ordering::SeqCst);
        sent += n;
    }
    Ok(())
}

/// Reads one request: the head, then as many body bytes as `content-length` says.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Ok(())
}

/// Panics seen per thread name. `#[tokio::test]` runs the runtime, and so the runner's tasks,
/// on the test's own thread, which is named after the test: a panic in the server while a
/// test runs is counted under that test's name even though tokio catches it.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

pub(crate) fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            PANICS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(name);
            previous(info);
        }));
    });
}

/// Panics so far on this test's thread.
pub(crate) fn panics_here() -> usize {
    let me = std::thread::current().name().unwrap_or("").to_owned();
    PANICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|n| **n == me)
        .count()
}

/// `/health` answers 200 quickly.
pub(crate) async fn assert_healthy(app: &TestApp, case: &str) {
    let resp = tokio::time::timeout(Duration::from_secs(2), app.get("/health"))
        .await
        .unwrap_or_else(|_| panic!("{case}: /health did not answer within 2 s"));
    assert_eq!(resp.status(), 200, "{case}: /health");
}

// ---- plate lookup ----------------------------------------------------------------------------

/// One plate-lookup fault and what docs/api.md#plate-lookup says must come of it.
struct PlateCase {
    name: &'static str,
    fault: Option<Fault>,
    status: u16,
    code: &'static str,
    retry_after: Option<&'static str>,
    /// Client attempts the upstream must see (`None`: not checked).
    attempts: Option<usize>,
    within: Duration,
}

impl PlateCase {
    fn new(name: &'static str, fault: Option<Fault>, status: u16, code: &'static str) -> Self {
        PlateCase {
            name,
            fault,
            status,
            code,
            retry_after: None,
            attempts: None,
            within: Duration::from_secs(3),
        }
    }
    fn attempts(mut self, n: usize) -> Self {
        self.attempts = Some(n);
        self
    }
    fn retry_after(mut self, v: &'static str) -> Self {
        self.retry_after = Some(v);
        self
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn plate_cases() -> Vec<PlateCase> {
    let fixture = vegvesen_fixture("bev-kia-niro-ec47213.json");
    let json_head = head(200, &[JSON]);
    vec![
        // Failed connections are retried twice (jittered backoff from 200 ms), then 502.
        PlateCase::new("connection refused", None, 502, "upstream_error"),
        // A timeout uses up the attempt's budget and is not retried.
        PlateCase::new(
            "accept then hang",
            Some(Fault::Hang),
            504,
            "upstream_timeout",
        )
        .attempts(1),
        PlateCase::new(
            "slow drip",
            Some(Fault::Drip {
                head: [json_head.clone(), b"{\"kjoretoydataListe\":[".to_vec()].concat(),
                body: fixture.as_bytes()[..64].to_vec(),
            }),
            504,
            "upstream_timeout",
        )
        .attempts(1),
        PlateCase::new(
            "500",
            Some(Fault::Send(response(500, &[], b"oops"))),
            502,
            "upstream_error",
        )
        .attempts(3),
        PlateCase::new(
            "502",
            Some(Fault::Send(response(
                502,
                &[("content-type", "text/html")],
                b"<html>Bad Gateway</html>",
            ))),
            502,
            "upstream_error",
        )
        .attempts(3),
        PlateCase::new(
            "503",
            Some(Fault::Send(response(503, &[], b""))),
            502,
            "upstream_error",
        )
        .attempts(3),
        PlateCase::new(
            "429 with retry-after",
            Some(Fault::Send(response(429, &[("retry-after", "3600")], b""))),
            503,
            "upstream_quota",
        )
        .retry_after("3600")
        .attempts(1),
        PlateCase::new(
            "429 without retry-after",
            Some(Fault::Send(response(429, &[], b""))),
            503,
            "upstream_quota",
        )
        .attempts(1),
        PlateCase::new(
            "garbage JSON",
            Some(Fault::Send(response(
                200,
                &[JSON],
                b"{\"kjoretoydataListe\": [}}}",
            ))),
            502,
            "upstream_error",
        )
        .attempts(1),
        PlateCase::new(
            "truncated JSON",
            Some(Fault::Send(response(
                200,
                &[JSON],
                &fixture.as_bytes()[..fixture.len() / 2],
            ))),
            502,
            "upstream_error",
        )
        .attempts(1),
        PlateCase::new(
            "body cut before its content-length",
            Some(Fault::Send(
                [
                    head(200, &[JSON, ("content-length", &fixture.len().to_string())]),
                    fixture.as_bytes()[..1000].to_vec(),
                ]
                .concat(),
            )),
            502,
            "upstream_error",
        )
        .attempts(3),
        PlateCase::new(
            "50 MB body, length declared",
            Some(Fault::Flood {
                head: head(200, &[JSON, ("content-length", &(50 * MB).to_string())]),
                pattern: b" ".to_vec(),
                total: 50 * MB,
            }),
            502,
            "upstream_error",
        )
        .attempts(1),
        PlateCase::new(
            "50 MB body, length undeclared",
            Some(Fault::Flood {
                head: json_head,
                pattern: b" ".to_vec(),
                total: 50 * MB,
            }),
            502,
            "upstream_error",
        )
        .attempts(1),
        PlateCase::new(
            "wrong content type (an HTML error page)",
            Some(Fault::Send(response(
                200,
                &[("content-type", "text/html; charset=utf-8")],
                b"<!doctype html><html><body><h1>Service Unavailable</h1></body></html>",
            ))),
            502,
            "upstream_error",
        )
        .attempts(1),
    ]
}

async fn run_plate_case(case: PlateCase) -> Result<(), String> {
    let upstream = match &case.fault {
        None => BadUpstream::refused(),
        Some(fault) => BadUpstream::start(fault.clone()).await,
    };
    let endpoint = upstream.vegvesen_endpoint();
    let app = TestApp::spawn(&[
        ("VEGVESEN_API_KEY", "k"),
        ("VEGVESEN_ENDPOINT", &endpoint),
        ("VEGVESEN_TIMEOUT_SECS", "0.5"),
    ])
    .await;
    let name = case.name;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        case.within + Duration::from_secs(5),
        app.get("/plate-lookup/EC47213"),
    )
    .await
    .map_err(|_| format!("{name}: no answer at all"))?;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = serde_json::from_str(&resp.text().await.unwrap())
        .map_err(|e| format!("{name}: the error body is not JSON: {e}"))?;
    let mut problems = Vec::new();
    if status != case.status {
        problems.push(format!("status {status}, want {}", case.status));
    }
    if body["error"]["code"] != case.code {
        problems.push(format!("body {body}, want code {}", case.code));
    }
    if retry_after.as_deref() != case.retry_after {
        problems.push(format!(
            "retry-after {retry_after:?}, want {:?}",
            case.retry_after
        ));
    }
    if elapsed > case.within {
        problems.push(format!("took {elapsed:?}, limit {:?}", case.within));
    }
    if let Some(n) = case.attempts {
        if upstream.connections() != n {
            problems.push(format!(
                "{} upstream attempts, want {n}",
                upstream.connections()
            ));
        }
    }
    let message = body["error"]["message"].as_str().unwrap_or_default();
    if message.contains("oops") || message.contains("html") {
        problems.push(format!("upstream text passed on: {message}"));
    }
    assert_healthy(&app, name).await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} ({elapsed:?}): {}", problems.join("; ")))
    }
}

#[tokio::test]
async fn plate_lookup_answers_each_upstream_fault_with_its_documented_status_in_bounded_time() {
    watch_panics();
    let started = Instant::now();
    let results = join_all(plate_cases().into_iter().map(run_plate_case)).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(panics_here(), 0, "the runner panicked");
}

// ---- chat ------------------------------------------------------------------------------------

/// The runner with a model at `upstream` and every chat timeout shortened.
async fn chat_app(upstream: &BadUpstream) -> TestApp {
    chat_app_with_turn(upstream, "3").await
}

/// [`chat_app`] with a turn budget of `turn_secs`.
async fn chat_app_with_turn(upstream: &BadUpstream, turn_secs: &str) -> TestApp {
    let base = upstream.llm_base_url();
    TestApp::spawn(&[
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_BASE_URL", &base),
        ("LLM_CONNECT_TIMEOUT_SECS", "0.5"),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "0.5"),
        ("LLM_IDLE_TIMEOUT_SECS", "0.5"),
        ("LLM_RETRY_MAX_DELAY_SECS", "0.1"),
        ("CHAT_TURN_TIMEOUT_SECS", turn_secs),
    ])
    .await
}

const SSE: (&str, &str) = ("content-type", "text/event-stream");

/// One SSE event carrying a text delta, as OpenAI sends it.
fn delta_event(text: &str) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    format!("data: {chunk}\n\n")
}

/// One chat fault that strikes before any text: the turn must be answered offline.
struct OfflineCase {
    name: &'static str,
    fault: Option<Fault>,
    attempts: Option<usize>,
    within: Duration,
}

fn offline_case(name: &'static str, fault: Option<Fault>, attempts: Option<usize>) -> OfflineCase {
    OfflineCase {
        name,
        fault,
        attempts,
        within: Duration::from_secs(3),
    }
}

fn offline_cases() -> Vec<OfflineCase> {
    let json = head(200, &[JSON]);
    vec![
        offline_case("connection refused", None, Some(0)),
        // No first token within 0.5 s: not retried (it already used the first-token budget).
        offline_case("accept then hang", Some(Fault::Hang), Some(1)),
        offline_case(
            "slow drip",
            Some(Fault::Drip {
                head: head(200, &[SSE]),
                body: delta_event("Hei").into_bytes(),
            }),
            Some(1),
        ),
        // 500, 502, 503 and 429 are retried (LLM_MAX_RETRIES = 2), then offline.
        offline_case(
            "500",
            Some(Fault::Send(response(500, &[JSON], br#"{"error":{"message":"boom","type":"server_error"}}"#))),
            Some(3),
        ),
        offline_case(
            "502",
            Some(Fault::Send(response(502, &[("content-type", "text/html")], b"<html>Bad Gateway</html>"))),
            Some(3),
        ),
        offline_case("503", Some(Fault::Send(response(503, &[], b""))), Some(3)),
        // A 30 s retry-after is capped by LLM_RETRY_MAX_DELAY_SECS: the turn stays quick.
        offline_case(
            "429 with retry-after",
            Some(Fault::Send(response(
                429,
                &[JSON, ("retry-after", "30")],
                br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
            ))),
            Some(3),
        ),
        offline_case(
            "429 without retry-after",
            Some(Fault::Send(response(
                429,
                &[JSON],
                br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
            ))),
            Some(3),
        ),
        offline_case(
            "garbage JSON",
            Some(Fault::Send(response(200, &[JSON], b"{\"choices\": [}}}"))),
            None,
        ),
        offline_case(
            "truncated JSON",
            Some(Fault::Send(response(
                200,
                &[JSON],
                br#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis"#,
            ))),
            None,
        ),
        // Cut at 4 MiB, or at one 64 KiB line: too large is not retried.
        offline_case(
            "50 MB JSON body",
            Some(Fault::Flood {
                head: json,
                pattern: b" ".to_vec(),
                total: 50 * MB,
            }),
            Some(1),
        ),
        offline_case(
            "50 MB event stream without a line break",
            Some(Fault::Flood {
                head: [head(200, &[SSE]), b"data: ".to_vec()].concat(),
                pattern: b"a".to_vec(),
                total: 50 * MB,
            }),
            Some(1),
        ),
        offline_case(
            "wrong content type (an HTML page)",
            Some(Fault::Send(response(
                200,
                &[("content-type", "text/html")],
                b"<!doctype html><html><body>Service Unavailable</body></html>",
            ))),
            None,
        ),
        // Cut mid-event before any text: a truncated stream is retried, then offline.
        offline_case(
            "stream cut mid-event before any text",
            Some(Fault::Send(
                [head(200, &[SSE]), b"data: {\"choices\":[{\"index\":0,\"del".to_vec()].concat(),
            )),
            Some(3),
        ),
    ]
}

async fn run_offline_case(case: OfflineCase) -> Result<(), String> {
    let upstream = match &case.fault {
        None => BadUpstream::refused(),
        Some(fault) => BadUpstream::start(fault.clone()).await,
    };
    let app = chat_app(&upstream).await;
    let name = case.name;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        case.within + Duration::from_secs(5),
        app.client
            .post(app.url("/chat"))
            .header("content-type", "application/json")
            .body(r#"{"message":"Hvor lenge varer batterigarantien?","stream":false}"#)
            .send(),
    )
    .await
    .map_err(|_| format!("{name}: no answer at all"))?
    .map_err(|e| format!("{name}: {e}"))?;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body: Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON ({e}): {text}"))?;
    let mut problems = Vec::new();
    if status != 200 || body["mode"] != "offline" || body["offline_reason"] != "provider_failed" {
        problems.push(format!("{status} {body}, want 200 offline/provider_failed"));
    }
    if body["reply"].as_str().is_none_or(str::is_empty) {
        problems.push("an empty offline reply".to_owned());
    }
    if elapsed > case.within {
        problems.push(format!("took {elapsed:?}, limit {:?}", case.within));
    }
    if let Some(n) = case.attempts {
        if upstream.connections() != n {
            problems.push(format!(
                "{} upstream attempts, want {n}",
                upstream.connections()
            ));
        }
    }
    assert_healthy(&app, name).await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} ({elapsed:?}): {}", problems.join("; ")))
    }
}

#[tokio::test]
async fn chat_answers_offline_when_the_model_fails_before_any_text() {
    watch_panics();
    let started = Instant::now();
    let results = join_all(offline_cases().into_iter().map(run_offline_case)).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(panics_here(), 0, "the runner panicked");
}

/// The events of an SSE body as (name, data JSON).
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

/// Streams one turn whose model sends "Hei" and then misbehaves; returns the events.
async fn stream_after_text(fault: Fault) -> (Vec<(String, Value)>, Duration, usize) {
    let upstream = BadUpstream::start(fault).await;
    let app = chat_app(&upstream).await;
    stream_after_text_on(&app, &upstream).await
}

async fn stream_after_text_on(
    app: &TestApp,
    upstream: &BadUpstream,
) -> (Vec<(String, Value)>, Duration, usize) {
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(8),
        app.client
            .post(app.url("/chat"))
            .header("content-type", "application/json")
            .body(r#"{"message":"Hei","stream":true}"#)
            .send(),
    )
    .await
    .expect("an answer")
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(8), resp.text())
        .await
        .expect("the stream ends")
        .unwrap();
    let elapsed = started.elapsed();
    assert_healthy(app, "after text").await;
    (sse_events(&body), elapsed, upstream.connections())
}

fn assert_text_then_error(events: &[(String, Value)], code: &str) {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"delta"), "{names:?}");
    assert_eq!(events[0].1["text"], "Hei");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error", "{names:?}");
    assert_eq!(data["error"]["code"], code, "{data}");
    assert!(!names.contains(&"done"), "{names:?}");
}

#[tokio::test]
async fn a_stream_cut_mid_event_after_text_ends_with_an_sse_error_event() {
    watch_panics();
    let cut = [
        head(200, &[SSE]),
        delta_event("Hei").into_bytes(),
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" der".to_vec(),
    ]
    .concat();
    let (events, elapsed, attempts) = stream_after_text(Fault::Send(cut)).await;
    assert_text_then_error(&events, "upstream_error");
    // Nothing is retried once text has reached the user.
    assert_eq!(attempts, 1);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn a_stream_that_stalls_after_text_ends_with_a_timeout_error_event() {
    watch_panics();
    let stall = Fault::Drip {
        head: [head(200, &[SSE]), delta_event("Hei").into_bytes()].concat(),
        // Far more than the 0.5 s idle timeout at one byte per 100 ms.
        body: delta_event(" der").into_bytes(),
    };
    let (events, elapsed, attempts) = stream_after_text(stall).await;
    assert_text_then_error(&events, "upstream_timeout");
    assert_eq!(attempts, 1);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn an_offline_answer_with_a_plate_survives_a_hanging_register() {
    watch_panics();
    // No model (offline mode) and a register that never answers: the plate in the message is
    // looked up, times out, and the answer says so instead of waiting.
    let register = BadUpstream::start(Fault::Hang).await;
    let endpoint = register.vegvesen_endpoint();
    let app = TestApp::spawn(&[
        ("VEGVESEN_API_KEY", "k"),
        ("VEGVESEN_ENDPOINT", &endpoint),
        ("VEGVESEN_TIMEOUT_SECS", "0.5"),
    ])
    .await;
    let started = Instant::now();
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(r#"{"message":"Hva er rekkevidden til EC 47213?"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(body["mode"], "offline");
    assert_eq!(
        body["vehicles"][0]["error"]["code"], "upstream_timeout",
        "{body}"
    );
    assert!(
        body["reply"].as_str().unwrap().contains("EC 47213"),
        "the answer says the lookup failed: {body}"
    );
    assert_healthy(&app, "hanging register").await;
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn a_flood_of_events_after_text_is_cut_off_with_an_sse_error_event() {
    watch_panics();
    // What may be sent before the cut: the 4 MiB cap on a streamed reply, what the kernel
    // buffers on both ends of the loopback connection (autotuned up to tcp_rmem's and tcp_wmem's
    // maximum: 32 MB and 4 MB here, over 20 MB taken on a loaded run), and hyper's buffers.
    let kernel_max = |file: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{file}"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
            .unwrap_or(32 * MB)
    };
    let bound = 4 * MB + kernel_max("tcp_rmem") + kernel_max("tcp_wmem") + 2 * MB;
    let flood = Fault::Flood {
        head: [head(200, &[SSE]), delta_event("Hei").into_bytes()].concat(),
        // Twice that in events that carry nothing: the cap ends it.
        pattern: b"data: {}\n\n".to_vec(),
        total: 2 * bound,
    };
    // A turn budget that cannot be what ends it (a loaded CI machine took over 2 s to parse
    // 4 MiB of events); the bound is on what was read, not how long that took.
    let upstream = BadUpstream::start(flood).await;
    let app = chat_app_with_turn(&upstream, "60").await;
    let (events, elapsed, attempts) = stream_after_text_on(&app, &upstream).await;
    assert_text_then_error(&events, "upstream_error");
    assert_eq!(attempts, 1);
    // Never the whole flood, which a reader without a cap takes before the close.
    let flooded = upstream.flooded.load(Ordering::SeqCst);
    eprintln!(
        "flood: {} of {} MB sent in {elapsed:?}",
        flooded / MB,
        2 * bound / MB
    );
    assert!(
        flooded <= bound,
        "{flooded} bytes read before the cut (bound {bound})"
    );
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn a_stream_starting_with_a_byte_order_mark_is_answered_without_a_panic() {
    watch_panics();
    // The SSE format allows a leading BOM; eventsource-stream 0.2.3 panicked on it (found by
    // the sse_stream fuzz target).
    let finish =
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let body = [
        head(200, &[SSE]),
        b"\xEF\xBB\xBF".to_vec(),
        delta_event("Hei").into_bytes(),
        format!("data: {finish}\n\ndata: [DONE]\n\n").into_bytes(),
    ]
    .concat();
    let upstream = BadUpstream::start(Fault::Send(body)).await;
    let app = chat_app(&upstream).await;
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(r#"{"message":"Hei"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["mode"], "model", "{body}");
    assert_eq!(body["reply"], "Hei");
    assert_eq!(upstream.connections(), 1);
    assert_eq!(panics_here(), 0, "the runner panicked");
}
