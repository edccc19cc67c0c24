//! `scenarios`: bot profiles (system prompt, model, temperature, tools, greeting, language,
//! tags) kept in the store; `POST /chat` names one with `"scenario": "<id>"`. Manual:
//! `docs/scenarios.md`.
//!
//! - `GET /api/scenarios` → `200 {"scenarios":[…]}`; `GET /api/scenarios/{id}` → `200` or `404`;
//!   `GET /api/scenarios/{id}/history` → `200 {"history":[…]}` (every write, oldest first).
//! - `POST /api/scenarios` → `201` (+ `Location`), `409` for a taken id, `400` for a bad body;
//!   `PUT /api/scenarios/{id}` (a full replacement) → `200`; `DELETE` → `204`; `404` unknown.
//! - Every write needs `Authorization: Bearer $ADMIN_TOKEN` ([`auth`]): none → `401` with
//!   `WWW-Authenticate: Bearer`, a wrong one → `403`, none configured → `403 admin_disabled`.
//! - A stored scenario tagged `published` is locked: `PUT`/`DELETE` answer `423` unless
//!   `X-Edit-Token` is `PUBLISHED_EDIT_TOKEN` (never without one configured). Publishing an
//!   unlocked scenario needs only the admin token; un-publishing is a change to a locked one.
//! - A scenario's model must be on the allow-list (`LLM_MODELS_INCLUDE`) when saved, and is
//!   checked again at every chat.
//!
//! Run: `ADMIN_TOKEN=… cargo run -p local-dev`, then `curl localhost:8000/api/scenarios`.

pub mod auth;

use std::sync::Arc;

use chat::config::ChatConfig;
use chat::scenario::Scenarios;
use elbatt::config::{ConfigError, VarSpec};
use elbatt::context::Context;
use elbatt::http::{
    Body, BodyLimit, Function, HttpError, Request, RequestBody, Response, error_response, json,
    request_id,
};
use elbatt_store::scenarios::{InvalidScenario, Scenario, ScenarioId, ScenarioInput, Written};
use elbatt_store::{Store, StoreError};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json as j;

use crate::auth::{Refusal, Tokens};

/// The header carrying the edit token.
pub const EDIT_TOKEN_HEADER: &str = "x-edit-token";
/// The mount prefix in the runner and the container.
pub const PREFIX: &str = "/api/scenarios";
/// A body holds at most a 20,000-character prompt (up to 4 bytes each) and small fields.
pub const BODY_LIMIT: usize = 128 * 1024;

/// Everything a scenarios request can meet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("writes need `Authorization: Bearer <ADMIN_TOKEN>`")]
    Unauthorized,
    #[error("that is not the admin token")]
    WrongToken,
    #[error("scenario writes are disabled here: ADMIN_TOKEN is not set")]
    AdminDisabled,
    #[error(
        "scenario {0:?} is published and locked: changing it needs the edit token in X-Edit-Token"
    )]
    Locked(String),
    #[error(
        "scenario {0:?} is published, and published scenarios cannot be changed here (PUBLISHED_EDIT_TOKEN is not set)"
    )]
    LockedForGood(String),
    #[error("no such scenario")]
    NotFound,
    #[error("a scenario with id {0:?} exists already; change it with PUT /api/scenarios/{0}")]
    Duplicate(String),
    #[error("the scenario changed while this request was handled; read it again and retry")]
    Changed,
    #[error("{0}")]
    Invalid(String),
    #[error("model {0:?} is not allowed here; allowed: {1}")]
    ModelNotAllowed(String, String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("send the scenario as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("scenarios are not kept here (STORE=off)")]
    StoreOff,
    #[error("scenarios are unavailable right now; try again")]
    StoreUnavailable,
}

impl HttpError for ScenarioError {
    fn status(&self) -> StatusCode {
        match self {
            ScenarioError::Unauthorized => StatusCode::UNAUTHORIZED,
            ScenarioError::WrongToken | ScenarioError::AdminDisabled => StatusCode::FORBIDDEN,
            ScenarioError::Locked(_) | ScenarioError::LockedForGood(_) => StatusCode::LOCKED,
            ScenarioError::NotFound => StatusCode::NOT_FOUND,
            ScenarioError::Duplicate(_) | ScenarioError::Changed => StatusCode::CONFLICT,
            ScenarioError::Invalid(_) | ScenarioError::ModelNotAllowed(..) => {
                StatusCode::BAD_REQUEST
            }
            ScenarioError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ScenarioError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ScenarioError::StoreOff | ScenarioError::StoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ScenarioError::Unauthorized => "unauthorized",
            ScenarioError::WrongToken => "forbidden",
            ScenarioError::AdminDisabled => "admin_disabled",
            ScenarioError::Locked(_) | ScenarioError::LockedForGood(_) => "locked",
            ScenarioError::NotFound => "scenario_not_found",
            ScenarioError::Duplicate(_) => "duplicate_id",
            ScenarioError::Changed => "changed_concurrently",
            ScenarioError::Invalid(_) => "invalid_scenario",
            ScenarioError::ModelNotAllowed(..) => "model_not_allowed",
            ScenarioError::UnsupportedMediaType => "unsupported_media_type",
            ScenarioError::MethodNotAllowed(_) => "method_not_allowed",
            ScenarioError::StoreOff => "store_not_configured",
            ScenarioError::StoreUnavailable => "store_unavailable",
        }
    }

    /// A 503 here says what is missing (the generic text would hide `STORE=off`).
    fn public_message(&self) -> String {
        self.to_string()
    }

    fn retry_after(&self) -> Option<String> {
        matches!(self, ScenarioError::StoreUnavailable).then(|| "5".to_owned())
    }
}

impl From<InvalidScenario> for ScenarioError {
    fn from(e: InvalidScenario) -> Self {
        ScenarioError::Invalid(e.to_string())
    }
}

/// The scenarios function.
#[derive(Debug, Clone)]
pub struct ScenariosApi {
    scenarios: Arc<Scenarios>,
    tokens: Arc<Tokens>,
    allowed_models: Arc<[String]>,
}

/// What a request addresses, from its path.
enum Target {
    All,
    One(ScenarioId),
    History(ScenarioId),
}

fn target(path: &str) -> Result<Target, ScenarioError> {
    let rest = path.strip_prefix(PREFIX).unwrap_or(path).trim_matches('/');
    if rest.is_empty() {
        return Ok(Target::All);
    }
    let (raw, history) = match rest.strip_suffix("/history") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    // A malformed id names no scenario.
    let id = ScenarioId::parse(raw).map_err(|_| ScenarioError::NotFound)?;
    Ok(if history {
        Target::History(id)
    } else {
        Target::One(id)
    })
}

fn store_error(scenarios: &Scenarios, e: &StoreError) -> ScenarioError {
    match e {
        StoreError::NotConfigured => ScenarioError::StoreOff,
        StoreError::Conflict => ScenarioError::Changed,
        other => {
            scenarios.store().mark(false, Some(other));
            tracing::warn!(error = %other, "scenarios: store failed");
            ScenarioError::StoreUnavailable
        }
    }
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl ScenariosApi {
    pub fn new(scenarios: Arc<Scenarios>, tokens: Tokens, allowed_models: Vec<String>) -> Self {
        ScenariosApi {
            scenarios,
            tokens: Arc::new(tokens),
            allowed_models: allowed_models.into(),
        }
    }

    async fn answer(&self, req: &Request) -> Result<Response, ScenarioError> {
        let target = target(req.uri().path())?;
        let method = req.method().clone();
        if method != Method::GET {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            auth::check_admin(&self.tokens, authorization).map_err(|r| match r {
                Refusal::Disabled => ScenarioError::AdminDisabled,
                Refusal::Missing => ScenarioError::Unauthorized,
                Refusal::Wrong => ScenarioError::WrongToken,
            })?;
        }
        let backend = self
            .scenarios
            .backend()
            .await
            .map_err(|e| store_error(&self.scenarios, &e))?;
        let err = |e: StoreError| store_error(&self.scenarios, &e);
        match (method, target) {
            (Method::GET, Target::All) => {
                let all = backend.scenario_list().await.map_err(err)?;
                Ok(no_store(json(StatusCode::OK, &j!({ "scenarios": all }))))
            }
            (Method::GET, Target::One(id)) => {
                let found = backend.scenario_get(&id).await.map_err(err)?;
                let s = found.ok_or(ScenarioError::NotFound)?;
                Ok(no_store(json(StatusCode::OK, &s)))
            }
            (Method::GET, Target::History(id)) => {
                let trail = backend.scenario_audit(&id).await.map_err(err)?;
                if trail.is_empty() {
                    return Err(ScenarioError::NotFound);
                }
                Ok(no_store(json(StatusCode::OK, &j!({ "history": trail }))))
            }
            (Method::POST, Target::All) => {
                let s = self.parse(req, None, None)?;
                match backend.scenario_create(&s).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => {
                        return Err(ScenarioError::Duplicate(s.id.to_string()));
                    }
                    Err(e) => return Err(err(e)),
                }
                self.scenarios.forget(&s.id);
                tracing::info!(id = %s.id, version = s.version, published = s.is_published(), "scenarios: created");
                let mut resp = json(StatusCode::CREATED, &s);
                if let Ok(v) = HeaderValue::from_str(&format!("{PREFIX}/{}", s.id)) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                Ok(resp)
            }
            (Method::PUT, Target::One(id)) => {
                let current = backend
                    .scenario_get(&id)
                    .await
                    .map_err(err)?
                    .ok_or(ScenarioError::NotFound)?;
                self.check_lock(req, &current)?;
                let s = self.parse(req, Some(&id), Some(&current))?;
                if s.same_content(&current) {
                    return Ok(json(StatusCode::OK, &current));
                }
                match backend.scenario_update(&s).await.map_err(err)? {
                    Written::Done => {}
                    Written::Stale => return Err(ScenarioError::Changed),
                }
                self.scenarios.forget(&id);
                tracing::info!(id = %id, version = s.version, published = s.is_published(), "scenarios: updated");
                Ok(json(StatusCode::OK, &s))
            }
            (Method::DELETE, Target::One(id)) => {
                let current = backend
                    .scenario_get(&id)
                    .await
                    .map_err(err)?
                    .ok_or(ScenarioError::NotFound)?;
                self.check_lock(req, &current)?;
                let now = elbatt_store::now_ms();
                match backend
                    .scenario_delete(&id, current.version, now)
                    .await
                    .map_err(err)?
                {
                    Written::Done => {}
                    Written::Stale => return Err(ScenarioError::Changed),
                }
                self.scenarios.forget(&id);
                tracing::info!(id = %id, version = current.version, "scenarios: deleted");
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            (m, _) => Err(ScenarioError::MethodNotAllowed(format!(
                "{m} is not served here: POST /api/scenarios creates, PUT and DELETE \
                 /api/scenarios/{{id}} change one"
            ))),
        }
    }

    /// A published scenario needs the edit token for any change; without one configured it
    /// cannot be changed at all.
    fn check_lock(&self, req: &Request, current: &Scenario) -> Result<(), ScenarioError> {
        if !current.is_published() {
            return Ok(());
        }
        if self.tokens.edit.is_none() {
            return Err(ScenarioError::LockedForGood(current.id.to_string()));
        }
        let presented = req
            .headers()
            .get(EDIT_TOKEN_HEADER)
            .map(HeaderValue::as_bytes);
        if auth::unlocks(&self.tokens, presented) {
            Ok(())
        } else {
            tracing::warn!(id = %current.id, "scenarios: a change to a published scenario without the edit token");
            Err(ScenarioError::Locked(current.id.to_string()))
        }
    }

    /// The request body as a checked scenario.
    fn parse(
        &self,
        req: &Request,
        path_id: Option<&ScenarioId>,
        existing: Option<&Scenario>,
    ) -> Result<Scenario, ScenarioError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !chat::api::is_json(ct) {
            return Err(ScenarioError::UnsupportedMediaType);
        }
        let body: &[u8] = match req.body() {
            RequestBody::Text(t) => t.as_bytes(),
            RequestBody::Binary(b) => b,
            _ => &[],
        };
        let input: ScenarioInput = serde_json::from_slice(body)
            .map_err(|e| ScenarioError::Invalid(format!("the body is not a scenario: {e}")))?;
        let s = input.into_scenario(path_id, existing, elbatt_store::now_ms())?;
        if let Some(m) = &s.model {
            if !self.allowed_models.contains(m) {
                return Err(ScenarioError::ModelNotAllowed(
                    m.clone(),
                    self.allowed_models.join(", "),
                ));
            }
        }
        Ok(s)
    }
}

impl Function for ScenariosApi {
    const NAME: &'static str = "scenarios";
    const METHODS: &'static [Method] = &[Method::GET, Method::POST, Method::PUT, Method::DELETE];
    const ROUTES: &'static [(&'static str, &'static [Method])] = &[
        (PREFIX, &[Method::GET, Method::POST]),
        (
            "/api/scenarios/{id}",
            &[Method::GET, Method::PUT, Method::DELETE],
        ),
        ("/api/scenarios/{id}/history", &[Method::GET]),
    ];
    const VARIABLES: &'static [&'static [VarSpec]] = &[
        auth::VARIABLES,
        chat::config::VARIABLES,
        elbatt_store::VARIABLES,
    ];
    type Error = ScenarioError;

    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let store = Store::from_context(ctx)?;
        let cfg = ChatConfig::from_env(ctx.env())?;
        let scenarios = Scenarios::shared(ctx, &store, &cfg);
        Ok(ScenariosApi::new(
            scenarios,
            Tokens::from_env(ctx.env())?,
            cfg.allowed_models,
        ))
    }

    async fn call(&self, req: Request) -> Result<Response, ScenarioError> {
        match self.answer(&req).await {
            // The challenge header is part of a 401 (RFC 9110 §11.6.1); the error type
            // carries no headers, so this one is answered here.
            Err(e @ ScenarioError::Unauthorized) => {
                let mut resp = error_response(&e, request_id(&req));
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"elbatt-admin\""),
                );
                Ok(resp)
            }
            other => other,
        }
    }

    fn status(&self) -> String {
        let writes = if self.tokens.admin.is_some() {
            "writes with ADMIN_TOKEN"
        } else {
            "read-only (ADMIN_TOKEN unset)"
        };
        let lock = if self.tokens.edit.is_some() {
            "published ones with PUBLISHED_EDIT_TOKEN"
        } else {
            "published ones locked for good (PUBLISHED_EDIT_TOKEN unset)"
        };
        format!(
            "{writes}; {lock}; store: {}",
            self.scenarios.store().mode().name()
        )
    }

    fn body_limit(&self) -> BodyLimit {
        BodyLimit {
            bytes: BODY_LIMIT,
            setting: None,
        }
    }
}
