//! Offline mode: no key (the fresh-machine case), a plate in the message looked up without a
//! model (within the turn's deadline), and the daily token budget sending later turns offline.

use std::time::{Duration, Instant};

use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};
use serde_json::json;

use crate::fake_llm::Script;
use crate::helpers::App;
use crate::sse_client::{all, deltas, names, only, text};

const WARRANTY: &str = "Hvor lenge varer batterigarantien?";

#[tokio::test]
async fn without_a_key_the_answer_streams_in_offline_mode_in_norwegian() {
    let app = App::offline(&[]).await;
    let events = app
        .chat_sse(&json!({"message": WARRANTY, "stream": true}))
        .await;
    assert!(deltas(&events).len() > 1, "streamed in pieces: {events:?}");
    assert_eq!(names(&events).last(), Some(&"done"));
    let done = only(&events, "done");
    assert_eq!(done["mode"], "offline");
    assert_eq!(done["offline_reason"], "not_configured");
    assert!(done["model"].is_null());
    let answer = text(&events);
    assert!(answer.contains("frakoblet"), "{answer}");
    assert!(
        answer.contains("160 000 km"),
        "the warranty answer: {answer}"
    );

    let (status, body) = app.chat_json(&json!({"message": WARRANTY})).await;
    assert_eq!(status, 200);
    assert_eq!(body["mode"], "offline");
    assert_eq!(body["offline_reason"], "not_configured");
    assert_eq!(body["reply"], answer, "the same answer either way");
    assert_eq!(body["vehicles"], json!([]));
    assert_eq!(app.llm.calls(), 0);
}

#[tokio::test]
async fn offline_mode_looks_up_a_plate_named_in_the_message() {
    let app = App::offline(&[]).await;
    let events = app
        .chat_sse(&json!({"message": "Hva kan du si om batteriet på EC47213?", "stream": true}))
        .await;
    assert_eq!(names(&events)[0], "vehicle", "the lookup comes first");
    let vehicle = only(&events, "vehicle");
    assert_eq!(vehicle["plate"], "EC47213");
    assert_eq!(vehicle["vehicle"]["make"], "KIA");
    let answer = text(&events);
    assert!(answer.contains("EC 47213"), "{answer}");
    assert!(answer.contains("KIA Niro"), "{answer}");
    assert!(answer.contains("frakoblet"), "{answer}");
    assert_eq!(app.vegvesen.calls(), 1);

    // An unknown plate is reported, and the turn still answers.
    let (status, body) = app.chat_json(&json!({"message": "Og AA 12345?"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["vehicles"][0]["plate"], "AA12345");
    assert_eq!(body["vehicles"][0]["error"]["code"], "not_found");
    assert!(body["reply"].as_str().unwrap().contains("frakoblet"));
    assert_eq!(app.llm.calls(), 0);
}

#[tokio::test]
async fn a_spent_daily_token_budget_sends_later_turns_offline() {
    // Each fake answer reports 40 + 1 tokens; the budget is 30.
    let app = App::start(
        vec![Script::text_reply(&["Svar fra modellen."])],
        &[("CHAT_DAILY_TOKEN_BUDGET", "30")],
    )
    .await;
    let (_, first) = app.chat_json(&json!({"message": WARRANTY})).await;
    assert_eq!(first["mode"], "model");
    assert_eq!(first["usage"]["total_tokens"], 41);

    let events = app
        .chat_sse(&json!({"message": WARRANTY, "stream": true}))
        .await;
    let done = only(&events, "done");
    assert_eq!(done["mode"], "offline");
    assert_eq!(done["offline_reason"], "budget_spent");
    assert!(text(&events).contains("160 000 km"));
    assert!(all(&events, "error").is_empty());
    assert_eq!(app.llm.calls(), 1, "the spent budget keeps the model out");
}

/// Offline lookups are bounded by the turn's deadline too: a register slower than the turn
/// yields an answer that says the lookup did not finish in time, within the deadline.
#[tokio::test]
async fn an_offline_lookup_slower_than_the_turn_is_reported_as_not_done_in_time() {
    let slow = FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::After(
                Duration::from_secs(30),
                Box::new(Reply::json(
                    200,
                    vegvesen_fixture("bev-kia-niro-ec47213.json"),
                )),
            )],
        )],
        Reply::status(204),
    )
    .await;
    let app = App::with_vegvesen(
        Vec::new(),
        &[
            ("CHAT_TURN_TIMEOUT_SECS", "1.5"),
            ("VEGVESEN_TIMEOUT_SECS", "20"),
        ],
        false,
        slow,
    )
    .await;
    let started = Instant::now();
    let (status, body) = app
        .chat_json(&json!({"message": "Hvor lenge varer batterigarantien på EC 47213?"}))
        .await;
    let took = started.elapsed();
    // The 1.5 s turn ends it, not the register's 30 s nor the client's 20 s (the slack is for a
    // loaded CI machine).
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "offline");
    assert_eq!(
        body["vehicles"][0]["error"]["code"], "out_of_time",
        "{body}"
    );
    let reply = body["reply"].as_str().unwrap();
    assert!(
        reply.contains("rakk ikke") && reply.contains("i tide"),
        "{reply}"
    );
    assert!(
        reply.contains("160 000 km"),
        "the FAQ answer still comes: {reply}"
    );
}
