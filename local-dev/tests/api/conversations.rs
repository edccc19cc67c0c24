//! Conversations through the whole runner: `/chat` starts and continues them, `/conversations`
//! returns and erases them, `/ready` reports the store. Offline mode (no model key), so every
//! turn is answered by the built-in FAQ.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

const QUESTION: &str = "Hvor lenge varer batterigarantien?";

fn scratch_db(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "elbatt-conv-{name}-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    let path = dir.join("elbatt.db").to_string_lossy().into_owned();
    (dir, path)
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn chat(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_turn_without_an_id_starts_a_conversation_the_next_turn_continues() {
    let (dir, path) = scratch_db("json");
    let app = TestApp::spawn(&[("DATABASE_PATH", &path)]).await;

    let resp = chat(&app, json!({"message": QUESTION, "stream": false})).await;
    assert_eq!(resp.status(), 200);
    let header = resp.headers()["x-conversation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let first = json_of(resp).await;
    let id = first["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(id, header);
    assert_eq!(id.len(), 64, "244 random bits as hex");

    let resp = chat(
        &app,
        json!({"message": "Og hva med rekkevidden om vinteren?", "stream": false, "conversation_id": id}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let second = json_of(resp).await;
    assert_eq!(second["conversation_id"], id.as_str());

    let resp = app.get(&format!("/conversations/{id}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let c = json_of(resp).await;
    let messages = c["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(messages[0]["content"], QUESTION);
    assert_eq!(messages[1]["content"], first["reply"]);
    assert_eq!(messages[1]["mode"], "offline");
    assert_eq!(messages[3]["content"], second["reply"]);
    assert!(
        messages[1]["created_at_ms"].as_i64().unwrap()
            >= messages[0]["created_at_ms"].as_i64().unwrap()
    );
    drop(app);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_streamed_turn_names_its_conversation_in_the_header_and_the_done_event() {
    let app = TestApp::spawn(&[]).await;
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .body(json!({"message": QUESTION}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = resp.headers()["x-conversation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.text().await.unwrap();
    let done = body
        .split("\n\n")
        // Frames start with their `id:` line (resumable streams).
        .find_map(|frame| {
            frame
                .split_once("event: done\ndata: ")
                .map(|(_, data)| data)
        })
        .unwrap_or_else(|| panic!("no done event: {body}"));
    let done: Value = serde_json::from_str(done).unwrap();
    assert_eq!(done["conversation_id"], header.as_str());
    let c = json_of(app.get(&format!("/conversations/{header}")).await).await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_id_with_history_unknown_ids_and_erased_ids_are_refused() {
    let app = TestApp::spawn(&[]).await;
    let id = json_of(chat(&app, json!({"message": QUESTION, "stream": false})).await).await
        ["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let both = chat(
        &app,
        json!({"message": "x", "stream": false, "conversation_id": id,
               "history": [{"role": "user", "content": "hei"}]}),
    )
    .await;
    assert_eq!(both.status(), 400);
    assert_eq!(
        json_of(both).await["error"]["code"],
        "history_with_conversation"
    );

    for unknown in ["0".repeat(64), "not-an-id".to_owned()] {
        let resp = chat(
            &app,
            json!({"message": "x", "stream": false, "conversation_id": unknown}),
        )
        .await;
        assert_eq!(resp.status(), 404, "{unknown}");
        assert_eq!(
            json_of(resp).await["error"]["code"],
            "conversation_not_found"
        );
        assert_eq!(
            app.get(&format!("/conversations/{unknown}")).await.status(),
            404
        );
    }

    let delete = |id: String| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/conversations/{id}")))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(delete(id.clone()).await, 204);
    assert_eq!(app.get(&format!("/conversations/{id}")).await.status(), 404);
    assert_eq!(delete(id.clone()).await, 404);
    let resp = chat(
        &app,
        json!({"message": "x", "stream": false, "conversation_id": id}),
    )
    .await;
    assert_eq!(
        resp.status(),
        404,
        "an erased conversation cannot be continued"
    );
}

#[tokio::test]
async fn client_history_without_an_id_seeds_the_new_conversation() {
    let app = TestApp::spawn(&[]).await;
    let reply = json_of(
        chat(
            &app,
            json!({"message": QUESTION, "stream": false,
                   "history": [{"role": "user", "content": "Hei"}, {"role": "assistant", "content": "Hei! Hva lurer du på?"}]}),
        )
        .await,
    )
    .await;
    let id = reply["conversation_id"].as_str().unwrap();
    let c = json_of(app.get(&format!("/conversations/{id}")).await).await;
    let contents: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents[..3], ["Hei", "Hei! Hva lurer du på?", QUESTION]);
    assert_eq!(contents.len(), 4);
}

#[tokio::test]
async fn without_a_store_chat_is_stateless_and_conversations_are_unavailable() {
    let app = TestApp::spawn(&[("STORE", "off")]).await;
    let resp = chat(
        &app,
        json!({"message": QUESTION, "stream": false, "history": [{"role": "user", "content": "Hei"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-conversation-id").is_none());
    let reply = json_of(resp).await;
    assert!(reply.get("conversation_id").is_none(), "{reply}");
    assert!(!reply["reply"].as_str().unwrap().is_empty());

    let resp = chat(
        &app,
        json!({"message": "x", "stream": false, "conversation_id": "a".repeat(64)}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json_of(resp).await["error"]["code"],
        "conversations_disabled"
    );
    let resp = app.get(&format!("/conversations/{}", "a".repeat(64))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json_of(resp).await["error"]["code"], "store_not_configured");

    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let ready = json_of(ready).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"]["state"], "not_configured");
}

#[tokio::test]
async fn readiness_reports_the_store_while_health_stays_200() {
    let (dir, path) = scratch_db("ready");
    let app = TestApp::spawn(&[("DATABASE_PATH", &path)]).await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let ready = json_of(ready).await;
    assert_eq!(ready["store"]["state"], "ok");
    assert_eq!(ready["store"]["mode"], "sqlite");
    assert!(ready["store"]["schema_version"].as_i64().unwrap() >= 1);
    drop(app);
    let _ = std::fs::remove_dir_all(dir);

    // Nothing listens on port 1: the store is down.
    let app = TestApp::spawn(&[
        (
            "DATABASE_URL",
            "postgres://elbatt@127.0.0.1:1/elbatt?sslmode=disable",
        ),
        ("DATABASE_CONNECT_TIMEOUT_SECS", "1"),
    ])
    .await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body = json_of(ready).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["store"]["state"], "degraded");
    assert_eq!(body["store"]["mode"], "postgres");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no connection detail: {body}"
    );
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/api/health").await.status(), 200);

    // Chat keeps answering; the turn is not stored, so no id is promised.
    let resp = chat(&app, json!({"message": QUESTION, "stream": false})).await;
    assert_eq!(resp.status(), 200);
    let reply = json_of(resp).await;
    assert!(reply.get("conversation_id").is_none(), "{reply}");
    assert!(!reply["reply"].as_str().unwrap().is_empty());
    // Continuing one needs the store.
    let resp = chat(
        &app,
        json!({"message": "x", "stream": false, "conversation_id": "b".repeat(64)}),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
}
