//! What the system message carries each turn: the built-in prompt (with the battery-fire
//! advice) and today's date in Norway, from the injected clock.

use serde_json::json;

use crate::fake_llm::Script;
use crate::helpers::{App, TODAY_LINE, messages};

fn system_text(body: &serde_json::Value) -> String {
    let first = &messages(body)[0];
    assert_eq!(first["role"], "system", "{first}");
    first["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_request_of_every_turn_carries_todays_norwegian_date() {
    let app = App::start(
        vec![
            Script::tool_reply(&[("call_ek", "EC 47213")]),
            Script::text_reply(&["EU-kontrollen ", "er forfalt."]),
            Script::text_reply(&["Hei igjen."]),
        ],
        &[],
    )
    .await;
    let (status, _) = app
        .chat_json(&json!({"message": "Når er EU-kontrollen på EC 47213?", "stream": false}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .chat_json(&json!({
            "message": "Takk!",
            "history": [
                {"role": "user", "content": "Når er EU-kontrollen på EC 47213?"},
                {"role": "assistant", "content": "EU-kontrollen er forfalt."}
            ],
            "stream": false
        }))
        .await;
    assert_eq!(status, 200);

    let sent = app.llm.bodies();
    assert_eq!(
        sent.len(),
        3,
        "two rounds for the first turn, one for the second"
    );
    for body in &sent {
        let system = system_text(body);
        assert!(
            system.trim_end().ends_with(TODAY_LINE),
            "the date (Oslo, not UTC: 1 January, not 31 December) ends the system message:\n{system}"
        );
        assert_eq!(system.matches("Dagens dato i Norge").count(), 1);
        assert!(!system.contains("2025-12-31"), "{system}");
    }
}

#[tokio::test]
async fn the_prompt_sends_smoke_from_the_battery_to_110_and_elbatt_questions_to_the_site() {
    let app = App::start(vec![Script::text_reply(&["Ok."])], &[]).await;
    let (status, _) = app
        .chat_json(&json!({"message": "Det lukter brent fra batteriet", "stream": false}))
        .await;
    assert_eq!(status, 200);
    let system = system_text(&app.llm.bodies()[0]);
    for needle in [
        "ring 110",
        "ut av bilen",
        "avstand",
        "elbatt.no",
        "det som inntreffer først",
    ] {
        assert!(
            system.contains(needle),
            "{needle:?} missing from the prompt"
        );
    }
    assert!(
        !system.contains("stanse bilen trygt og kontakte verksted"),
        "the old advice for smoke is gone"
    );
}
