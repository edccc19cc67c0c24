//! The AWS-Lambda-style runtime (`lambda_http::run`), chosen when `AWS_LAMBDA_RUNTIME_API` is
//! set. API Gateway and Function URLs deliver whole responses, so streamed bodies are collected.

use std::sync::Arc;

use http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Body as LambdaBody, RequestExt, service_fn};

use super::adapter::{add_ingress_headers, ensure_request_id};
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

/// What the other adapters add on the way in: API Gateway puts its id in the request context,
/// not in `X-Request-Id`, so it is copied there; and the source address it saw is appended to
/// `X-Forwarded-For` as the hop the runner and container append from their socket peer, so
/// `TRUSTED_PROXY_HOPS` means the same here (without it, a client-sent entry would sit where
/// the limiter looks for the client).
fn with_request_id(mut req: Request) -> Request {
    let (id, source_ip) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.request_id.clone(), ctx.http.source_ip.clone())
        }
        _ => (None, None),
    };
    if !req.headers().contains_key(REQUEST_ID) {
        if let Some(id) = id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
            req.headers_mut().insert(REQUEST_ID, id);
        }
    }
    if let Some(ip) = source_ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) {
        let peer = std::net::SocketAddr::new(ip, 0);
        add_ingress_headers(req.headers_mut(), peer);
    }
    ensure_request_id(req.headers_mut());
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::{ClientIdentity, ClientKey};
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    #[test]
    fn the_source_address_is_appended_so_a_spoofed_entry_is_never_the_client() {
        let mut ctx = ApiGatewayV2httpRequestContext::default();
        ctx.http.source_ip = Some("203.0.113.7".to_owned());
        ctx.request_id = Some("apigw-1".to_owned());
        // API Gateway writes the client after whatever the client sent.
        let req = http::Request::get("/chat")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.7")
            .body(lambda_http::Body::Empty)
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV2(ctx));
        let req = with_request_id(req);
        assert_eq!(
            req.headers()["x-forwarded-for"],
            "6.6.6.6, 203.0.113.7, 203.0.113.7"
        );
        assert_eq!(req.headers()[REQUEST_ID], "apigw-1");
        let key = ClientIdentity { trusted_hops: 1 }.key(req.headers());
        assert_eq!(
            key,
            ClientKey::from("203.0.113.7".parse::<std::net::IpAddr>().unwrap())
        );
    }
}
