//! Scaleway Serverless Functions entry point (runtime `rust196`) for one Elbatt function.
//!
//! `scripts/package-function.sh` copies this file into each function's zip as `src/lib.rs`, next
//! to a generated `src/function.rs` naming the function. Scaleway's wrapper calls [`handle`] for
//! every request (handler name `handle`); there is no `main` of ours, so the function is built
//! on the first call and kept for the instance's lifetime.
//!
//! Each request goes through the same [`Router`] as the function's own binary (mounted at `/`
//! and `/<name>`), so the handler receives exactly the `lambda_http::Request` the container and
//! the local runner build: same path, query and path parameters, request context, ingress
//! headers, request id, 6 MiB body limit, 404/405/`OPTIONS`/`HEAD` handling.
//!
//! Functions deliver whole responses only, so bodies are collected before they are returned. A
//! function that can stream (`chat`) is asked for a whole answer instead: `Accept:
//! text/event-stream` is dropped, `"stream": true` in a JSON body becomes `false`, and the
//! response says so with `x-elbatt-streaming: unavailable`.

mod function;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::LazyLock;

use axum::body::Body as AxumBody;
use bytes::Bytes;
use elbatt::config::{ConfigError, CorsConfig, Env};
use elbatt::context::Context;
use elbatt::http::{ApiError, BodyLimit, Handler, Response, error_response};
use elbatt::runtime::{BODY_LIMIT, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};

/// Set on responses to requests that asked for a stream the platform cannot deliver.
const STREAMING_HEADER: &str = "x-elbatt-streaming";

/// The function behind its router, built from the environment on the first request. A
/// configuration error is kept (not retried): the environment of an instance never changes.
/// The function's own body limit is kept beside it: a request is rewritten (so read here) only
/// for a function that streams, and is checked against that limit before it is parsed.
static ROUTER: LazyLock<Result<(Router, BodyLimit), ConfigError>> = LazyLock::new(|| {
    let ctx = Context::new(Env::from_process());
    elbatt::telemetry::init(ctx.env());
    let function = function::build(&ctx)?;
    let mut limit = function.body_limit();
    limit.bytes = limit.bytes.min(BODY_LIMIT);
    let cors = CorsConfig::from_env(ctx.env(), false)?;
    Ok((Router::single(function, cors), limit))
});

/// What Scaleway calls for every request.
pub async fn handle(req: axum::extract::Request<AxumBody>) -> axum::response::Response<AxumBody> {
    let (router, limit) = match &*ROUTER {
        Ok((router, limit)) => (router, *limit),
        Err(e) => {
            // The binary would exit 78 here; a function can only answer, and log the variable.
            tracing::error!(variable = e.var, "{e}");
            let err = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "misconfigured",
                "the function is misconfigured; see its logs",
            );
            return buffered(error_response(&err, None)).await;
        }
    };
    let resp = if function::STREAMS {
        whole_answer(router, limit, req, INGRESS_PEER).await
    } else {
        router.handle(req, INGRESS_PEER).await
    };
    buffered(resp).await
}

/// Serves a request to a function that can stream, asking it for a whole answer.
async fn whole_answer(
    router: &Router,
    limit: BodyLimit,
    req: axum::extract::Request<AxumBody>,
    peer: SocketAddr,
) -> Response {
    let (mut parts, body) = req.into_parts();
    // The body is read here (to rewrite it), so the function's limit, which the router enforces
    // while reading, is applied here, before any JSON is parsed.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.bytes as u64) {
        return too_large(limit);
    }
    let bytes = match Limited::new(body, limit.bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(limit),
        Err(e) => {
            tracing::debug!(error = %e, "request body could not be read");
            let err = ApiError::bad_request("request body could not be read");
            return error_response(&err, None);
        }
    };
    let accept_rewritten = drop_event_stream(&mut parts.headers);
    let (bytes, body_rewritten) = match without_stream_flag(&bytes) {
        Some(rewritten) => (rewritten, true),
        None => (bytes, false),
    };
    if body_rewritten {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    let mut resp = router
        .handle(http::Request::from_parts(parts, Full::new(bytes)), peer)
        .await;
    if accept_rewritten || body_rewritten {
        resp.headers_mut()
            .insert(STREAMING_HEADER, HeaderValue::from_static("unavailable"));
    }
    resp
}

fn too_large(limit: BodyLimit) -> Response {
    let mut resp = error_response(&limit.refusal(), None);
    // The rest of the body was not read, so the connection cannot be reused.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Collects the body: Functions cannot stream.
async fn buffered(resp: Response) -> axum::response::Response<AxumBody> {
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await;
    axum::response::Response::from_parts(parts, AxumBody::from(bytes))
}

/// The peer the shared adapter records for the request.
///
/// A function sees no socket peer: Scaleway's ingress has already written the client (and any
/// proxies before it) into `X-Forwarded-For`. Behind a container the adapter appends the
/// ingress's address as the last hop; here that address is unknown, so `0.0.0.0` stands in for
/// it. The header then has the same shape on both platforms (`<client>, <ingress>`), and a
/// setting such as chat's `CHAT_TRUSTED_PROXY_HOPS` means the same on both.
const INGRESS_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Removes `text/event-stream` from `Accept` (leaving `application/json` if nothing else is
/// left). Returns whether the client had asked for it.
fn drop_event_stream(headers: &mut HeaderMap) -> bool {
    let accepts: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let is_sse = |s: &String| {
        s.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
    };
    if !accepts.iter().any(is_sse) {
        return false;
    }
    let rest: Vec<&str> = accepts
        .iter()
        .filter(|s| !is_sse(s))
        .map(String::as_str)
        .collect();
    let value = if rest.is_empty() {
        "application/json".to_owned()
    } else {
        rest.join(", ")
    };
    headers.remove(header::ACCEPT);
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::ACCEPT, v);
    }
    true
}

/// The body with `"stream": true` set to `false`, when it is a JSON object asking for a
/// stream; `None` otherwise (anything else reaches the function untouched, to be judged there).
fn without_stream_flag(body: &[u8]) -> Option<Bytes> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let flag = value.as_object_mut()?.get_mut("stream")?;
    if *flag != serde_json::Value::Bool(true) {
        return None;
    }
    *flag = serde_json::Value::Bool(false);
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_forwarded_chain_keeps_the_client_and_gains_the_unknown_ingress_hop() {
        let mut h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        elbatt::runtime::adapter::add_ingress_headers(&mut h, INGRESS_PEER);
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 0.0.0.0");
    }

    #[test]
    fn an_event_stream_accept_is_replaced_and_other_types_are_kept() {
        let mut h = headers(&[("accept", "text/event-stream")]);
        assert!(drop_event_stream(&mut h));
        assert_eq!(h["accept"], "application/json");
        let mut h = headers(&[("accept", "application/json, Text/Event-Stream;q=0.9")]);
        assert!(drop_event_stream(&mut h));
        assert_eq!(h["accept"], "application/json");
        let mut h = headers(&[("accept", "application/json")]);
        assert!(!drop_event_stream(&mut h));
        assert!(!drop_event_stream(&mut HeaderMap::new()));
    }

    #[test]
    fn stream_true_becomes_false_and_everything_else_is_left_alone() {
        let out = without_stream_flag(br#"{"message":"hei","stream":true}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream"], false);
        assert_eq!(v["message"], "hei");
        assert!(without_stream_flag(br#"{"message":"hei","stream":false}"#).is_none());
        assert!(without_stream_flag(br#"{"message":"hei"}"#).is_none());
        assert!(without_stream_flag(br#"{"stream":"true"}"#).is_none());
        assert!(without_stream_flag(b"[true]").is_none());
        assert!(without_stream_flag(b"not json").is_none());
    }
}
