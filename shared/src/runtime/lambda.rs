//! The AWS-Lambda-style runtime (`lambda_http::run`), chosen when `AWS_LAMBDA_RUNTIME_API` is
//! set. API Gateway and Function URLs deliver whole responses, so streamed bodies are collected.

use std::sync::Arc;

use http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Body as LambdaBody, RequestExt, service_fn};

use super::adapter::ensure_request_id;
use crate::config::CorsConfig;
use crate::http::{Handler, REQUEST_ID, Request, dispatch};

/// Runs `function` against the Lambda Runtime API until the runtime stops it.
///
/// # Errors
/// The runtime API could not be reached or answered nonsense.
pub async fn run(function: Arc<dyn Handler>, cors: CorsConfig) -> Result<(), lambda_http::Error> {
    let cors = Arc::new(cors);
    lambda_http::run(service_fn(move |req: Request| {
        let function = Arc::clone(&function);
        let cors = Arc::clone(&cors);
        async move {
            let resp = dispatch(function.as_ref(), &cors, with_request_id(req)).await;
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await;
            let is_text = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/") || ct.contains("json"));
            let body = match (bytes.is_empty(), is_text) {
                (true, _) => LambdaBody::Empty,
                (false, true) => match String::from_utf8(bytes.to_vec()) {
                    Ok(s) => LambdaBody::Text(s),
                    Err(e) => LambdaBody::Binary(e.into_bytes()),
                },
                (false, false) => LambdaBody::Binary(bytes.to_vec()),
            };
            Ok::<_, lambda_http::Error>(http::Response::from_parts(parts, body))
        }
    }))
    .await
}

/// API Gateway puts its id in the request context, not in `X-Request-Id`: copy it there so
/// handlers read the id the same way on every platform.
fn with_request_id(mut req: Request) -> Request {
    if !req.headers().contains_key(REQUEST_ID) {
        let from_ctx = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        if let Some(id) = from_ctx.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
            req.headers_mut().insert(REQUEST_ID, id);
        }
    }
    ensure_request_id(req.headers_mut());
    req
}
