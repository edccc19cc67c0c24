//! `chat`: the Elbatt assistant. `POST /chat` with `{"message": "…", "history": […],
//! "stream": true|false}` → the answer as SSE or one JSON body; it looks plates up itself
//! (`lookup_vehicle`, through the shared vehicle cache) and answers from a built-in Norwegian
//! FAQ when no model is available (offline mode).
//!
//! Run: `cargo run -p local-dev`, then
//! `curl -N localhost:8000/chat -H 'Content-Type: application/json' -d '{"message":"Hvor lenge varer batterigarantien?","stream":true}'`.
//!
//! Layout: [`api`] (request decoding, limits, errors), [`config`], [`assistant`] (one turn:
//! tools, fallbacks, offline), [`llm`] (the chat-completions client), [`offline`] (FAQ, BM25,
//! plate detection), [`sse`] (events on the wire), [`conversation`] (conversations the store
//! keeps: `conversation_id` in, the id out in the reply, `done` and `x-conversation-id`); the
//! per-client rate limit is `elbatt::limit`.

pub mod api;
pub mod assistant;
pub mod clock;
pub mod config;
pub mod conversation;
pub mod llm;
pub mod offline;
pub mod scenario;
pub mod shared_budget;
pub mod sse;
pub mod turns;
pub mod ws;

use std::sync::Arc;

use elbatt::config::{ConfigError, VarSpec};
use elbatt::context::Context;
use elbatt::http::{
    ApiError, Body, BodyLimit, Function, Request, RequestBody, RequestExt, Response,
    error_response, json, request_id,
};
use elbatt::vehicle::service::VehicleService;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio::sync::mpsc;

use crate::api::{ChatError, Turn, is_json};
use crate::assistant::Assistant;
use crate::config::ChatConfig;
use crate::turns::{ResumeConfig, Tap, Turns};
pub use crate::turns::{Sequenced, Since, Subscription};
use elbatt::limit::Limiter;
use elbatt_store::{NewMessage, Store};

/// The chat function.
#[derive(Debug, Clone)]
pub struct Chat {
    cfg: Arc<ChatConfig>,
    assistant: Arc<Assistant>,
    limiter: Arc<Limiter>,
    store: Arc<Store>,
    turns: Arc<Turns>,
}

/// The response header naming the conversation a turn is stored under.
pub const CONVERSATION_HEADER: &str = "x-conversation-id";
/// Whether a streamed turn can be resumed (`available`: its events are kept) or not
/// (`unavailable`: no store).
pub const RESUME_HEADER: &str = "x-elbatt-resume";

impl Chat {
    /// With a vehicle service shared with `plate-lookup` (one cache per instance).
    pub fn new(cfg: ChatConfig, vehicles: Option<Arc<VehicleService>>) -> Self {
        let cfg = Arc::new(cfg);
        Chat {
            assistant: Arc::new(Assistant::new(Arc::clone(&cfg), vehicles)),
            limiter: Arc::new(Limiter::new(cfg.rate_limit.rate)),
            turns: Arc::new(Turns::new(
                ResumeConfig::default(),
                Arc::new(Store::disabled()),
                cfg.turn_timeout,
            )),
            cfg,
            store: Arc::new(Store::disabled()),
        }
    }

    /// Bounds and expiry of the events kept for resumes (`CHAT_RESUME_*`).
    pub fn with_resume(mut self, resume: ResumeConfig) -> Self {
        self.turns = Arc::new(Turns::new(
            resume,
            Arc::clone(&self.store),
            self.cfg.turn_timeout,
        ));
        self
    }

    /// Keeps conversations in `store` (the process's one, from the `Context`).
    /// The daily token budget and the per-client rate limit are then shared too
    /// ([`shared_budget`], `elbatt::limit::SharedWindow`).
    pub fn with_store(mut self, store: Arc<Store>) -> Self {
        // Just built: nothing else holds the assistant yet.
        if let Some(assistant) = Arc::get_mut(&mut self.assistant) {
            assistant.set_store(Arc::clone(&store));
        }
        let rate = self.cfg.rate_limit.rate;
        self.limiter = Arc::new(Limiter::new(rate).with_shared("chat", rate, store.rate_window()));
        self.turns = Arc::new(Turns::new(
            *self.turns.config(),
            Arc::clone(&store),
            self.cfg.turn_timeout,
        ));
        self.store = store;
        self
    }

    /// The per-client rate limit, shared by `POST /chat`, a resume and the WebSocket.
    ///
    /// # Errors
    /// `429` with the seconds to wait.
    pub async fn admit(&self, client: &HeaderMap) -> Result<(), ChatError> {
        let client = self.cfg.rate_limit.client.key(client);
        self.limiter
            .check_everywhere(client)
            .await
            .map_err(|secs| ChatError::RateLimited {
                retry_after_secs: secs,
            })
    }

    /// Starts a streamed turn for a client that is not `POST /chat` (the WebSocket): the rate
    /// limit, then `body` decoded as `POST /chat`'s JSON (`stream` is ignored).
    ///
    /// # Errors
    /// As `POST /chat` answers before its stream begins.
    pub async fn start(&self, client: &HeaderMap, body: &[u8]) -> Result<Subscription, ChatError> {
        self.admit(client).await?;
        let turn = Turn::parse(body, &self.cfg.limits, true)?;
        let request_id = client
            .get(elbatt::http::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (tx, rx) = mpsc::unbounded_channel();
        let (conversation_id, turn) = self.begin(turn, request_id, Tap::Sequenced(tx)).await?;
        Ok(Subscription::direct(rx, conversation_id, turn))
    }

    /// Resumes a stored conversation's turn after `since` (replay, then live). Rate limiting is
    /// the caller's ([`Chat::admit`]).
    ///
    /// # Errors
    /// `404` unknown conversation or turn, `410` events no longer kept, `400` without a store,
    /// `503` store down.
    pub async fn resume(
        &self,
        conversation_id: &str,
        since: Since,
    ) -> Result<Subscription, ChatError> {
        self.turns.resume(conversation_id, since).await
    }

    /// Prepares and launches a turn; its events go to `tap`. Returns the stored conversation's
    /// id (`None`: stateless) and the turn id.
    async fn begin(
        &self,
        mut turn: Turn,
        request_id: Option<String>,
        tap: Tap,
    ) -> Result<(Option<String>, String), ChatError> {
        let model = self.assistant.prepare(&mut turn).await?;
        let started_ms = elbatt_store::now_ms();
        let plan = conversation::plan(&self.store, &mut turn, &self.cfg.limits).await?;
        let conversation_id = match &plan {
            conversation::Plan::Stored { id, .. } => Some(id.to_string()),
            conversation::Plan::Stateless => None,
        };
        let user = NewMessage::user(turn.message.clone(), started_ms);

        let (turn_tx, turn_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        // The model calls' debug files (LLM_DEBUG_DIR) go under this conversation and turn.
        tokio::spawn(llm::debug::in_turn(
            conversation_id.clone(),
            Arc::clone(&self.assistant).run(turn, model, turn_tx),
        ));
        tokio::spawn(conversation::record(
            Arc::clone(&self.store),
            plan,
            user,
            turn_rx,
            tx,
        ));
        let launch = turns::Launch {
            conversation_id: conversation_id.clone(),
            request_id,
        };
        let turn_id = self.turns.launch(launch, rx, tap);
        Ok((conversation_id, turn_id))
    }

    async fn answer(&self, req: Request) -> Result<Response, ChatError> {
        let headers = req.headers();
        self.admit(headers).await?;
        if !is_json(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        ) {
            return Err(ChatError::UnsupportedMediaType);
        }
        let wants_sse = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"));
        let body: &[u8] = match req.body() {
            RequestBody::Text(t) => t.as_bytes(),
            RequestBody::Binary(b) => b,
            _ => &[],
        };
        let turn = Turn::parse(body, &self.cfg.limits, wants_sse)?;
        let stream = turn.stream;
        let rid = request_id(&req).map(str::to_owned);
        if stream {
            let (tx, rx) = mpsc::unbounded_channel();
            let (conversation_id, turn) = self.begin(turn, rid, Tap::Sequenced(tx)).await?;
            Ok(sse_response(Subscription::direct(
                rx,
                conversation_id,
                turn,
            )))
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            self.begin(turn, rid, Tap::Raw(tx)).await?;
            let reply = sse::collect(rx).await?;
            let mut resp = json(StatusCode::OK, &reply);
            // Only once stored (the reply then carries the id too).
            if let Some(id) = reply
                .conversation_id
                .as_deref()
                .and_then(|id| HeaderValue::from_str(id).ok())
            {
                resp.headers_mut().insert(CONVERSATION_HEADER, id);
            }
            Ok(resp)
        }
    }

    /// `GET /chat/{conversation_id}/events`: `Last-Event-ID` (what the stream's `id:` gave), else
    /// `?since=`, else the latest turn from its start.
    async fn resume_request(
        &self,
        req: &Request,
        conversation_id: &str,
    ) -> Result<Response, ChatError> {
        self.admit(req.headers()).await?;
        let raw = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                req.query_string_parameters()
                    .first("since")
                    .map(str::to_owned)
            });
        let since = match raw.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            Some(raw) => Since::parse(raw).ok_or(ChatError::BadSince)?,
            None => Since::start(),
        };
        let sub = self.turns.resume(conversation_id, since).await?;
        Ok(sse_response(sub))
    }

    async fn route(&self, req: Request) -> Result<Response, ChatError> {
        let events_of = resume_path(req.uri().path()).map(str::to_owned);
        match (req.method(), events_of) {
            (&Method::POST, None) => self.answer(req).await,
            (&Method::GET, Some(id)) => self.resume_request(&req, &id).await,
            // As `dispatch` words `Allow` for a declared route (a Functions zip, mounted at `/`,
            // matches none of the runner's paths and lands here).
            (_, Some(_)) => Ok(not_allowed(&req, "GET, HEAD, OPTIONS")),
            (_, None) => Ok(not_allowed(&req, "POST, OPTIONS")),
        }
    }
}

/// The conversation id of `…/{id}/events` (mounted at `/chat`, with or without the prefix).
fn resume_path(path: &str) -> Option<&str> {
    let rest = path.trim_end_matches('/').strip_suffix("/events")?;
    let (prefix, id) = rest.rsplit_once('/')?;
    (matches!(prefix, "" | "/chat" | "/api/chat") && !id.is_empty()).then_some(id)
}

/// The `405` the router gives, for the method the path serves (each path serves one).
fn not_allowed(req: &Request, allow: &'static str) -> Response {
    let mut resp = error_response(
        &ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{} is not allowed here; use {allow}", req.method()),
        ),
        request_id(req),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// A streamed reply: the subscription as SSE, with the conversation and whether it resumes.
fn sse_response(sub: Subscription) -> Response {
    let conversation = sub
        .conversation_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok());
    let resumable = sub.resumable;
    let mut resp = Response::new(Body::stream(sse::stream(sub)));
    let h = resp.headers_mut();
    if let Some(id) = conversation {
        h.insert(CONVERSATION_HEADER, id);
    }
    h.insert(
        RESUME_HEADER,
        HeaderValue::from_static(if resumable {
            "available"
        } else {
            "unavailable"
        }),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    // Tell nginx (Kubernetes ingress) not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

impl Function for Chat {
    const NAME: &'static str = "chat";
    const METHODS: &'static [Method] = &[Method::POST, Method::GET];
    const ROUTES: &'static [(&'static str, &'static [Method])] = &[
        ("/chat", &[Method::POST]),
        ("/chat/{conversation_id}/events", &[Method::GET]),
    ];
    const STREAMS: bool = true;
    const VARIABLES: &'static [&'static [VarSpec]] = &[
        elbatt::vehicle::VARIABLES,
        elbatt::limit::VARIABLES,
        config::VARIABLES,
        llm::debug::VARIABLES,
        turns::VARIABLES,
        elbatt_store::VARIABLES,
    ];
    type Error = ChatError;

    /// Missing keys are not errors: offline mode and "plate lookup not configured" answer
    /// instead.
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let store = Store::from_context(ctx)?;
        // Plate lookups shared with every instance using the store.
        store.share_vehicle_cache(ctx)?;
        let cfg = ChatConfig::from_env(ctx.env())?;
        let scenarios = scenario::Scenarios::shared(ctx, &store, &cfg);
        let resume = ResumeConfig::from_env(ctx.env())?;
        let chat = Self::new(cfg, ctx.vehicles()?)
            .with_resume(resume)
            .with_store(store)
            .with_scenarios(scenarios);
        // `/api/ws` (runner and container) uses this one: the same limiter, budget and turns.
        ws::remember(ctx, &chat);
        Ok(chat)
    }

    fn call(&self, req: Request) -> impl Future<Output = Result<Response, ChatError>> + Send {
        self.route(req)
    }

    /// `CHAT_MAX_BODY_BYTES`, enforced while the body is read.
    fn body_limit(&self) -> BodyLimit {
        BodyLimit {
            bytes: self.cfg.limits.max_body_bytes,
            setting: Some(config::CHAT_MAX_BODY_BYTES.name),
        }
    }

    fn status(&self) -> String {
        match &self.cfg.api_key {
            None => "offline mode: built-in FAQ (set OPENAI_API_KEY to use a model)".to_owned(),
            Some(_) => format!(
                "{} via {} ({})",
                self.cfg.model,
                self.cfg.provider.name(),
                self.cfg.base_url
            ),
        }
    }
}
