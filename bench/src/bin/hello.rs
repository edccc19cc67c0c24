//! `hello`: the floor the benchmarks compare against — the smallest useful hyper 1 server, built
//! from the same hyper, hyper-util and tokio (same versions, same features) as the functions.
//! `GET /health` → `200 {"status":"healthy"}`, anything else → `404`; listens on
//! `$HOST:$PORT` (default `127.0.0.1:8080`). Nothing else: no logging, no config, no signals.
//!
//! It keeps `#[tokio::main]` (a multi-threaded runtime), the usual hyper example, so the floor
//! is what a Rust service gets for free rather than a hand-tuned minimum.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const HEALTHY: &[u8] = br#"{"status":"healthy"}"#;
const NOT_FOUND: &[u8] = br#"{"error":{"code":"not_found"}}"#;

async fn answer(req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (status, body) = if req.uri().path() == "/health" {
        (StatusCode::OK, HEALTHY)
    } else {
        (StatusCode::NOT_FOUND, NOT_FOUND)
    };
    let mut resp = http::Response::new(Full::new(Bytes::from_static(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let host = std::env::var("HOST")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let listener = match TcpListener::bind(SocketAddr::new(host, port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: cannot listen on {host}:{port}: {e}");
            return ExitCode::from(70);
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
