//! Test support (feature `test-support`, for dev-dependencies only): start a router on
//! `127.0.0.1:0`, play the Lambda Runtime API, and build API Gateway v2 events — so every crate's
//! tests exercise the real server and adapters instead of mocks of them.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::runtime::Router;
use crate::runtime::server::{ServeOptions, serve};

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` on `127.0.0.1:0` in the current tokio runtime.
pub async fn spawn_router(router: Router) -> RunningServer {
    spawn_router_with(
        router,
        ServeOptions {
            shutdown_grace: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await
}

/// Like [`spawn_router`] with explicit connection limits (hostile-client tests shorten them).
pub async fn spawn_router_with(router: Router, options: ServeOptions) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        Arc::new(router),
        async { drop(stopped.await) },
        options,
    ));
    RunningServer {
        addr,
        stop: Some(stop),
    }
}

/// Serves `handler` over HTTP/1.1 on `127.0.0.1:0` until the runtime ends; the fakes below
/// are each just a handler.
async fn serve_fake<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// What a function posted back to the fake runtime for one invocation.
#[derive(Debug, Clone)]
pub enum Posted {
    /// The response payload (API Gateway v2 response JSON).
    Response(Value),
    /// The error payload.
    Error(Value),
}

/// A fake of the Lambda Runtime API (`/2018-06-01/runtime/...`): hands out the queued events
/// one by one, then keeps `next` pending, and reports what the function posted.
#[derive(Debug)]
pub struct FakeLambdaRuntime {
    pub addr: SocketAddr,
    posted: mpsc::UnboundedReceiver<(String, Posted)>,
}

impl FakeLambdaRuntime {
    pub async fn start(events: Vec<Value>) -> FakeLambdaRuntime {
        let queue = Arc::new(Mutex::new(
            events.into_iter().enumerate().collect::<VecDeque<_>>(),
        ));
        let (tx, posted) = mpsc::unbounded_channel();
        let addr = serve_fake(move |req| {
            let (queue, tx) = (Arc::clone(&queue), tx.clone());
            async move { runtime_api(req, &queue, &tx).await }
        })
        .await;
        FakeLambdaRuntime { addr, posted }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn api(&self) -> String {
        self.addr.to_string()
    }

    /// Waits for the next posted response or error.
    pub async fn next_posted(&mut self, within: Duration) -> Option<(String, Posted)> {
        tokio::time::timeout(within, self.posted.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn runtime_api(
    req: http::Request<Incoming>,
    queue: &Mutex<VecDeque<(usize, Value)>>,
    tx: &mpsc::UnboundedSender<(String, Posted)>,
) -> http::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        let next = queue.lock().unwrap().pop_front();
        let Some((n, event)) = next else {
            // No more events: hold the request as the real API does between invocations.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        return http::Response::builder()
            .header("lambda-runtime-aws-request-id", format!("invocation-{n}"))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-north-1:000000000000:function:test",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap();
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.split('/').collect();
    let id = segments.get(4).copied().unwrap_or_default().to_owned();
    if path.ends_with("/response") {
        let _ = tx.send((id, Posted::Response(value)));
    } else if path.ends_with("/error") {
        let _ = tx.send((id, Posted::Error(value)));
    }
    http::Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

/// An API Gateway v2 (HTTP API / Function URL) event as AWS would send it for a request to the
/// function's own endpoint.
pub fn apigw_v2_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(*v)))
        .collect();
    let source_ip = headers
        .get("x-forwarded-for")
        .and_then(Value::as_str)
        .and_then(|v| v.split(',').next())
        .unwrap_or("127.0.0.1")
        .trim()
        .to_owned();
    let request_id = headers
        .get("x-request-id")
        .and_then(Value::as_str)
        .unwrap_or("apigw-request-id")
        .to_owned();
    // API Gateway hands path parameters over URL-decoded.
    let proxy = percent_encoding::percent_decode_str(raw_path.trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "pathParameters": if proxy.is_empty() { Value::Null } else { json!({ "proxy": proxy }) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or(Value::from("localhost")),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or(Value::from("test")),
            },
            "requestId": request_id,
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// An address on `127.0.0.1` where connections are refused: its port is held bound without
/// listening for as long as this lives, so no server another test starts meanwhile can take it
/// (a port bound and freed once was, and its 404 read as "no such vehicle").
#[derive(Debug)]
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl RefusedPort {
    pub fn bind() -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = socket.local_addr().unwrap();
        RefusedPort {
            _socket: socket,
            addr,
        }
    }
}

/// The repository's own Statens vegvesen fixtures: invented vehicles in the registry's exact
/// response shape (`shared/tests/fixtures/vegvesen/`, see the README there).
pub const VEGVESEN_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vegvesen");

/// One of the repository's Statens vegvesen fixtures ([`VEGVESEN_FIXTURES`]`/<name>`).
pub fn vegvesen_fixture(name: &str) -> String {
    let path = std::path::Path::new(VEGVESEN_FIXTURES).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// How the fake Vegvesen answers one plate.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    With(u16, Vec<(&'static str, String)>, String),
    /// Waits, then answers.
    After(Duration, Box<Reply>),
    /// Accepts and never answers.
    Hang,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::With(
            status,
            vec![("content-type", "application/json".into())],
            body.into(),
        )
    }
    pub fn status(status: u16) -> Reply {
        Reply::With(status, vec![], String::new())
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path_and_query: String,
    pub kjennemerke: Option<String>,
    pub headers: http::HeaderMap,
}

/// A fake of the enkeltoppslag API on 127.0.0.1:0 following the documented contract: plates are
/// looked up in `replies` (by the decoded `kjennemerke`), anything else gets `default`.
/// Replies for a plate can be a sequence: each call takes the next, the last one repeats.
#[derive(Debug, Clone)]
pub struct FakeVegvesen {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeVegvesen {
    pub async fn start(replies: Vec<(&str, Vec<Reply>)>, default: Reply) -> FakeVegvesen {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let table: Arc<Mutex<std::collections::HashMap<String, VecDeque<Reply>>>> =
            Arc::new(Mutex::new(
                replies
                    .into_iter()
                    .map(|(p, r)| (p.to_owned(), r.into_iter().collect()))
                    .collect(),
            ));
        let rec = Arc::clone(&recorded);
        let addr = serve_fake(move |req| {
            let (table, rec, default) = (Arc::clone(&table), Arc::clone(&rec), default.clone());
            async move {
                let kjennemerke = req.uri().query().and_then(|q| {
                    url_pairs(q)
                        .into_iter()
                        .find(|(k, _)| k == "kjennemerke")
                        .map(|(_, v)| v)
                });
                rec.lock().unwrap().push(Recorded {
                    path_and_query: req.uri().to_string(),
                    kjennemerke: kjennemerke.clone(),
                    headers: req.headers().clone(),
                });
                let reply = {
                    let mut t = table.lock().unwrap();
                    match kjennemerke.and_then(|k| t.get_mut(&k)) {
                        Some(q) if q.len() > 1 => q.pop_front().unwrap(),
                        Some(q) => q.front().cloned().unwrap_or(default),
                        None => default,
                    }
                };
                respond(reply).await
            }
        })
        .await;
        FakeVegvesen { addr, recorded }
    }

    /// The value for `VEGVESEN_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/enkeltoppslag/kjoretoydata", self.addr)
    }

    pub fn calls(&self) -> usize {
        self.recorded.lock().unwrap().len()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = v.replace('+', " ");
            (
                k.to_owned(),
                percent_encoding::percent_decode_str(&v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

fn respond(
    reply: Reply,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<Full<Bytes>>> + Send>> {
    Box::pin(async move {
        match reply {
            Reply::With(status, headers, body) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(Full::new(Bytes::from(body))).unwrap()
            }
            Reply::After(d, inner) => {
                tokio::time::sleep(d).await;
                respond(*inner).await
            }
            Reply::Hang => {
                std::future::pending::<()>().await;
                unreachable!()
            }
        }
    })
}

/// A server binary started by a test on a port it picks itself (`PORT=0`, `HOST=127.0.0.1`):
/// its address comes from its "listening" log line, so no test can lose a port to another
/// between choosing it and the child binding it. Its stderr is collected in the background (a
/// full pipe would stall the child); dropping it kills the child.
#[derive(Debug)]
pub struct ChildServer {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    drained: tokio::task::JoinHandle<()>,
}

impl ChildServer {
    /// Starts `cmd` and waits (at most 20 s) until it says where it listens.
    pub async fn start(mut cmd: tokio::process::Command) -> ChildServer {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = cmd
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(addr) = listening_addr(&line) {
                    return Some(addr);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no `listening` line: {}", log.lock().unwrap()));
        let sink = Arc::clone(&log);
        let drained = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        ChildServer {
            child,
            addr,
            log,
            drained,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit; returns the status and everything
    /// the child wrote to stderr.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("still running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        // The pipe closes with the child: what is left arrives promptly.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.drained).await;
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

/// The address in a `listening` log line, text (`addr=127.0.0.1:8080`) or JSON
/// (`"addr":"127.0.0.1:8080"`).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    let rest = line
        .split_once("addr=")
        .or_else(|| line.split_once("\"addr\":\""))?
        .1;
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Log lines captured by [`capture_logs`], formatted as text without timestamps or colours.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps [`capture_logs`] capturing; capture stops when it is dropped.
#[must_use = "capture stops when the guard is dropped"]
pub struct LogCapture {
    _default: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogCapture")
    }
}

/// Captures every event (DEBUG and up) logged on this thread while the guard lives: in a
/// `#[tokio::test]` (one thread) that includes a server spawned by the test.
pub fn capture_logs() -> (CapturedLogs, LogCapture) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // With one live dispatcher, tracing-core decides a call site's interest from whichever
    // thread hits it first; a parallel test without a subscriber would mark our call sites
    // "never". A second live dispatcher makes it ask every dispatcher instead.
    let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    (
        logs,
        LogCapture {
            _default: guard,
            _second: second,
        },
    )
}
