//! Upstream text that echoes a key (OpenAI's "Incorrect API key provided: sk-proj-****abcd",
//! an error body quoting a header) is redacted before it is logged: neither key, nor its last
//! characters, ever reaches a log line.

use elbatt::testing::{FakeVegvesen, Reply, capture_logs};
use serde_json::json;

use crate::fake_llm::Script;
use crate::helpers::App;

// Split so that no key-shaped literal is tracked (a check scans the repository for real keys).
const LLM_KEY: &str = concat!("sk", "-proj-elbattTEST-Wq7Zr");
const VEGVESEN_KEY: &str = "svv-Elbatt-Test-Key-QwRtY";

fn tail(key: &str) -> &str {
    &key[key.len() - 4..]
}

#[tokio::test]
async fn keys_echoed_in_upstream_error_bodies_never_reach_the_logs() {
    let (logs, _capture) = capture_logs();
    // Both keys, whole and masked, in both upstreams' error bodies.
    let planted = format!(
        "Incorrect API key provided: sk-proj-****{}. Other key: {VEGVESEN_KEY}; full: {LLM_KEY}; \
         svv ...{}",
        tail(LLM_KEY),
        tail(VEGVESEN_KEY)
    );
    let llm_error = json!({"error": {
        "message": planted, "type": "invalid_request_error", "code": "invalid_api_key"
    }});
    let register_error = json!({"feilmelding": planted});
    let vegvesen = FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::json(400, register_error.to_string())],
        )],
        Reply::status(204),
    )
    .await;
    let app = App::with_vegvesen(
        vec![Script::json(401, llm_error.to_string())],
        &[
            ("OPENAI_API_KEY", LLM_KEY),
            ("VEGVESEN_API_KEY", VEGVESEN_KEY),
        ],
        true,
        vegvesen,
    )
    .await;

    // The model refuses the key; the turn falls back offline and looks the plate up, which the
    // register rejects.
    let (status, body) = app
        .chat_json(&json!({"message": "Hva med EC 47213?"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offline_reason"], "provider_failed", "{body}");
    assert_eq!(app.llm.calls(), 1);
    assert_eq!(app.vegvesen.calls(), 1);

    let text = logs.text();
    assert!(
        text.contains("HTTP 401"),
        "the provider error is logged: {text}"
    );
    assert!(
        text.contains("Statens vegvesen rejected the request"),
        "the register error is logged: {text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
    for key in [LLM_KEY, VEGVESEN_KEY] {
        assert!(!text.contains(key), "{key} in {text}");
        assert!(!text.contains(tail(key)), "{} in {text}", tail(key));
    }
    let shown = body.to_string();
    for key in [LLM_KEY, VEGVESEN_KEY] {
        assert!(!shown.contains(tail(key)), "{shown}");
    }
}
