//! One chat turn: the system prompt, the client's history and the new message go to the model
//! with the `lookup_vehicle` tool; tool calls are answered from the shared vehicle lookup (the
//! same cache as `/plate-lookup`, in process); at most [`ChatConfig::max_tool_rounds`] rounds,
//! and at most [`ChatConfig::max_tool_calls_per_round`] and
//! [`ChatConfig::max_tool_calls_per_turn`] calls run (the model gets a tool result for every
//! call it made, saying so for those not run).
//!
//! Every lookup is bounded by the turn's deadline (`CHAT_TURN_TIMEOUT_SECS`), not only by the
//! Statens vegvesen client's own timeouts: a tool call may use the time left minus a reserve for
//! the model's answer, an offline lookup the time left. A lookup that cannot finish in time is
//! answered as such (it goes on in the background and fills the cache for the next question).
//! When no model is configured, the daily token budget is spent, or every model fails before
//! any text reached the user, the turn is answered in offline mode from the built-in FAQ.
//!
//! A turn may run with a scenario (`crate::scenario`): its system prompt, language, model,
//! temperature and tools replace the deployment's for that turn ([`Assistant::prepare`]).
//!
//! The turn reports what happens as [`TurnEvent`]s on a channel; the handler turns them into
//! SSE or one JSON body, so streaming and buffered answers share every code path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use elbatt::http::HttpError;
use elbatt::plate::Plate;
use elbatt::vehicle::VehicleSummary;
use elbatt::vehicle::client::LookupError;
use elbatt::vehicle::service::VehicleService;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::{ChatError, Role, Turn};
use crate::config::ChatConfig;
use crate::llm::stream::Completion;
use crate::llm::wire::{
    ChatRequest, Message, StreamOptions, ToolCall, ToolChoice, ToolSpec, Usage,
};
use crate::llm::{LlmClient, LlmError};
use crate::offline;
use crate::scenario::Scenarios;
use crate::shared_budget::{self, Reserve};
use elbatt_store::Store;
use elbatt_store::StoreError;

/// The one tool the model may call.
pub const TOOL_NAME: &str = "lookup_vehicle";

/// The error code of a lookup the turn's deadline cut short.
const OUT_OF_TIME: &str = "out_of_time";
/// The error code of a tool call not run because of a cap on tool calls.
const TOOL_CALL_LIMIT: &str = "tool_call_limit";

/// What a turn produces, in order.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// Answer text, as it arrives.
    Text(String),
    /// A vehicle lookup finished (found or not).
    Vehicle(VehicleEvent),
    /// The turn is complete.
    Done(DoneInfo),
    /// The turn failed (after streaming began, or before with nothing to fall back on).
    Error(ChatError),
}

/// The payload of a `vehicle` event.
#[derive(Debug, Clone, Serialize)]
pub struct VehicleEvent {
    /// The plate as normalised, or what the model sent if it was no plate.
    pub plate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Arc<VehicleSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Model,
    Offline,
}

/// Why a turn was answered offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineReason {
    /// No LLM key configured.
    NotConfigured,
    /// The daily token budget is spent.
    BudgetSpent,
    /// Every model failed before answering.
    ProviderFailed,
}

/// The payload of the `done` event.
#[derive(Debug, Clone, Serialize)]
pub struct DoneInfo {
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_reason: Option<OfflineReason>,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// The stored conversation this turn now belongs to; set (after the turn is stored) by
    /// [`crate::conversation`], absent in stateless mode or when the store failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// A per-instance daily token budget (`CHAT_DAILY_TOKEN_BUDGET`), reset at midnight UTC.
#[derive(Debug)]
pub struct Budget {
    limit: Option<u64>,
    /// Day number (days since 1970-01-01 UTC) and tokens used that day, packed so one atomic
    /// holds both: high 24 bits day, low 40 bits tokens.
    state: AtomicU64,
}

impl Budget {
    pub fn new(limit: Option<u64>) -> Self {
        if let Some(limit) = limit {
            elbatt::metrics::budget_left(limit);
        }
        Budget {
            limit,
            state: AtomicU64::new(0),
        }
    }

    fn today() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400)
    }

    fn used_today(&self) -> u64 {
        let s = self.state.load(Ordering::Relaxed);
        if s >> 40 == Self::today() {
            s & ((1 << 40) - 1)
        } else {
            0
        }
    }

    pub fn spent(&self) -> bool {
        self.limit.is_some_and(|limit| self.used_today() >= limit)
    }

    pub fn record(&self, tokens: u64) {
        let today = Self::today();
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                let used = if s >> 40 == today {
                    s & ((1 << 40) - 1)
                } else {
                    0
                };
                Some((today << 40) | (used + tokens).min((1 << 40) - 1))
            });
        elbatt::metrics::tokens_used(tokens);
        if let Some(limit) = self.limit {
            elbatt::metrics::budget_left(limit.saturating_sub(self.used_today()));
        }
    }
}

/// Everything a turn needs, built once per instance.
#[derive(Debug)]
pub struct Assistant {
    cfg: Arc<ChatConfig>,
    llm: Option<LlmClient>,
    vehicles: Option<Arc<VehicleService>>,
    budget: Budget,
    /// Where the shared daily budget lives ([`crate::shared_budget`]); `None`: per instance.
    store: Option<Arc<Store>>,
    /// Scenarios a turn may name; `None`: built without a `Context` (no store).
    scenarios: Option<Arc<Scenarios>>,
}

/// Sends to the handler; `false` once the client has gone. Unbounded: a turn's output is
/// bounded by the model's token cap (and the client's 4 MiB stream cap), and a synchronous send
/// lets the stream parser hand text over without awaiting.
struct Events(mpsc::UnboundedSender<TurnEvent>);

impl Events {
    fn send(&self, ev: TurnEvent) -> bool {
        self.0.send(ev).is_ok()
    }
}

impl Assistant {
    pub fn new(cfg: Arc<ChatConfig>, vehicles: Option<Arc<VehicleService>>) -> Self {
        let llm = LlmClient::new(&cfg);
        let budget = Budget::new(cfg.daily_token_budget);
        Assistant {
            cfg,
            llm,
            vehicles,
            budget,
            store: None,
            scenarios: None,
        }
    }

    /// Lets turns name a scenario.
    pub fn set_scenarios(&mut self, scenarios: Arc<Scenarios>) {
        self.scenarios = Some(scenarios);
    }

    /// Reads the turn's scenario, if it names one, into `turn.profile`, and chooses the model:
    /// the request's, else the scenario's, else the default. Either is checked against the
    /// allow-list as configured now, so a scenario saved with a model that has since left the
    /// list is refused rather than run.
    ///
    /// # Errors
    /// An unknown scenario (`404`), scenarios without a store (`400`), the store down (`503`),
    /// a model not on the allow-list (`400 model_not_allowed`).
    pub async fn prepare(&self, turn: &mut Turn) -> Result<String, ChatError> {
        let Some(id) = turn.scenario.clone() else {
            return self.choose_model(turn.model.as_deref());
        };
        let scenarios = self
            .scenarios
            .as_ref()
            .filter(|s| s.enabled())
            .ok_or(ChatError::ScenariosDisabled)?;
        let scenario = match scenarios.for_turn(&id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(ChatError::ScenarioNotFound),
            Err(StoreError::NotConfigured) => return Err(ChatError::ScenariosDisabled),
            Err(e) => {
                scenarios.store().mark(false, Some(&e));
                return Err(ChatError::ScenariosUnavailable);
            }
        };
        let model = match (turn.model.as_deref(), scenario.model.as_deref()) {
            (Some(requested), _) => self.choose_model(Some(requested))?,
            (None, Some(m)) if self.cfg.allowed_models.iter().any(|a| a == m) => m.to_owned(),
            (None, Some(m)) => {
                return Err(ChatError::ScenarioModelNotAllowed {
                    scenario: id.as_str().to_owned(),
                    model: m.to_owned(),
                    allowed: self.cfg.allowed_models.join(", "),
                });
            }
            (None, None) => self.cfg.model.clone(),
        };
        turn.profile = Some(scenario);
        Ok(model)
    }

    /// The system prompt of a turn: its scenario's, else the deployment's.
    fn system_prompt<'t>(&'t self, turn: &'t Turn) -> &'t str {
        turn.profile
            .as_deref()
            .map_or(self.cfg.system_prompt.as_str(), |s| {
                s.system_prompt.as_str()
            })
    }

    /// Whether the turn may look vehicles up (its scenario enables the tool, or it has none).
    fn may_look_up(turn: &Turn) -> bool {
        turn.profile
            .as_deref()
            .is_none_or(|s| s.has_tool(TOOL_NAME))
    }

    /// Spends the daily token budget from `store`, shared by every instance using it.
    pub fn set_store(&mut self, store: Arc<Store>) {
        self.store = Some(store);
    }

    /// The model a turn uses, if allowed.
    ///
    /// # Errors
    /// The requested model is not on the allow-list.
    pub fn choose_model(&self, requested: Option<&str>) -> Result<String, ChatError> {
        match requested {
            None => Ok(self.cfg.model.clone()),
            Some(m) if self.cfg.allowed_models.iter().any(|a| a == m) => Ok(m.to_owned()),
            Some(m) => Err(ChatError::ModelNotAllowed(
                m.chars().take(100).collect(),
                self.cfg.allowed_models.join(", "),
            )),
        }
    }

    /// Runs one turn, reporting on `tx`. Returns when the turn is over or the receiver is gone.
    pub async fn run(
        self: Arc<Self>,
        turn: Turn,
        model: String,
        tx: mpsc::UnboundedSender<TurnEvent>,
    ) {
        let events = Events(tx);
        let deadline = Instant::now() + self.cfg.turn_timeout;
        let Some(llm) = &self.llm else {
            return self
                .offline(
                    &turn,
                    OfflineReason::NotConfigured,
                    &events,
                    Vec::new(),
                    deadline,
                )
                .await;
        };
        if self.budget.spent() {
            tracing::warn!("daily token budget spent; answering offline");
            return self
                .offline(
                    &turn,
                    OfflineReason::BudgetSpent,
                    &events,
                    Vec::new(),
                    deadline,
                )
                .await;
        }
        let reservation = match (&self.store, self.cfg.daily_token_budget) {
            (Some(store), Some(limit)) => {
                let estimate = self.reservation_estimate(&turn);
                match shared_budget::reserve(store, limit, estimate).await {
                    Reserve::Granted(r) => Some(r),
                    Reserve::Spent => {
                        tracing::warn!("shared daily token budget spent; answering offline");
                        return self
                            .offline(
                                &turn,
                                OfflineReason::BudgetSpent,
                                &events,
                                Vec::new(),
                                deadline,
                            )
                            .await;
                    }
                    Reserve::NotShared => None,
                }
            }
            _ => None,
        };
        let mut spent = None;
        let outcome = self
            .with_model(llm, &turn, &model, deadline, &events, &mut spent)
            .await;
        if let Some(r) = reservation {
            // Every exit path settles: what was reported (or estimated) when the turn ended
            // normally or before any text; the whole reservation when the client left or the
            // answer broke off (those tokens were spent and never reported).
            let settle = match &outcome {
                Ok(()) => spent,
                Err(Failure::BeforeText(..)) => Some(spent.unwrap_or(0)),
                Err(Failure::AfterText(_) | Failure::Gone) => spent,
            };
            r.settle(settle).await;
        }
        match outcome {
            Ok(()) => {}
            Err(Failure::BeforeText(err, reported)) => {
                tracing::warn!(error = %err, "every model failed before answering; answering offline");
                self.offline(
                    &turn,
                    OfflineReason::ProviderFailed,
                    &events,
                    reported,
                    deadline,
                )
                .await;
            }
            Err(Failure::AfterText(err)) => {
                tracing::warn!(error = %err, "the model failed after the answer began");
                let e = if err.is_timeout() {
                    ChatError::Timeout
                } else {
                    ChatError::Upstream(err.to_string())
                };
                events.send(TurnEvent::Error(e));
            }
            Err(Failure::Gone) => tracing::debug!("client went away during the turn"),
        }
    }

    fn tools() -> Vec<ToolSpec> {
        vec![ToolSpec::function(
            TOOL_NAME,
            "Slår opp et norsk registreringsnummer i Statens vegvesens kjøretøyregister og gir tekniske \
             data om bilen (merke, modell, registrering, drivlinje, effekt per motor, rekkevidde med \
             målemetode, EU-kontroll og om fristen er passert, registrert bruk som drosje eller \
             utleie, bruktimport, tillatt tilhengervekt). Effekten til flere motorer skal ikke \
             legges sammen. Looks up a Norwegian registration plate.",
            json!({
                "type": "object",
                "properties": {
                    "plate": {"type": "string", "description": "Registreringsnummeret, f.eks. \"EC 47213\""}
                },
                "required": ["plate"],
                "additionalProperties": false
            }),
        )]
    }

    /// What a turn may spend, reserved before the model is called: its prompt (about four
    /// characters a token) plus the output cap.
    fn reservation_estimate(&self, turn: &Turn) -> u64 {
        let chars = self.system_prompt(turn).len()
            + turn.message.len()
            + turn.history.iter().map(|h| h.content.len()).sum::<usize>();
        (chars as u64).div_ceil(4) + u64::from(self.cfg.max_output_tokens)
    }

    fn messages(&self, turn: &Turn) -> Vec<Message> {
        let mut messages = Vec::with_capacity(turn.history.len() + 2);
        // Today's date goes last in the system message, read once per turn so every round of
        // the turn sends the same system message.
        let today = crate::clock::today_line(self.cfg.clock.today_oslo());
        let language = turn.profile.as_deref().map_or(String::new(), |s| {
            format!(
                "{}\n\n",
                crate::scenario::language_line(s.language.as_str())
            )
        });
        messages.push(Message::system(format!(
            "{}\n\n{language}{today}",
            self.system_prompt(turn).trim_end()
        )));
        for h in &turn.history {
            messages.push(match h.role {
                Role::User => Message::user(h.content.clone()),
                Role::Assistant => Message::assistant_text(h.content.clone()),
            });
        }
        messages.push(Message::user(turn.message.clone()));
        messages
    }

    /// The model answers, with tool rounds; on failure before any text, the fallbacks are tried.
    async fn with_model(
        &self,
        llm: &LlmClient,
        turn: &Turn,
        model: &str,
        deadline: Instant,
        events: &Events,
        spent: &mut Option<u64>,
    ) -> Result<(), Failure> {
        let mut messages = self.messages(turn);
        // Lookups already reported to the client, so an offline fallback does not repeat them.
        let mut reported: Vec<VehicleEvent> = Vec::new();
        let mut models: Vec<&str> = vec![model];
        models.extend(
            self.cfg
                .fallback_models
                .iter()
                .map(String::as_str)
                .filter(|m| *m != model),
        );
        let mut model_idx = 0;
        let mut usage = Usage::default();
        let mut saw_usage = false;
        let mut emitted = false;
        let mut round = 0u32;
        // Tool calls run so far this turn (calls refused by a cap do not count).
        let mut calls_run = 0usize;
        // Lookups leave time for the model's answer after them.
        let reserve = (self.cfg.turn_timeout / 4).min(self.cfg.first_token_timeout);
        let lookups_by = deadline
            .checked_sub(reserve)
            .unwrap_or(deadline)
            .max(Instant::now());
        loop {
            let tools_allowed = Self::may_look_up(turn)
                && round < self.cfg.max_tool_rounds
                && calls_run < self.cfg.max_tool_calls_per_turn;
            let request = ChatRequest {
                model: models[model_idx].to_owned(),
                messages: messages.clone(),
                tools: if tools_allowed {
                    Self::tools()
                } else {
                    Vec::new()
                },
                tool_choice: tools_allowed.then_some(ToolChoice::AUTO),
                stream: true,
                stream_options: self.cfg.stream_usage.then_some(StreamOptions {
                    include_usage: true,
                }),
                token_limit: Some(self.cfg.token_limit_field.limit(self.cfg.max_output_tokens)),
                // f64 → f32: the wire's type; every value in 0–2 a person types survives it.
                #[allow(clippy::cast_possible_truncation)]
                temperature: turn
                    .profile
                    .as_deref()
                    .and_then(|s| s.temperature)
                    .map(|t| t.get() as f32),
            };
            let mut on_text = |text: String| events.send(TurnEvent::Text(text));
            let result = llm
                .complete(&request, deadline, &mut on_text, &mut emitted)
                .await;
            let completion: Completion = match result {
                Ok(c) => c,
                Err(LlmError::Cancelled) => return Err(Failure::Gone),
                Err(e) if emitted => return Err(Failure::AfterText(e)),
                Err(e) => {
                    if model_idx + 1 < models.len() {
                        tracing::warn!(error = %e, model = models[model_idx], next = models[model_idx + 1], "model failed; trying the fallback");
                        model_idx += 1;
                        continue;
                    }
                    // Tokens of earlier rounds were spent even though the turn ends offline.
                    if saw_usage {
                        self.budget.record(usage.total_tokens);
                        *spent = Some(usage.total_tokens);
                    }
                    return Err(Failure::BeforeText(e, reported));
                }
            };
            if let Some(u) = completion.usage {
                usage.prompt_tokens += u.prompt_tokens;
                usage.completion_tokens += u.completion_tokens;
                usage.total_tokens += u.total_tokens;
                saw_usage = true;
            }
            if completion.tool_calls.is_empty() || !tools_allowed {
                let tokens = if saw_usage {
                    usage.total_tokens
                } else {
                    estimate_tokens(&messages, &completion)
                };
                self.budget.record(tokens);
                *spent = Some(tokens);
                let done = DoneInfo {
                    mode: Mode::Model,
                    offline_reason: None,
                    model: Some(
                        completion
                            .model
                            .clone()
                            .unwrap_or_else(|| models[model_idx].to_owned()),
                    ),
                    usage: saw_usage.then_some(usage),
                    finish_reason: completion.finish_reason.clone(),
                    conversation_id: None,
                };
                events.send(TurnEvent::Done(done));
                return Ok(());
            }
            // Replay the call, then one tool message per call (results are data, as JSON).
            let calls: Vec<ToolCall> = completion.tool_calls.iter().map(ToolCall::from).collect();
            messages.push(Message::Assistant {
                content: (!completion.text.is_empty()).then(|| completion.text.clone()),
                tool_calls: calls,
            });
            for (i, call) in completion.tool_calls.iter().enumerate() {
                // Every call id gets a result (providers reject the next request otherwise);
                // calls past a cap get one saying they were not run.
                let (result, event) = if i >= self.cfg.max_tool_calls_per_round {
                    (
                        Self::over_cap("per reply", self.cfg.max_tool_calls_per_round),
                        None,
                    )
                } else if calls_run >= self.cfg.max_tool_calls_per_turn {
                    (
                        Self::over_cap("per question", self.cfg.max_tool_calls_per_turn),
                        None,
                    )
                } else {
                    calls_run += 1;
                    self.run_tool(&call.name, &call.arguments, lookups_by).await
                };
                if let Some(ev) = event {
                    if !events.send(TurnEvent::Vehicle(ev.clone())) {
                        return Err(Failure::Gone);
                    }
                    reported.push(ev);
                }
                messages.push(Message::tool_result(call.id.clone(), result.to_string()));
            }
            round += 1;
        }
    }

    /// The tool result for a call not run because of a cap.
    fn over_cap(scope: &str, cap: usize) -> Value {
        json!({
            "error": TOOL_CALL_LIMIT,
            "message": format!(
                "not run: at most {cap} lookups {scope}; answer with the results you have, and \
                 ask the user to name fewer vehicles at a time"
            ),
        })
    }

    /// Runs one tool call, a lookup finishing by `by`; returns the tool message content and
    /// the vehicle event to emit.
    async fn run_tool(
        &self,
        name: &str,
        arguments: &str,
        by: Instant,
    ) -> (Value, Option<VehicleEvent>) {
        if name != TOOL_NAME {
            return (
                json!({"error": "unknown_tool", "message": format!("no tool named {name}")}),
                None,
            );
        }
        let raw = serde_json::from_str::<Value>(arguments)
            .ok()
            .and_then(|v| v.get("plate").and_then(Value::as_str).map(str::to_owned));
        let Some(raw) = raw else {
            return (
                json!({"error": "bad_arguments", "message": "call lookup_vehicle with {\"plate\": \"…\"}"}),
                None,
            );
        };
        let plate = match Plate::parse(&raw) {
            Ok(p) => p,
            Err(e) => {
                let err = json!({"code": e.code(), "message": e.to_string()});
                let shown: String = raw.chars().take(20).collect();
                return (
                    json!({"found": false, "error": e.code(), "message": e.to_string()}),
                    Some(VehicleEvent {
                        plate: shown,
                        vehicle: None,
                        error: Some(err),
                    }),
                );
            }
        };
        self.lookup(&plate, by).await
    }

    /// Looks `plate` up, giving up at `by` (the shared fetch goes on and fills the cache).
    async fn lookup(&self, plate: &Plate, by: Instant) -> (Value, Option<VehicleEvent>) {
        let outcome = match &self.vehicles {
            None => Err(LookupError::NotConfigured),
            // A cached answer is returned even when `by` has passed: the future is polled first.
            Some(service) => match tokio::time::timeout_at(by, service.lookup(plate)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!("vehicle lookup cut short by the turn's deadline");
                    return self.out_of_time(plate);
                }
            },
        };
        let fail = |code: &str, message: String| {
            (
                json!({"found": false, "plate": plate.as_str(), "error": code, "message": message}),
                Some(VehicleEvent {
                    plate: plate.as_str().to_owned(),
                    vehicle: None,
                    error: Some(json!({"code": code, "message": message})),
                }),
            )
        };
        match outcome {
            Ok(Some(v)) => (
                json!({"found": true, "plate": plate.as_str(), "vehicle": &*v, "source": "Statens vegvesen"}),
                Some(VehicleEvent {
                    plate: plate.as_str().to_owned(),
                    vehicle: Some(v),
                    error: None,
                }),
            ),
            Ok(None) => fail(
                "not_found",
                "no vehicle with that plate in the register".to_owned(),
            ),
            Err(e) => fail(e.code(), e.public_message()),
        }
    }

    fn out_of_time(&self, plate: &Plate) -> (Value, Option<VehicleEvent>) {
        let message =
            "the lookup could not finish in the time this answer has; it may work if asked again";
        (
            json!({"found": false, "plate": plate.as_str(), "error": OUT_OF_TIME, "message": message}),
            Some(VehicleEvent {
                plate: plate.as_str().to_owned(),
                vehicle: None,
                error: Some(json!({"code": OUT_OF_TIME, "message": message})),
            }),
        )
    }

    /// The FAQ answer, with any plates in the message looked up (each by the turn's
    /// `deadline`); streamed in small pieces so a streaming client sees the same shape of
    /// answer as from a model.
    async fn offline(
        &self,
        turn: &Turn,
        reason: OfflineReason,
        events: &Events,
        reported: Vec<VehicleEvent>,
        deadline: Instant,
    ) {
        elbatt::metrics::offline_answer(match reason {
            OfflineReason::NotConfigured => elbatt::metrics::Offline::NotConfigured,
            OfflineReason::BudgetSpent => elbatt::metrics::Offline::BudgetSpent,
            OfflineReason::ProviderFailed => elbatt::metrics::Offline::ProviderFailed,
        });
        let mut found: Vec<VehicleSummary> = reported
            .iter()
            .filter_map(|ev| ev.vehicle.as_deref().cloned())
            .collect();
        let mut notes = Vec::new();
        // A scenario without the lookup tool looks nothing up offline either.
        let candidates = if Self::may_look_up(turn) {
            offline::find_plate_candidates(&turn.message)
        } else {
            Vec::new()
        };
        for candidate in candidates.into_iter().take(3) {
            let Ok(plate) = Plate::parse(&candidate) else {
                continue;
            };
            if reported.iter().any(|ev| ev.plate == plate.as_str()) {
                continue;
            }
            let (_, event) = self.lookup(&plate, deadline).await;
            if let Some(ev) = event {
                let shown = plate.display_form();
                match (&ev.vehicle, &ev.error) {
                    (Some(v), _) => found.push(VehicleSummary::clone(v)),
                    (None, Some(e)) if e["code"] == "not_found" => notes.push(format!(
                        "Jeg fant ingen bil med registreringsnummer {shown} i kjøretøyregisteret."
                    )),
                    (None, Some(e)) if e["code"] == OUT_OF_TIME => notes.push(format!(
                        "Jeg rakk ikke å slå opp {shown} i kjøretøyregisteret i tide; prøv \
                         gjerne igjen om litt."
                    )),
                    (None, _) => notes.push(format!(
                        "Jeg fikk ikke slått opp {shown} i kjøretøyregisteret akkurat nå."
                    )),
                }
                if !events.send(TurnEvent::Vehicle(ev)) {
                    return;
                }
            }
        }
        let answer = offline::compose_answer(&turn.message, &found);
        let mut text = answer.text;
        if !notes.is_empty() {
            text.push_str("\n\n");
            text.push_str(&notes.join(" "));
        }
        for piece in chunks(&text) {
            if !events.send(TurnEvent::Text(piece)) {
                return;
            }
        }
        let done = DoneInfo {
            mode: Mode::Offline,
            offline_reason: Some(reason),
            model: None,
            usage: None,
            finish_reason: Some("stop".to_owned()),
            conversation_id: None,
        };
        events.send(TurnEvent::Done(done));
    }
}

enum Failure {
    /// Nothing reached the user; carries the lookups that did.
    BeforeText(LlmError, Vec<VehicleEvent>),
    AfterText(LlmError),
    Gone,
}

/// Splits text into pieces of a few words, keeping every character (whitespace included).
fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for (i, c) in text.char_indices() {
        current.push(c);
        if c.is_whitespace() && !text[..i].ends_with(char::is_whitespace) {
            words += 1;
            if words == 6 {
                out.push(std::mem::take(&mut current));
                words = 0;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Roughly four characters a token, for budgets when the provider reports no usage.
fn estimate_tokens(messages: &[Message], completion: &Completion) -> u64 {
    let chars: usize = messages
        .iter()
        .map(|m| match m {
            Message::System { content }
            | Message::User { content }
            | Message::Tool { content, .. } => content.len(),
            Message::Assistant { content, .. } => content.as_ref().map_or(0, String::len),
        })
        .sum::<usize>()
        + completion.text.len();
    (chars / 4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_every_character() {
        let text = "Batterigarantien er vanligvis 8 år eller 160 000 km,  det som kommer først.\nSjekk vilkårene.";
        let pieces = chunks(text);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn the_budget_counts_tokens_per_day() {
        let b = Budget::new(Some(100));
        assert!(!b.spent());
        b.record(60);
        assert!(!b.spent());
        b.record(40);
        assert!(b.spent());
        assert!(!Budget::new(None).spent());
    }
}
