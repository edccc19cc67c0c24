//! `/chat` through the runner, streamed end to end: offline with no keys (the curl of docs/api.md),
//! a plate in the message looked up without a model, and the model (chat's fake
//! OpenAI-compatible server) calling `lookup_vehicle` against a fake Statens vegvesen.

use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

// The fake model and the SSE reader are chat's own test support, shared rather than copied
// (the fake model loaded here once for every module of this binary).
#[allow(dead_code)]
#[path = "../../../functions/chat/tests/api/fake_llm.rs"]
pub(crate) mod fake_llm;
#[allow(dead_code)]
#[path = "../../../functions/chat/tests/api/sse_client.rs"]
mod sse_client;

use fake_llm::{FakeLlm, Script};
use sse_client::{Event, deltas, names, only, text};

async fn bev_register() -> FakeVegvesen {
    FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::json(
                200,
                vegvesen_fixture("bev-kia-niro-ec47213.json"),
            )],
        )],
        Reply::status(204),
    )
    .await
}

/// `POST /chat` with `body` (JSON), read to the end as SSE.
async fn stream_chat(app: &TestApp, body: &str) -> Vec<Event> {
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    sse_client::parse(&resp.text().await.unwrap())
}

#[tokio::test]
async fn with_no_keys_chat_streams_an_offline_answer_through_the_runner() {
    let app = TestApp::spawn(&[]).await;
    // The curl example of docs/api.md#chat, byte for byte.
    let events = stream_chat(
        &app,
        r#"{"message":"Hvor lenge varer batterigarantien?","stream":true}"#,
    )
    .await;
    assert!(deltas(&events).len() > 1, "{:?}", names(&events));
    assert_eq!(names(&events).last(), Some(&"done"));
    let done = only(&events, "done");
    assert_eq!(done["mode"], "offline");
    assert_eq!(done["offline_reason"], "not_configured");
    let answer = text(&events);
    assert!(answer.contains("frakoblet"), "{answer}");
    assert!(answer.contains("160 000 km"), "{answer}");
}

#[tokio::test]
async fn with_no_model_key_a_plate_in_the_message_is_looked_up() {
    let register = bev_register().await;
    let endpoint = register.endpoint();
    let app = TestApp::spawn(&[("VEGVESEN_API_KEY", "k"), ("VEGVESEN_ENDPOINT", &endpoint)]).await;
    let events = stream_chat(
        &app,
        r#"{"message":"Hvordan står det til med batteriet på EC47213?","stream":true}"#,
    )
    .await;
    assert_eq!(names(&events)[0], "vehicle");
    assert_eq!(only(&events, "vehicle")["vehicle"]["make"], "KIA");
    let answer = text(&events);
    assert!(answer.contains("KIA Niro"), "{answer}");
    assert_eq!(only(&events, "done")["mode"], "offline");
    assert_eq!(register.calls(), 1);
}

#[tokio::test]
async fn with_a_model_the_runner_streams_its_answer_and_the_lookup_of_ec47213() {
    let register = bev_register().await;
    let llm = FakeLlm::start(vec![
        Script::tool_reply(&[("call_1", "EC47213")]),
        Script::text_reply(&["EC 47213 er en ", "Kia Niro."]),
    ])
    .await;
    let (endpoint, base_url) = (register.endpoint(), llm.base_url());
    let app = TestApp::spawn(&[
        ("VEGVESEN_API_KEY", "k"),
        ("VEGVESEN_ENDPOINT", &endpoint),
        ("OPENAI_API_KEY", "sk-runner-test"),
        ("OPENAI_BASE_URL", &base_url),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "2"),
    ])
    .await;
    let events = stream_chat(
        &app,
        r#"{"message":"Hvordan er batteriet på EC47213?","stream":true}"#,
    )
    .await;
    assert_eq!(names(&events), ["vehicle", "delta", "delta", "done"]);
    assert_eq!(only(&events, "vehicle")["vehicle"]["model"], "NIRO");
    assert_eq!(text(&events), "EC 47213 er en Kia Niro.");
    assert_eq!(only(&events, "done")["mode"], "model");

    let sent = llm.bodies();
    assert_eq!(sent.len(), 2);
    let tool = sent[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result was sent back");
    assert_eq!(tool["tool_call_id"], "call_1");
    let result: Value = serde_json::from_str(tool["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["vehicle"]["make"], "KIA");

    // chat and plate-lookup share one cache in the runner: no second register call.
    let resp = app.get("/plate-lookup/EC47213").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["vehicle"]["model"], json!("NIRO"));
    assert_eq!(register.calls(), 1);
}

/// Streamed answers on a reused connection arrive without stutter: small SSE writes are not held
/// back by Nagle's algorithm waiting for the client's delayed ACK (up to 40 ms each), which is
/// what happened before the server set `TCP_NODELAY`.
#[tokio::test]
async fn streamed_answers_on_a_kept_alive_connection_are_not_held_back() {
    let app = TestApp::spawn(&[
        ("CHAT_RATE_LIMIT_PER_MINUTE", "1000"),
        ("CHAT_RATE_LIMIT_BURST", "1000"),
    ])
    .await;
    let body = r#"{"message":"Hvor lenge varer batterigarantien?","stream":true}"#;
    stream_chat(&app, body).await; // opens the connection the client then reuses
    let mut took = Vec::new();
    for _ in 0..7 {
        let started = std::time::Instant::now();
        let events = stream_chat(&app, body).await;
        took.push(started.elapsed());
        assert!(deltas(&events).len() > 1);
    }
    took.sort();
    // Offline answers stream in a few milliseconds; Nagle plus a delayed ACK cost ~40 ms.
    assert!(
        took[took.len() / 2] < std::time::Duration::from_millis(25),
        "{took:?}"
    );
}
