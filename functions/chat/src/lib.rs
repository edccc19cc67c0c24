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
pub mod shared_budget;
pub mod sse;

use std::sync::Arc;

use elbatt::config::{ConfigError, VarSpec};
use elbatt::context::Context;
use elbatt::http::{
    Body, BodyLimit, BoxFuture, Function, Request, RequestBody, Response, json, request_id,
};
use elbatt::vehicle::service::VehicleService;
use http::{HeaderValue, Method, StatusCode, header};
use tokio::sync::mpsc;

use crate::api::{ChatError, Turn, is_json};
use crate::assistant::Assistant;
use crate::config::ChatConfig;
use elbatt::limit::Limiter;
use elbatt_store::{NewMessage, Store};

/// The chat function.
#[derive(Debug, Clone)]
pub struct Chat {
    cfg: Arc<ChatConfig>,
    assistant: Arc<Assistant>,
    limiter: Arc<Limiter>,
    store: Arc<Store>,
}

/// The response header naming the conversation a turn is stored under.
pub const CONVERSATION_HEADER: &str = "x-conversation-id";

impl Chat {
    /// With a vehicle service shared with `plate-lookup` (one cache per instance).
    pub fn new(cfg: ChatConfig, vehicles: Option<Arc<VehicleService>>) -> Self {
        let cfg = Arc::new(cfg);
        Chat {
            assistant: Arc::new(Assistant::new(Arc::clone(&cfg), vehicles)),
            limiter: Arc::new(Limiter::new(cfg.rate_limit.rate)),
            cfg,
            store: Arc::new(Store::disabled()),
        }
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
        self.store = store;
        self
    }

    async fn answer(&self, req: Request) -> Result<Response, ChatError> {
        let headers = req.headers();
        let client = self.cfg.rate_limit.client.key(headers);
        self.limiter
            .check_everywhere(client)
            .await
            .map_err(|secs| ChatError::RateLimited {
                retry_after_secs: secs,
            })?;
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
        let mut turn = Turn::parse(body, &self.cfg.limits, wants_sse)?;
        let model = self.assistant.choose_model(turn.model.as_deref())?;
        let stream = turn.stream;
        let started_ms = elbatt_store::now_ms();
        let plan = conversation::plan(&self.store, &mut turn, &self.cfg.limits).await?;
        let header_id = match &plan {
            conversation::Plan::Stored { id, .. } => HeaderValue::from_str(id.as_str()).ok(),
            conversation::Plan::Stateless => None,
        };
        let user = NewMessage::user(turn.message.clone(), started_ms);

        let (turn_tx, turn_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&self.assistant).run(turn, model, turn_tx));
        tokio::spawn(conversation::record(
            Arc::clone(&self.store),
            plan,
            user,
            turn_rx,
            tx,
        ));
        let rid = request_id(&req).map(str::to_owned);
        if stream {
            let mut resp = Response::new(Body::stream(sse::stream(rx, rid)));
            let h = resp.headers_mut();
            if let Some(id) = header_id {
                h.insert(CONVERSATION_HEADER, id);
            }
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
            Ok(resp)
        } else {
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
}

impl Function for Chat {
    const NAME: &'static str = "chat";
    const METHODS: &'static [Method] = &[Method::POST];
    const STREAMS: bool = true;
    const VARIABLES: &'static [&'static [VarSpec]] = &[
        elbatt::vehicle::VARIABLES,
        elbatt::limit::VARIABLES,
        config::VARIABLES,
        elbatt_store::VARIABLES,
    ];
    type Error = ChatError;

    /// Missing keys are not errors: offline mode and "plate lookup not configured" answer
    /// instead.
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let store = Store::from_context(ctx)?;
        // Plate lookups shared with every instance using the store.
        store.share_vehicle_cache(ctx)?;
        Ok(Self::new(ChatConfig::from_env(ctx.env())?, ctx.vehicles()?).with_store(store))
    }

    fn call(&self, req: Request) -> BoxFuture<'_, Result<Response, ChatError>> {
        Box::pin(self.answer(req))
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
