//! `health`: the liveness check that deploy checks and platform probes call.
//!
//! - `GET /health` (and `/` on its own endpoint) → `200 {"status":"healthy"}`, byte for byte
//!   what `scripts/deploy.sh` checks after a Scaleway deploy.
//! - `GET /api/health` → `200 {"ok":true}`, what the Kubernetes deployment checks.
//!
//! It touches no network, disk or secret and needs no configuration, so it answers even when
//! every other setting is missing. Run it alone with `cargo run -p health` (port 8080) or
//! through the runner: `cargo run -p local-dev` then `curl localhost:8000/health`.

use elbatt::config::ConfigError;
use elbatt::context::Context;
use elbatt::http::{ApiError, Function, Request, Response};
use http::{HeaderValue, Method, StatusCode, header};

const HEALTHY: &str = r#"{"status":"healthy"}"#;
const OK: &str = r#"{"ok":true}"#;

/// The health function. It has no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl Health {
    fn answer(req: &Request) -> Result<Response, ApiError> {
        // `/health` reaches us as `/` under the runner (prefix stripped) and as `/health` on our
        // own endpoint; `/api/health` is mounted unstripped, so it arrives whole everywhere.
        let body = match req.uri().path() {
            "/" | "/health" => HEALTHY,
            "/api/health" => OK,
            _ => return Err(ApiError::not_found("unknown health path; use /health")),
        };
        let mut resp = Response::new(body.into());
        *resp.status_mut() = StatusCode::OK;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    }
}

impl Function for Health {
    const NAME: &'static str = "health";
    const METHODS: &'static [Method] = &[Method::GET];
    const ROUTES: &'static [(&'static str, &'static [Method])] =
        &[("/health", &[Method::GET]), ("/api/health", &[Method::GET])];
    type Error = ApiError;

    /// Reads nothing: health answers even when every other setting is missing.
    fn from_context(_: &Context) -> Result<Self, ConfigError> {
        Ok(Health)
    }

    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        Health::answer(&req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(resp: Response) -> String {
        String::from_utf8(resp.into_body().collect().await.to_vec()).unwrap()
    }

    fn get(path: &str) -> Request {
        http::Request::get(path).body(Default::default()).unwrap()
    }

    #[tokio::test]
    async fn health_answers_the_runbook_body_byte_for_byte() {
        for path in ["/", "/health"] {
            let resp = Health.call(get(path)).await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(body_of(resp).await, r#"{"status":"healthy"}"#);
        }
    }

    #[tokio::test]
    async fn the_kubernetes_path_answers_ok_true() {
        assert_eq!(
            body_of(Health.call(get("/api/health")).await.unwrap()).await,
            r#"{"ok":true}"#
        );
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let err = Health.call(get("/nope")).await.unwrap_err();
        assert_eq!(elbatt::http::HttpError::status(&err), 404);
    }
}
