//! Shared test set-up: the runner's router with a given environment, on port 0.

use elbatt::config::Env;
use elbatt::testing::{RunningServer, spawn_router};

pub(crate) struct TestApp {
    pub(crate) server: RunningServer,
    pub(crate) client: reqwest::Client,
}

impl TestApp {
    /// The runner as `cargo run -p local-dev` builds it, with `vars` as its whole environment.
    /// The store is in memory unless `vars` choose one (no test writes `./data/elbatt.db`).
    pub(crate) async fn spawn(vars: &[(&str, &str)]) -> TestApp {
        let chosen = vars
            .iter()
            .any(|(k, _)| ["STORE", "DATABASE_URL", "DATABASE_PATH"].contains(k));
        let default_store = (!chosen).then_some(("STORE", "memory"));
        let env = Env::from_pairs(vars.iter().copied().chain(default_store));
        let router = local_dev::router(&env).expect("router builds");
        TestApp {
            server: spawn_router(router).await,
            client: client(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

pub(crate) async fn json_of(resp: reqwest::Response) -> serde_json::Value {
    let text = resp.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A test client (the rustls provider must be installed first; `http_client` does that).
pub(crate) fn client() -> reqwest::Client {
    elbatt::outbound::http_client(std::time::Duration::from_secs(5))
}
