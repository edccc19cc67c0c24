//! The one error shape every function answers with, and the trait each concern's error type
//! implements to reach it.
//!
//! Body: `{"error":{"code":"not_found","message":"…","request_id":"…"}}`. 4xx messages tell the
//! caller what to change; 5xx messages are generic (the cause is logged once, never sent).

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::{Body, Response};

/// Implemented by each concern's error enum (plate parsing, vehicle lookup, chat…) so one place
/// turns it into a response.
pub trait HttpError: std::fmt::Display {
    fn status(&self) -> StatusCode;
    /// Stable, machine-readable, snake_case.
    fn code(&self) -> &'static str;
    /// What the client is told. Defaults to the `Display` text for 4xx and a generic sentence for
    /// 5xx, so internals never leak by accident.
    fn public_message(&self) -> String {
        if self.status().is_server_error() {
            generic_message(self.status()).to_owned()
        } else {
            self.to_string()
        }
    }
    /// `Retry-After` to pass on (seconds or an HTTP date).
    fn retry_after(&self) -> Option<String> {
        None
    }
}

fn generic_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_GATEWAY => "an upstream service failed; try again later",
        StatusCode::SERVICE_UNAVAILABLE => "the service is unavailable right now; try again later",
        StatusCode::GATEWAY_TIMEOUT => "an upstream service did not answer in time",
        _ => "internal error",
    }
}

/// A ready-made error for the cases the HTTP layer itself detects (404, 405, 413, 415…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the {limit}-byte limit"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl HttpError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn code(&self) -> &'static str {
        self.code
    }
    fn public_message(&self) -> String {
        self.message.clone()
    }
    fn retry_after(&self) -> Option<String> {
        self.retry_after.clone()
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// The JSON text of an error, for places that need it outside a response (SSE error events).
pub fn error_json(err: &dyn HttpError, request_id: Option<&str>) -> String {
    let message = err.public_message();
    let body = ErrorBody {
        error: ErrorDetail {
            code: err.code(),
            message: &message,
            request_id,
        },
    };
    serde_json::to_string(&body).unwrap_or_else(|_| {
        String::from(r#"{"error":{"code":"internal","message":"internal error"}}"#)
    })
}

/// The response for an error. Server errors are logged here with their full `Display` text, which
/// is the one place the cause is recorded.
pub fn error_response(err: &dyn HttpError, request_id: Option<&str>) -> Response {
    let status = err.status();
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), code = err.code(), cause = %err, "request failed");
    }
    let mut resp = Response::new(Body::from(error_json(err, request_id)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = err
        .retry_after()
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Leaky;
    impl std::fmt::Display for Leaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("upstream said: key sk-123 refused")
        }
    }
    impl HttpError for Leaky {
        fn status(&self) -> StatusCode {
            StatusCode::BAD_GATEWAY
        }
        fn code(&self) -> &'static str {
            "upstream_error"
        }
    }

    #[tokio::test]
    async fn server_errors_never_show_their_cause() {
        let resp = error_response(&Leaky, Some("rid-1"));
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let body = resp.into_body().collect().await;
        let text = std::str::from_utf8(&body).unwrap();
        assert!(!text.contains("sk-123"), "{text}");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["error"]["code"], "upstream_error");
        assert_eq!(v["error"]["request_id"], "rid-1");
    }

    #[tokio::test]
    async fn client_errors_say_what_was_wrong_and_pass_retry_after() {
        let mut err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        err.retry_after = Some("7".into());
        let resp = error_response(&err, None);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await;
        assert_eq!(
            body,
            r#"{"error":{"code":"rate_limited","message":"slow down"}}"#
        );
    }
}
