//! `GET /`: the playground (docs/local-dev.md#the-playground), a page for trying the backend by
//! hand: the widget, a plate-lookup form, a model picker from chat's allow-list, the route
//! table and a raw log of the last stream's events.
//!
//! Runner only: it is mounted when the runner listens on loopback, the same test that keeps
//! `http://localhost:*` out of CORS in the `elbatt-api` container, which binds `0.0.0.0`
//! (Dockerfile `HOST`). What the page needs from the server (models, routes) is written into
//! it as JSON when the runner starts, so the page makes no request of its own beyond the
//! widget's.

use std::net::IpAddr;
use std::sync::Arc;

use chat::config::ChatConfig;
use elbatt::config::{ConfigError, Env};
use elbatt::context::Context;
use elbatt::http::{ApiError, Body, Function, Request, Response};
use elbatt::runtime::Router;
use elbatt::runtime::router::RouteInfo;
use http::{HeaderValue, Method, header};
use serde_json::json;

/// The page, with `/*CONFIG*/null` where the JSON goes.
const PAGE: &str = include_str!("../static/playground.html");
const SLOT: &str = "/*CONFIG*/null";

/// Only the runner's own origin: the page and the widget it embeds reach nothing else.
const CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Every method, so that an unknown path under `/` stays a `404` whatever the method (a
/// GET-only mount would answer other methods with `405`, unlike the container).
const ALL: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The playground page, rendered once at start.
#[derive(Debug, Clone)]
pub struct Playground {
    page: String,
}

impl Playground {
    /// The page for a runner with `env` and these routes.
    ///
    /// # Errors
    /// A chat variable is malformed (the chat function would have failed on it first).
    pub fn new(env: &Env, routes: &[RouteInfo]) -> Result<Self, ConfigError> {
        let chat = ChatConfig::from_env(env)?;
        let mut routes: Vec<_> = routes
            .iter()
            .map(|r| json!({"methods": r.methods, "path": r.path, "function": r.function}))
            .collect();
        routes.push(json!({"methods": "GET", "path": "/", "function": "playground"}));
        let config = json!({
            "provider": chat.provider.name(),
            "model": chat.model,
            "models": chat.allowed_models,
            "offline": chat.is_offline(),
            "routes": routes,
        });
        // Inside a <script> element: `<` escaped, so no value can close it.
        let config = config.to_string().replace('<', "\\u003c");
        Ok(Playground {
            page: PAGE.replacen(SLOT, &config, 1),
        })
    }

    fn answer(&self, req: &Request) -> Result<Response, ApiError> {
        if req.uri().path() != "/" || req.method() != Method::GET {
            return Err(ApiError::not_found("no function is mounted at this path"));
        }
        let mut resp = Response::new(Body::full(self.page.clone()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(resp)
    }
}

impl Function for Playground {
    const NAME: &'static str = "playground";
    const METHODS: &'static [Method] = ALL;
    type Error = ApiError;

    /// Without the route table; [`mount`] builds it with one.
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        Playground::new(ctx.env(), &[])
    }

    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        self.answer(&req)
    }

    /// It reads no body, whatever the method.
    fn body_limit(&self) -> elbatt::http::BodyLimit {
        elbatt::http::BodyLimit {
            bytes: 0,
            setting: None,
        }
    }
}

/// Mounts the playground at `/` when the runner listens on loopback (never in the container).
/// Call it last: the page lists the routes mounted before it.
///
/// # Errors
/// A chat variable is malformed.
pub fn mount(router: Router, env: &Env, host: IpAddr) -> Result<Router, ConfigError> {
    if !host.is_loopback() {
        return Ok(router);
    }
    let page = Playground::new(env, &router.routes())?;
    Ok(router.mount("/", Arc::new(page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_allow_list_and_routes_as_json_that_cannot_close_its_script() {
        let env = Env::from_pairs([("LLM_MODELS_INCLUDE", "m-one,</script><b>")]);
        let routes = [RouteInfo {
            methods: "POST".into(),
            strip: true,
            path: "/chat[/*]".into(),
            function: "chat",
        }];
        let p = Playground::new(&env, &routes).unwrap();
        assert!(!p.page.contains(SLOT));
        assert!(
            p.page
                .contains(r#""models":["m-one","\u003c/script>\u003cb>","gpt-4o-mini"]"#)
        );
        assert!(p.page.contains(r#""path":"/chat[/*]""#));
        assert!(p.page.contains(r#""offline":true"#));
    }
}
