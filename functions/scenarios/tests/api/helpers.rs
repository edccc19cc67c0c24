//! Set-up: `chat` and `scenarios` mounted as in the runner, over one store file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat::Chat;
use elbatt::config::{CorsConfig, Env};
use elbatt::context::Context;
use elbatt::http::Function;
use elbatt::runtime::Router;
use elbatt::testing::{RunningServer, spawn_router};
use scenarios::ScenariosApi;
use serde_json::{Value, json};

use crate::fake_llm::{FakeLlm, Script};

pub(crate) const ADMIN: &str = "admin-token-for-tests-0123";
pub(crate) const EDIT: &str = "edit-token-for-tests-4567";
/// The model the fake is configured with (`OPENAI_MODEL`).
pub(crate) const MODEL: &str = "gpt-4o-mini";

/// A temporary directory removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "elbatt-scenarios-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn db(&self) -> String {
        self.0.join("elbatt.db").display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct App {
    pub(crate) server: RunningServer,
    pub(crate) client: reqwest::Client,
    pub(crate) llm: FakeLlm,
}

impl App {
    /// Both functions over the SQLite file `db`, the fake model answering "Hei." to every call,
    /// and `env` on top (an empty value unsets a default).
    pub(crate) async fn start(db: &str, env: &[(&str, &str)]) -> App {
        let llm = FakeLlm::start(vec![Script::text_reply(&["Hei."])]).await;
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_PATH".into(), db.to_owned()),
            ("OPENAI_BASE_URL".into(), llm.base_url()),
            ("OPENAI_API_KEY".into(), "test-key-not-real".into()),
            ("OPENAI_MODEL".into(), MODEL.into()),
            ("LLM_MODELS_INCLUDE".into(), "gpt-4o,gpt-4.1-mini".into()),
            ("CHAT_RATE_LIMIT_PER_MINUTE".into(), "10000".into()),
            ("CHAT_RATE_LIMIT_BURST".into(), "10000".into()),
            ("ADMIN_TOKEN".into(), ADMIN.into()),
            ("PUBLISHED_EDIT_TOKEN".into(), EDIT.into()),
        ];
        for (k, v) in env {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        let env = Env::from_pairs(vars);
        let ctx = Context::new(env.clone());
        let chat = Chat::from_context(&ctx).unwrap();
        let api = ScenariosApi::from_context(&ctx).unwrap();
        let router = Router::new(CorsConfig::from_env(&env, false).unwrap())
            .mount("/chat", Arc::new(chat))
            .mount("/api/scenarios", Arc::new(api));
        App {
            server: spawn_router(router).await,
            client: elbatt::outbound::http_client(Duration::from_secs(10)),
            llm,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// A request to `/api/scenarios…` with the admin token (`None`: without one).
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        admin: Option<&str>,
        edit: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = admin {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(t) = edit {
            req = req.header("x-edit-token", t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, headers, value)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self
            .send(reqwest::Method::GET, path, None, None, None)
            .await;
        (s, v)
    }

    /// Creates a scenario with the admin token; panics unless `201`.
    pub(crate) async fn create(&self, body: &Value) -> Value {
        let (s, _, v) = self
            .send(
                reqwest::Method::POST,
                "/api/scenarios",
                Some(ADMIN),
                None,
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// A buffered chat turn.
    pub(crate) async fn chat(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(self.url("/chat"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

/// A scenario body.
pub(crate) fn body(id: &str, tags: &[&str]) -> Value {
    json!({
        "id": id,
        "name": format!("Scenario {id}"),
        "system_prompt": format!("Du er testassistenten {id}."),
        "tags": tags,
    })
}

pub(crate) fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}
