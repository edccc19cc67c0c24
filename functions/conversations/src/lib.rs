//! `conversations`: what the store keeps of a chat, and whether the store is ready.
//!
//! - `GET /conversations/{id}` → `200` the conversation with every message (role, content,
//!   vehicles looked up, model, mode, token usage, timestamps); `404` when there is none (never
//!   was, erased, or past retention: the same answer, so an id reveals nothing).
//! - `DELETE /conversations/{id}` → `204`: the conversation and everything derived from it are
//!   erased (the right to erasure); `404` when there is none.
//! - `GET /ready` → `200 {"status":"ready","store":{…}}` when the store answers or none is
//!   configured, `503 {"status":"degraded",…}` when it does not (readiness probes; `/health`
//!   stays dependency-free).
//!
//! The id is the capability (244 random bits), so it is masked in logs. Run:
//! `cargo run -p local-dev`, then `curl localhost:8000/conversations/<id>`
//! (ids come from `POST /chat`).

use std::sync::Arc;

use elbatt::config::{ConfigError, VarSpec};
use elbatt::context::Context;
use elbatt::http::{ApiError, Function, Request, Response, json};
use elbatt_store::{ConversationId, ReadinessState, Store, StoreError};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json as j;

/// The conversations function.
#[derive(Debug, Clone)]
pub struct Conversations {
    store: Arc<Store>,
}

/// The answer when the store cannot serve a conversation right now.
fn unavailable(e: &StoreError) -> ApiError {
    match e {
        StoreError::NotConfigured => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_not_configured",
            "conversations are not kept here (STORE=off)",
        ),
        other => {
            tracing::warn!(error = %other, "conversations: store failed");
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "conversations are unavailable right now; try again",
            );
            err.retry_after = Some("5".to_owned());
            err
        }
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

impl Conversations {
    pub fn new(store: Arc<Store>) -> Self {
        Conversations { store }
    }

    async fn answer(&self, req: Request) -> Result<Response, ApiError> {
        let path = req.uri().path();
        if matches!(path, "/ready" | "/api/ready") {
            return Ok(self.ready(req.method()).await);
        }
        let rest = path.strip_prefix("/conversations").unwrap_or(path);
        let raw = rest.trim_matches('/');
        if raw.is_empty() {
            return Err(ApiError::not_found(
                "use /conversations/{id} with an id from POST /chat",
            ));
        }
        let Some(id) = ConversationId::parse(raw) else {
            return Err(ApiError::not_found("no such conversation"));
        };
        let backend = self.store.backend().await.map_err(|e| unavailable(&e))?;
        if req.method() == Method::DELETE {
            return match backend.delete(&id).await {
                Ok(true) => {
                    let mut resp = Response::new(elbatt::http::Body::empty());
                    *resp.status_mut() = StatusCode::NO_CONTENT;
                    Ok(resp)
                }
                Ok(false) => Err(ApiError::not_found("no such conversation")),
                Err(e) => Err(unavailable(&e)),
            };
        }
        match backend.conversation(&id).await {
            Ok(Some(c)) => {
                let mut resp = json(StatusCode::OK, &c);
                no_store(&mut resp);
                Ok(resp)
            }
            Ok(None) => Err(ApiError::not_found("no such conversation")),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn ready(&self, method: &Method) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                &j!({"error": {"code": "method_not_allowed", "message": "use GET /ready"}}),
            );
        }
        let store = self.store.readiness().await;
        let (status, word) = match store.state {
            ReadinessState::Ok | ReadinessState::NotConfigured => (StatusCode::OK, "ready"),
            ReadinessState::Degraded => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
        };
        let mut resp = json(status, &j!({"status": word, "store": store}));
        no_store(&mut resp);
        resp
    }
}

impl Function for Conversations {
    const NAME: &'static str = "conversations";
    const METHODS: &'static [Method] = &[Method::GET, Method::DELETE];
    const ROUTES: &'static [(&'static str, &'static [Method])] = &[
        ("/conversations/{id}", &[Method::GET, Method::DELETE]),
        ("/ready", &[Method::GET]),
    ];
    const VARIABLES: &'static [&'static [VarSpec]] = &[elbatt_store::VARIABLES];
    type Error = ApiError;

    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        Ok(Conversations::new(Store::from_context(ctx)?))
    }

    fn call(&self, req: Request) -> impl Future<Output = Result<Response, ApiError>> + Send {
        self.answer(req)
    }

    /// The id is a capability: never in a log line.
    fn loggable_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix("/conversations/") {
            Some(rest) if !rest.is_empty() => "/conversations/{id}".into(),
            _ if !path.starts_with("/conversations") && path.len() > 60 => "/{id}".into(),
            _ => path.into(),
        }
    }

    fn status(&self) -> String {
        format!("store: {}", self.store.mode().describe())
    }

    /// `DELETE` carries no body.
    fn body_limit(&self) -> elbatt::http::BodyLimit {
        elbatt::http::BodyLimit {
            bytes: 0,
            setting: None,
        }
    }
}
