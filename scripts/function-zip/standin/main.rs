//! A stand-in for Scaleway's rust196 function wrapper, for the zip parity test
//! (`scripts/test-function-zips.sh`): an axum 0.8 server that hands every request to the zip's
//! `handler::handle`, as the platform does, after adding the headers Scaleway's ingress adds.
//!
//! Listens on `STANDIN_ADDR` (default `127.0.0.1:0`, a free port) and prints
//! `listening on ADDR` on stdout once it accepts connections.

use std::io::Write;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::var("STANDIN_ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("standin: cannot listen on {addr}: {e}");
            return std::process::ExitCode::from(70);
        }
    };
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.clone(), |a| a.to_string());
    // The test script reads this line to find the port.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {local}");
    let _ = out.flush();
    drop(out);

    let app = axum::Router::new().fallback(
        |ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request| async move {
            ingress(&mut req, peer);
            handler::handle(req).await
        },
    );
    match axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("standin: {e}");
            std::process::ExitCode::from(70)
        }
    }
}

/// What Scaleway's ingress puts on a request before the function sees it
/// (docs/upstreams/scaleway.md#request-headers):
/// the client appended to `X-Forwarded-For`, `X-Forwarded-Proto: https`.
fn ingress(req: &mut Request, peer: SocketAddr) {
    let headers = req.headers_mut();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
}
