//! Hostile clients against the runner: malformed and deeply nested JSON, oversized bodies,
//! invalid UTF-8, huge headers, thousands of query parameters, path traversal, HTTP/1.0,
//! pipelining, slow headers, idle connection floods, CORS preflights from other origins and
//! bursts over the rate limit.
//!
//! Every refusal is a clear 4xx (or 426/431/414 as fits), with our JSON error body wherever our
//! code answers; hyper's own answers to requests it cannot parse (400/414/431) have no body,
//! so only their status is checked. Nothing may answer 5xx or panic, and the battery as a
//! whole must not grow the process's memory by more than 100 MB.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use elbatt::config::Env;
use elbatt::runtime::server::ServeOptions;
use elbatt::testing::{ChildServer, RunningServer, spawn_router_with};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::faults::{panics_here, watch_panics};
use crate::helpers::{TestApp, json_of};

const MB: usize = 1024 * 1024;

/// One parsed HTTP/1.1 response.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The header block, lower-cased.
    headers: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    }
}

/// Splits raw bytes into the responses they hold (bodies delimited by `content-length`).
fn answers(raw: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let body_end = (end + 4 + length).min(rest.len());
        out.push(Answer {
            status,
            headers: head,
            body: String::from_utf8_lossy(&rest[end + 4..body_end]).into_owned(),
        });
        rest = &rest[body_end..];
    }
    out
}

/// Sends `request` as is and reads until the server closes (at most 5 s). A failed write is
/// not an error: the server may answer and close before reading everything.
async fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// The one answer to `request`.
async fn raw_answer(addr: SocketAddr, request: &[u8]) -> Answer {
    let bytes = raw(addr, request).await;
    let mut all = answers(&bytes);
    assert_eq!(
        all.len(),
        1,
        "one answer expected to {:?}: {:?}",
        String::from_utf8_lossy(&request[..request.len().min(80)]),
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
    all.remove(0)
}

/// A 4xx with our JSON error body; returns its `error.code`.
fn json_refusal(answer: &Answer, what: &str) -> String {
    assert!(
        (400..500).contains(&answer.status),
        "{what}: want a 4xx, got {answer:?}"
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    let body: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {answer:?}"));
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error code: {body}"))
        .to_owned()
}

/// `POST /chat` with a JSON content type, `body` and any extra header lines (raw bytes).
fn post_chat(body: &[u8], extra_headers: impl AsRef<[u8]>) -> Vec<u8> {
    [
        format!(
            "POST /chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n",
            body.len()
        )
        .as_bytes(),
        extra_headers.as_ref(),
        b"\r\n",
        body,
    ]
    .concat()
}

/// `GET path` with any extra header lines (raw bytes).
fn get(path: &[u8], extra_headers: impl AsRef<[u8]>) -> Vec<u8> {
    [
        b"GET ".as_slice(),
        path,
        b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n",
        extra_headers.as_ref(),
        b"\r\n",
    ]
    .concat()
}

/// The runner with no keys (offline chat, plate lookup not configured) and a rate limit out
/// of reach, so every request to `/chat` is judged on what it is.
async fn runner() -> TestApp {
    TestApp::spawn(&[
        ("CHAT_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("CHAT_RATE_LIMIT_BURST", "1000000"),
    ])
    .await
}

// ---- the cases, each usable alone and in the memory battery ----------------------------------

async fn malformed_and_deeply_nested_json(addr: SocketAddr) {
    let nested_history = format!(r#"{{"message":"x","history":{}"#, "[".repeat(10_000));
    let nested_object = format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an unfinished object", br#"{"message":"#.to_vec()),
        ("trailing garbage", br#"{"message":"hei"} {"#.to_vec()),
        ("a bare string", br#""hei""#.to_vec()),
        ("10 000 [", "[".repeat(10_000).into_bytes()),
        ("10 000 [ inside history", nested_history.into_bytes()),
        ("5 000 nested objects", nested_object.into_bytes()),
        ("a NUL byte", b"{\"message\":\"hei\0\"}".to_vec()),
        ("a lone surrogate", br#"{"message":"\udc00"}"#.to_vec()),
        (
            "a number for the message",
            br#"{"message":1e999999}"#.to_vec(),
        ),
    ];
    for (what, body) in cases {
        let answer = raw_answer(addr, &post_chat(&body, "")).await;
        assert_eq!(answer.status, 400, "{what}: {answer:?}");
        assert_eq!(json_refusal(&answer, what), "bad_json", "{what}");
    }
}

async fn oversized_bodies(addr: SocketAddr) {
    // Declared: refused before a byte of the body is read.
    let head = format!(
        "POST /chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        10 * MB
    );
    let answer = raw_answer(addr, head.as_bytes()).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(json_refusal(&answer, "10 MB declared"), "payload_too_large");
    let head = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        10 * MB
    );
    let answer = raw_answer(addr, head.as_bytes()).await;
    assert_eq!(
        answer.status, 413,
        "a body on GET is counted too: {answer:?}"
    );

    // Chunked: refused once 6 MiB have been read. The server closes without reading the rest,
    // so the writer may see a reset; what was answered before it must be the 413.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = s.split();
    let writer = async {
        let head = "POST /chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        write.write_all(head.as_bytes()).await?;
        let chunk = [b"10000\r\n".as_slice(), &[b' '; 0x10000], b"\r\n"].concat();
        for _ in 0..(10 * MB / 0x10000) {
            write.write_all(&chunk).await?;
        }
        write.write_all(b"0\r\n\r\n").await
    };
    let mut out = Vec::new();
    let reader = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut out));
    let (_, _) = tokio::join!(writer, reader);
    let got = answers(&out);
    let answer = got.first().expect("an answer before the connection closed");
    assert_eq!(answer.status, 413, "10 MB chunked: {answer:?}");
    drop(s);
}

async fn invalid_utf8(addr: SocketAddr) {
    let answer = raw_answer(addr, &post_chat(b"{\"message\":\"\xff\xfe\"}", "")).await;
    assert_eq!(json_refusal(&answer, "invalid UTF-8 body"), "bad_json");
    let answer = raw_answer(addr, &post_chat(b"\xff\xfe\xfd", "")).await;
    assert_eq!(json_refusal(&answer, "binary body"), "bad_json");

    // Raw invalid UTF-8 in the path is not a URI: hyper refuses it.
    let answer = raw_answer(addr, &get(b"/plate-lookup/\xff\xfe", "")).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    // Percent-encoded, it reaches the function and is no plate.
    let answer = raw_answer(addr, &get(b"/plate-lookup/%FF%FE", "")).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(
        json_refusal(&answer, "percent-encoded invalid UTF-8"),
        "plate_invalid_character"
    );
    // In header values the request is still served; the values are ignored, not trusted.
    let answer = raw_answer(
        addr,
        &post_chat(
            br#"{"message":"Hei"}"#,
            b"origin: https://\xff.example\r\nx-request-id: \xfe\xff\r\nx-forwarded-for: \xff\r\n",
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

async fn huge_headers(addr: SocketAddr) {
    let big = format!("x-big: {}\r\n", "a".repeat(100 * 1024));
    let answer = raw_answer(addr, &get(b"/health", &big)).await;
    assert_eq!(answer.status, 431, "one 100 KB header: {answer:?}");
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let answer = raw_answer(addr, &get(b"/health", &many)).await;
    assert_eq!(answer.status, 431, "200 headers: {answer:?}");
}

async fn thousands_of_query_parameters(addr: SocketAddr) {
    let params: String = (0..4_000).map(|i| format!("a{i}=b{i}&")).collect();
    let answer = raw_answer(addr, &get(format!("/health?{params}").as_bytes(), "")).await;
    assert_eq!(answer.status, 200, "still a valid health check: {answer:?}");
    let answer = raw_answer(
        addr,
        &get(format!("/plate-lookup?{params}plate=%21%21").as_bytes(), ""),
    )
    .await;
    assert_eq!(
        json_refusal(&answer, "4 000 parameters and a bad plate"),
        "plate_invalid_character"
    );
    let answer = raw_answer(
        addr,
        &get(
            format!("/plate-lookup?{}", "plate=x&".repeat(4_000)).as_bytes(),
            "",
        ),
    )
    .await;
    assert!((400..500).contains(&answer.status), "{answer:?}");
    // Past what any front end forwards: a 414 or 431 from hyper.
    let params: String = (0..20_000).map(|i| format!("a{i}=b{i}&")).collect();
    let answer = raw_answer(addr, &get(format!("/health?{params}").as_bytes(), "")).await;
    assert!(
        matches!(answer.status, 414 | 431),
        "a 200 KB query: {answer:?}"
    );
}

async fn path_traversal(addr: SocketAddr) {
    for path in [
        "/health/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "//health",
        "/chat/../../../etc/passwd",
        "/api/health/..;/..;/etc/passwd",
        "/plate-lookup/..%2f..%2fetc%2fpasswd",
        "/plate-lookup/../../etc/passwd",
        "/plate-lookup/%2e%2e%5c%2e%2e%5cwindows%5cwin.ini",
    ] {
        let answer = raw_answer(addr, &get(path.as_bytes(), "")).await;
        json_refusal(&answer, path);
        assert!(!answer.body.contains("root:"), "{path}: {}", answer.body);
    }
}

async fn http_1_0(addr: SocketAddr) {
    let answer = raw_answer(addr, b"GET /health HTTP/1.0\r\n\r\n").await;
    assert_eq!(answer.status, 426, "{answer:?}");
    assert_eq!(answer.header("upgrade"), Some("http/1.1"));
    assert_eq!(json_refusal(&answer, "HTTP/1.0"), "upgrade_required");
}

async fn pipelined_requests(addr: SocketAddr) {
    let two = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n\
                GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let got = answers(&raw(addr, two).await);
    let bodies: Vec<(u16, &str)> = got.iter().map(|a| (a.status, a.body.as_str())).collect();
    assert_eq!(
        bodies,
        [(200, r#"{"status":"healthy"}"#), (200, r#"{"ok":true}"#)],
        "both answered, in order"
    );
    // A bad request after a good one: the good one is answered, then a 4xx.
    let mixed = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nGET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let got = answers(&raw(addr, mixed).await);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].status, 200);
    assert_eq!(json_refusal(&got[1], "pipelined 404"), "not_found");
}

async fn cors_from_other_origins(addr: SocketAddr) {
    for origin in [
        "https://evil.example",
        "null",
        "https://elbatt.no.evil.example",
        "https://evil-elbatt.no",
        "http://elbatt.no",
        "https://elbatt.no:8443",
        "https://elbatt.no/",
        "http://localhost.evil.example:5173",
        "file://",
    ] {
        let preflight = format!(
            "OPTIONS /chat HTTP/1.1\r\nhost: x\r\norigin: {origin}\r\n\
             access-control-request-method: POST\r\naccess-control-request-headers: content-type\r\n\
             connection: close\r\n\r\n"
        );
        let answer = raw_answer(addr, preflight.as_bytes()).await;
        assert!(
            answer.status < 500,
            "{origin}: a preflight never fails: {answer:?}"
        );
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            answer.header("access-control-allow-methods"),
            None,
            "{origin}"
        );
        let answer = raw_answer(
            addr,
            &post_chat(br#"{"message":"Hei"}"#, format!("origin: {origin}\r\n")),
        )
        .await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{origin}: the answer is not shared with that origin"
        );
        assert_eq!(answer.header("vary"), Some("origin"), "{origin}");
    }
}

async fn burst_over_the_rate_limit() {
    let app = TestApp::spawn(&[
        ("CHAT_RATE_LIMIT_PER_MINUTE", "5"),
        ("CHAT_RATE_LIMIT_BURST", "5"),
        // Nothing in front of the runner: the client is the peer address.
        ("CHAT_TRUSTED_PROXY_HOPS", "0"),
    ])
    .await;
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..8 {
        // Forged X-Forwarded-For entries change nothing.
        let resp = app
            .client
            .post(app.url("/chat"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .body(r#"{"message":"Hei"}"#)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 && refused.is_none() {
            let retry_after: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            refused = Some((retry_after, json_of(resp).await));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let (retry_after, body) = refused.unwrap();
    // 5 a minute: the next slot is about 12 s away.
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Other endpoints are not limited by chat's guard.
    assert_eq!(app.get("/health").await.status(), 200);
}

/// The runner with short connection limits.
async fn runner_with(options: ServeOptions) -> RunningServer {
    let router = local_dev::router(&Env::default()).unwrap();
    spawn_router_with(router, options).await
}

async fn slow_headers() {
    let server = runner_with(ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // One header line every 100 ms, never finishing: the server must hang up.
    let mut out = Vec::new();
    let closed = loop {
        if started.elapsed() > Duration::from_secs(3) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if s.write_all(b"x-slow: 1\r\n").await.is_err() {
            break true;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    };
    let elapsed = started.elapsed();
    assert!(closed, "the slow client was never cut off");
    // The 500 ms header deadline, not one restarted by each line (that would never cut it
    // off); slack for a loaded CI machine, below the loop's own 3 s.
    assert!(
        elapsed < Duration::from_millis(2500),
        "cut off after {elapsed:?}"
    );
    let answer = answers(&out);
    let answer = answer.first().expect("a 408 before the connection closed");
    assert_eq!(answer.status, 408, "{answer:?}");
    // Meanwhile the server serves others.
    let answer = raw_answer(server.addr, &get(b"/health", "")).await;
    assert_eq!(answer.status, 200);
}

async fn many_idle_connections(addr: SocketAddr) {
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    let answer = raw_answer(addr, &get(b"/health", "")).await;
    assert_eq!(answer.status, 200);
    // Not queued behind them (their header deadline is 15 s); slack for a loaded CI machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?} with 500 idle connections",
        started.elapsed()
    );
    drop(idle);
}

async fn connection_limit() {
    let server = runner_with(ServeOptions {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(10),
        ..ServeOptions::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fifth waits in the listen backlog…
    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting.write_all(&get(b"/health", "")).await.unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served past the connection limit");
    // …and is served once idle clients leave.
    idle.truncate(2);
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), waiting.read_to_end(&mut out))
        .await
        .expect("served once a slot freed")
        .unwrap();
    let got = answers(&out);
    assert_eq!(got.first().map(|a| a.status), Some(200), "{got:?}");
}

// ---- tests -----------------------------------------------------------------------------------

/// Runs `case` against a fresh runner and checks nothing panicked and health still answers.
macro_rules! hostile_test {
    ($name:ident, $case:ident) => {
        #[tokio::test]
        async fn $name() {
            watch_panics();
            let app = runner().await;
            $case(app.server.addr).await;
            assert_eq!(app.get("/health").await.status(), 200);
            assert_eq!(panics_here(), 0, "the runner panicked");
        }
    };
}

hostile_test!(
    malformed_and_deeply_nested_json_is_a_json_400,
    malformed_and_deeply_nested_json
);
hostile_test!(bodies_of_10_mb_are_413, oversized_bodies);
hostile_test!(
    invalid_utf8_in_body_path_and_headers_is_refused_or_ignored,
    invalid_utf8
);
hostile_test!(huge_headers_are_431, huge_headers);
hostile_test!(
    thousands_of_query_parameters_are_handled,
    thousands_of_query_parameters
);
hostile_test!(path_traversal_attempts_are_a_json_4xx, path_traversal);
hostile_test!(http_1_0_is_426, http_1_0);
hostile_test!(pipelined_requests_are_answered_in_order, pipelined_requests);
hostile_test!(
    preflights_from_other_origins_get_no_cors_headers,
    cors_from_other_origins
);
hostile_test!(
    many_idle_connections_do_not_block_health,
    many_idle_connections
);

#[tokio::test]
async fn a_burst_over_the_rate_limit_is_429_with_retry_after() {
    watch_panics();
    burst_over_the_rate_limit().await;
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn slow_headers_are_cut_off_after_the_header_timeout() {
    watch_panics();
    slow_headers().await;
    assert_eq!(panics_here(), 0, "the runner panicked");
}

#[tokio::test]
async fn past_the_connection_limit_clients_wait_and_are_served_when_a_slot_frees() {
    watch_panics();
    connection_limit().await;
    assert_eq!(panics_here(), 0, "the runner panicked");
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

/// The runner binary as its own process (so its memory is measured alone, not this test
/// binary's with every other test running in it), no rate limit, in a scratch folder `name`
/// (its working directory: no `.env`, its own store file), plus `vars`.
async fn runner_process(name: &str, vars: &[(&str, &str)]) -> (ChildServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("elbatt-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"));
    cmd.env_clear()
        .env("CHAT_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("CHAT_RATE_LIMIT_BURST", "1000000")
        .envs(vars.iter().copied())
        .current_dir(&dir);
    (ChildServer::start(cmd).await, dir)
}

#[tokio::test]
async fn the_whole_battery_three_times_over_keeps_the_runners_memory_bounded() {
    let (server, dir) = runner_process("rss", &[]).await;
    let addr = server.addr;
    let pid = server.child.id().unwrap();
    let battery = || async move {
        malformed_and_deeply_nested_json(addr).await;
        oversized_bodies(addr).await;
        invalid_utf8(addr).await;
        huge_headers(addr).await;
        thousands_of_query_parameters(addr).await;
        path_traversal(addr).await;
        http_1_0(addr).await;
        pipelined_requests(addr).await;
        many_idle_connections(addr).await;
    };
    // One round to warm up (allocator arenas sized for 500 connections, lazily built state),
    // then three measured: a leak grows with each round, a warmed allocator does not.
    battery().await;
    let Some(before) = rss_bytes(pid) else {
        return; // not Linux: nothing to measure
    };
    for _ in 0..3 {
        battery().await;
    }
    let after = rss_bytes(pid).unwrap();
    let grown = after.saturating_sub(before);
    // Measured: 1.7–4.3 MB over the three rounds (allocator arenas still settling). Three
    // rounds of 10 MB bodies would show as 30 MB or more if a body were kept.
    assert!(
        grown < 8 * MB,
        "RSS grew by {:.1} MB ({:.1} → {:.1} MB)",
        grown as f64 / MB as f64,
        before as f64 / MB as f64,
        after as f64 / MB as f64
    );
    let health = raw_answer(addr, &get(b"/health", "")).await;
    assert_eq!(health.status, 200);
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_an_answer() {
    let server = runner_with(ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = s.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    // Idle after a complete exchange: the server may hang up, but owes the client nothing (a
    // `408` here would make browsers retry a request that was already answered).
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closed after the header timeout")
        .ok();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

// ---- slow, trickled, mismatched and misplaced bodies -------------------------------------------

/// The runner with a short body deadline.
async fn runner_with_body_timeout(timeout: Duration) -> RunningServer {
    let router = local_dev::router(&Env::default())
        .unwrap()
        .with_body_timeout(timeout);
    spawn_router_with(router, ServeOptions::default()).await
}

/// Writes `head` and `body_parts` (one every `every`), then reads whatever comes back until the
/// server closes; returns the answers and how long it took from the first byte.
async fn send_slowly(
    addr: SocketAddr,
    head: &[u8],
    body_parts: &[&[u8]],
    every: Duration,
) -> (Vec<Answer>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = s.split();
    let writer = async {
        write.write_all(head).await?;
        for part in body_parts {
            tokio::time::sleep(every).await;
            write.write_all(part).await?;
        }
        // Then nothing more, but the connection stays open: only the server can end it.
        std::future::pending::<std::io::Result<()>>().await
    };
    let mut out = Vec::new();
    let reader = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut out));
    tokio::select! {
        _ = writer => {},
        read = reader => { read.expect("the server ends the exchange").ok(); },
    }
    (answers(&out), started.elapsed())
}

fn chat_head(declared: usize) -> Vec<u8> {
    format!(
        "POST /chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {declared}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_a_408_at_the_deadline() {
    let server = runner_with_body_timeout(Duration::from_millis(500)).await;
    // Declares 5,000 bytes, sends 16, then nothing.
    let (got, took) = send_slowly(
        server.addr,
        &chat_head(5000),
        &[b"{\"message\":\"hei".as_slice()],
        Duration::ZERO,
    )
    .await;
    let answer = got.first().expect("an answer");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(json_refusal(answer, "stalled body"), "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_trickled_body_is_bounded_by_the_whole_deadline_not_reset_per_byte() {
    let server = runner_with_body_timeout(Duration::from_millis(500)).await;
    let byte = [b' '];
    let parts = vec![byte.as_slice(); 100];
    let (got, took) = send_slowly(
        server.addr,
        &chat_head(5000),
        &parts,
        Duration::from_millis(50),
    )
    .await;
    let answer = got.first().expect("an answer");
    assert_eq!(answer.status, 408, "{answer:?}");
    // 100 bytes at 50 ms would take 5 s; the deadline ends it after about 0.5 s.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn content_length_mismatches_are_answered_promptly() {
    let server = runner_with_body_timeout(Duration::from_millis(500)).await;
    // Fewer bytes than declared, then the client stops writing: a body that cannot complete.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&chat_head(100)).await.unwrap();
    s.write_all(b"{\"message\":\"hei\"}").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered or closed in time")
        .ok();
    // The 500 ms body deadline; slack for a loaded CI machine.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    for answer in answers(&out) {
        assert!((400..500).contains(&answer.status), "{answer:?}");
    }
    // More bytes than declared: the rest is the next request, which is garbage: a 400, and the
    // first request is answered on its own.
    let body = b"{\"message\":\"Hva er SoH?\"}";
    let mut request = chat_head(body.len());
    request.extend_from_slice(body);
    request.extend_from_slice(b"GARBAGE GARBAGE\r\n\r\n");
    let out = raw(server.addr, &request).await;
    let got = answers(&out);
    assert_eq!(got.first().map(|a| a.status), Some(200), "{got:?}");
    assert!(got.iter().skip(1).all(|a| a.status == 400), "{got:?}");
}

#[tokio::test]
async fn bodies_on_get_routes_are_never_read_or_buffered() {
    let server = runner_with_body_timeout(Duration::from_secs(30)).await;
    // Declared but never sent: with the body unread, the answer comes at once (no 30 s wait),
    // and the connection closes so the unread bytes cannot pose as a request.
    for path in ["/health", "/plate-lookup/EC47213", "/api/health"] {
        let head = format!("GET {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 5000000\r\n\r\n");
        let (got, took) = send_slowly(server.addr, head.as_bytes(), &[], Duration::ZERO).await;
        let answer = got.first().unwrap_or_else(|| panic!("{path}: no answer"));
        // The function's own answer (plate lookup has no key here: 503), not a body refusal.
        assert!(![408, 413].contains(&answer.status), "{path}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("close"), "{path}");
        assert!(took < Duration::from_secs(2), "{path}: {took:?}");
    }
    // Chunked on a GET route: the same.
    let head = "GET /health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n10\r\n";
    let (got, _) = send_slowly(server.addr, head.as_bytes(), &[], Duration::ZERO).await;
    assert_eq!(got.first().map(|a| a.status), Some(200), "{got:?}");
}

/// Many clients that declare bodies and never send them: the runner (its own process, so its
/// memory is measured alone) answers each at the deadline and its memory stays flat.
#[tokio::test]
async fn many_stalled_bodies_cost_the_runner_little_memory() {
    let (server, dir) = runner_process("stall", &[("REQUEST_BODY_TIMEOUT_SECS", "1")]).await;
    let (addr, pid) = (server.addr, server.child.id().unwrap());
    let round = || async move {
        let clients = (0..200).map(|_| async move {
            // chat's own limit (32 KiB) is the most anyone may declare; declare just under it.
            let (got, took) =
                send_slowly(addr, &chat_head(32_000), &[b"{".as_slice()], Duration::ZERO).await;
            assert_eq!(got.first().map(|a| a.status), Some(408), "{got:?}");
            took
        });
        futures_util::future::join_all(clients).await
    };
    round().await; // warm-up: allocator arenas sized for 200 connections
    let before = rss_bytes(pid).unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        slowest = slowest.max(round().await.into_iter().max().unwrap());
    }
    let after = rss_bytes(pid).unwrap();
    let grown = after.saturating_sub(before);
    assert!(
        slowest < Duration::from_secs(4),
        "answered after {slowest:?}"
    );
    // Measured: 3.8–4.5 MB over the three rounds, settling by less each round (0.2–0.5 MB
    // by the eighth: allocator arenas, not a leak). Held buffers would add 6 MB per round.
    assert!(
        grown < 8 * MB,
        "RSS grew by {:.1} MB ({:.1} → {:.1} MB)",
        grown as f64 / MB as f64,
        before as f64 / MB as f64,
        after as f64 / MB as f64
    );
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status:?}\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
