//! `GET /openapi.json`: the OpenAPI 3.1 document of the public HTTP API (`docs/openapi.json`),
//! compiled in so the runner and the `elbatt-api` container serve exactly the committed file.
//!
//! The document is written by hand and kept true by tests (`tests/api/openapi.rs`, described
//! in `docs/openapi.md`): every path and method of the router and of each function's
//! [`Function::ROUTES`] against the spec both ways, real responses against its schemas, and
//! schemathesis in CI.

use elbatt::config::ConfigError;
use elbatt::context::Context;
use elbatt::http::{ApiError, Function, Request, Response};
use elbatt::runtime::Router;
use http::{HeaderValue, Method, header};

/// The committed document, byte for byte.
pub const SPEC: &str = include_str!("../../docs/openapi.json");

/// Where it is served.
pub const PATH: &str = "/openapi.json";

/// Serves [`SPEC`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenApi;

impl Function for OpenApi {
    const NAME: &'static str = "openapi";
    const METHODS: &'static [Method] = &[Method::GET];
    const ROUTES: &'static [(&'static str, &'static [Method])] = &[(PATH, &[Method::GET])];
    type Error = ApiError;

    fn from_context(_: &Context) -> Result<Self, ConfigError> {
        Ok(OpenApi)
    }

    async fn call(&self, _: Request) -> Result<Response, ApiError> {
        let mut resp = Response::new(SPEC.into());
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Changes only with a new build; an hour keeps tools from refetching it each run.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        Ok(resp)
    }
}

/// `router` with `/openapi.json` mounted (the function sees the whole path).
#[must_use]
pub fn mount(router: Router) -> Router {
    router.mount_unstripped(PATH, std::sync::Arc::new(OpenApi))
}
