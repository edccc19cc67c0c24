//! Shared set-up: the chat function on the real server (127.0.0.1:0) with the fake model and a
//! fake Statens vegvesen, short timeouts so every fault test ends in well under a second or two.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chat::Chat;
use chat::clock::Clock;
use chat::config::ChatConfig;
use elbatt::config::{CorsConfig, Env};
use elbatt::runtime::Router;
use elbatt::testing::{FakeVegvesen, Reply, RunningServer, spawn_router, vegvesen_fixture};
use elbatt::vehicle::service::VehicleService;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::fake_llm::{FakeLlm, Script};
use crate::sse_client::{self, Event};

/// The API key the fake model expects to see as `Authorization: Bearer …`.
pub(crate) const API_KEY: &str = "sk-test-elbatt-0123";

/// The instant every test turn runs at: late on New Year's Eve in UTC, already 1 January 2026
/// in Norway, so a date taken in UTC instead of Europe/Oslo would show.
pub(crate) const NOW: OffsetDateTime = datetime!(2025-12-31 23:30 UTC);

/// The date line the system prompt must end with at [`NOW`].
pub(crate) const TODAY_LINE: &str =
    "Dagens dato i Norge (Europe/Oslo): torsdag 1. januar 2026 (2026-01-01).";

/// No turn may take longer, whatever the fake does (`CHAT_TURN_TIMEOUT_SECS` is 5 here).
const TURN_LIMIT: Duration = Duration::from_secs(8);

pub(crate) struct App {
    pub(crate) server: RunningServer,
    pub(crate) client: reqwest::Client,
    pub(crate) llm: FakeLlm,
    pub(crate) vegvesen: FakeVegvesen,
}

/// The fake register: the invented battery-electric Kia Niro (EC 47213), plug-in hybrid
/// Skoda Superb (DN 61834) and used-import Audi e-tron (EF 38260) fixtures; other plates are
/// unknown (204).
pub(crate) async fn fake_vegvesen() -> FakeVegvesen {
    FakeVegvesen::start(
        vec![
            (
                "EC47213",
                vec![Reply::json(
                    200,
                    vegvesen_fixture("bev-kia-niro-ec47213.json"),
                )],
            ),
            (
                "DN61834",
                vec![Reply::json(
                    200,
                    vegvesen_fixture("phev-skoda-superb-dn61834.json"),
                )],
            ),
            (
                "EF38260",
                vec![Reply::json(
                    200,
                    vegvesen_fixture("bruktimport-audi-etron-ef38260.json"),
                )],
            ),
        ],
        Reply::status(204),
    )
    .await
}

impl App {
    /// The model configured (the fake, answering `scripts`), plus `env` on top of the defaults.
    pub(crate) async fn start(scripts: Vec<Script>, env: &[(&str, &str)]) -> App {
        App::spawn(scripts, env, true, fake_vegvesen().await).await
    }

    /// No key configured: offline mode. The fake model is started but must never be called.
    pub(crate) async fn offline(env: &[(&str, &str)]) -> App {
        App::spawn(Vec::new(), env, false, fake_vegvesen().await).await
    }

    /// Like [`App::start`] (or [`App::offline`] without `with_key`) in front of the given
    /// fake register instead of [`fake_vegvesen`].
    pub(crate) async fn with_vegvesen(
        scripts: Vec<Script>,
        env: &[(&str, &str)],
        with_key: bool,
        vegvesen: FakeVegvesen,
    ) -> App {
        App::spawn(scripts, env, with_key, vegvesen).await
    }

    async fn spawn(
        scripts: Vec<Script>,
        env: &[(&str, &str)],
        with_key: bool,
        vegvesen: FakeVegvesen,
    ) -> App {
        let llm = FakeLlm::start(scripts).await;
        let mut vars: Vec<(String, String)> = vec![
            ("OPENAI_BASE_URL".into(), llm.base_url()),
            ("LLM_CONNECT_TIMEOUT_SECS".into(), "1".into()),
            ("LLM_FIRST_TOKEN_TIMEOUT_SECS".into(), "0.5".into()),
            ("LLM_IDLE_TIMEOUT_SECS".into(), "0.5".into()),
            ("LLM_RETRY_MAX_DELAY_SECS".into(), "0.2".into()),
            ("CHAT_TURN_TIMEOUT_SECS".into(), "5".into()),
            // Every test client is 127.0.0.1: only the rate-limit test wants the limit.
            ("CHAT_RATE_LIMIT_PER_MINUTE".into(), "10000".into()),
            ("CHAT_RATE_LIMIT_BURST".into(), "10000".into()),
            ("VEGVESEN_API_KEY".into(), "vegvesen-test-key".into()),
            ("VEGVESEN_ENDPOINT".into(), vegvesen.endpoint()),
            ("VEGVESEN_TIMEOUT_SECS".into(), "1".into()),
        ];
        if with_key {
            vars.push(("OPENAI_API_KEY".into(), API_KEY.into()));
        }
        for (k, v) in env {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        let env = Env::from_pairs(vars);
        // The configuration `Chat::from_env` builds, with the clock fixed so the date in the
        // system prompt is known.
        let mut cfg = ChatConfig::from_env(&env).unwrap();
        cfg.clock = Clock::Fixed(NOW);
        let chat = Chat::new(cfg, VehicleService::from_env(&env).unwrap());
        let cors = CorsConfig::from_env(&env, false).unwrap();
        App {
            server: spawn_router(Router::single(Arc::new(chat), cors)).await,
            client: elbatt::outbound::http_client(Duration::from_secs(5)),
            llm,
            vegvesen,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.server.url("/chat")
    }

    /// `POST /chat` with a JSON body.
    pub(crate) fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A buffered turn: status and JSON body.
    pub(crate) async fn chat_json(&self, body: &Value) -> (u16, Value) {
        within(TURN_LIMIT, async {
            let resp = self.post(body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, json_of(resp).await)
        })
        .await
    }

    /// A streamed turn: every event, after checking the stream's headers.
    pub(crate) async fn chat_sse(&self, body: &Value) -> Vec<Event> {
        within(TURN_LIMIT, async {
            let resp = self.post(body).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            sse_of(resp).await
        })
        .await
    }
}

pub(crate) async fn json_of(resp: reqwest::Response) -> Value {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The events of an SSE response, after checking its content type.
pub(crate) async fn sse_of(resp: reqwest::Response) -> Vec<Event> {
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    sse_client::parse(&resp.text().await.unwrap())
}

/// Runs a test body, failing it if it takes longer than `limit`: every turn here is bounded by
/// our timeouts, so a hang is a bug, not a slow machine.
pub(crate) async fn within<T>(limit: Duration, body: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("the test took longer than {limit:?}"))
}

/// The tool messages of a request body.
pub(crate) fn tool_messages(body: &Value) -> Vec<&Value> {
    messages(body)
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect()
}

pub(crate) fn messages(body: &Value) -> &Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {body}"))
}

/// A tool message's content, parsed: our tool results are JSON.
pub(crate) fn tool_result(message: &Value) -> Value {
    let content = message["content"].as_str().unwrap();
    serde_json::from_str(content)
        .unwrap_or_else(|e| panic!("tool result not JSON ({e}): {content}"))
}
