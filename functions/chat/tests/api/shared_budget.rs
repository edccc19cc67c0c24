//! The daily token budget held in the store: two chat instances sharing one store spend from one
//! budget; each turn reserves before the model is called and settles to the reported usage.

use std::sync::Arc;
use std::time::Duration;

use chat::Chat;
use chat::config::ChatConfig;
use chat::shared_budget::SCOPE;
use elbatt::config::{CorsConfig, Env};
use elbatt::runtime::Router;
use elbatt::testing::{RunningServer, spawn_router};
use elbatt_store::{Mode, Store, StoreConfig};
use serde_json::{Value, json};

use crate::fake_llm::{FakeLlm, Script};
use crate::helpers::{API_KEY, json_of};

const LIMIT: i64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;

async fn instance(llm: &FakeLlm, store: &Arc<Store>) -> RunningServer {
    let env = Env::from_pairs([
        ("OPENAI_BASE_URL".to_owned(), llm.base_url()),
        ("OPENAI_API_KEY".to_owned(), API_KEY.to_owned()),
        ("CHAT_DAILY_TOKEN_BUDGET".to_owned(), LIMIT.to_string()),
        ("CHAT_RATE_LIMIT_BURST".to_owned(), "1000".to_owned()),
    ]);
    let chat = Chat::new(ChatConfig::from_env(&env).unwrap(), None).with_store(Arc::clone(store));
    spawn_router(Router::single(
        Arc::new(chat),
        CorsConfig::from_env(&env, false).unwrap(),
    ))
    .await
}

async fn turn(server: &RunningServer) -> Value {
    let resp = elbatt::outbound::http_client(Duration::from_secs(5))
        .post(server.url("/chat"))
        .header("content-type", "application/json")
        .body(json!({"message": "Hvor lenge varer batterigarantien?"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    json_of(resp).await
}

/// Today's total in the store (adding nothing).
async fn used(store: &Store) -> i64 {
    let now = elbatt_store::now_ms();
    let window = now - now.rem_euclid(DAY_MS);
    let b = store.backend().await.unwrap();
    b.counter_add(SCOPE, window, 0, LIMIT, window + 2 * DAY_MS)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn two_instances_spend_one_budget_settled_to_the_reported_usage() {
    let store = Arc::new(Store::new(StoreConfig {
        mode: Mode::Memory,
        retention: None,
    }));
    let llm = FakeLlm::start(vec![
        Script::text_reply(&["Svar."]),
        Script::text_reply(&["Svar."]),
    ])
    .await;
    let (a, b) = (instance(&llm, &store).await, instance(&llm, &store).await);

    let first = turn(&a).await;
    assert_eq!(first["mode"], "model");
    assert_eq!(first["usage"]["total_tokens"], 41);
    assert_eq!(
        used(&store).await,
        41,
        "the reservation settled to the usage"
    );
    turn(&b).await;
    assert_eq!(
        used(&store).await,
        82,
        "the other instance spends from the same budget"
    );

    // Another instance spent the rest: this one answers offline without calling the model.
    let now = elbatt_store::now_ms();
    let window = now - now.rem_euclid(DAY_MS);
    let backend = store.backend().await.unwrap();
    backend
        .counter_add(SCOPE, window, LIMIT - 100, LIMIT, window + 2 * DAY_MS)
        .await
        .unwrap()
        .unwrap();
    let spent = turn(&a).await;
    assert_eq!(spent["mode"], "offline");
    assert_eq!(spent["offline_reason"], "budget_spent");
    assert_eq!(llm.calls(), 2);
}
