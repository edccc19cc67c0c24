//! Upstream faults: what is retried (429 honouring `retry-after`, 500, a stream cut before any
//! text, connection errors), what is not (`insufficient_quota`, 400/401/403, anything after
//! text), timeouts, the fallback model, offline mode as the last resort, and garbage bodies.
//! Every test is bounded in time: a hang is a failure.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::fake_llm::{DONE, End, REPORTED_MODEL, Script, Step, role_chunk, text_chunk};
use crate::helpers::{App, within};
use crate::sse_client::{deltas, names, only};

const LIMIT: Duration = Duration::from_secs(5);

fn hello() -> Script {
    Script::text_reply(&["Hei", " der."])
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_that_delay() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::json(
                    429,
                    r#"{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}}"#,
                )
                .header("retry-after", "0.1"),
                hello(),
            ],
            &[],
        )
        .await;
        let (status, body) = app.chat_json(&json!({"message": "Hei"})).await;
        assert_eq!(status, 200);
        assert_eq!(body["mode"], "model");
        assert_eq!(body["reply"], "Hei der.");
        let sent = app.llm.requests();
        assert_eq!(sent.len(), 2);
        let gap = sent[1].at - sent[0].at;
        assert!(gap >= Duration::from_millis(95), "retried after {gap:?}");
        assert_eq!(sent[0].body, sent[1].body, "the same request is sent again");
    })
    .await;
}

#[tokio::test]
async fn insufficient_quota_is_not_retried_and_the_answer_comes_offline() {
    within(LIMIT, async {
        let app = App::start(
            vec![Script::json(
                429,
                r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            )],
            &[],
        )
        .await;
        let (status, body) = app
            .chat_json(&json!({"message": "Hvor lenge varer batterigarantien?"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mode"], "offline");
        assert_eq!(body["offline_reason"], "provider_failed");
        assert!(body["reply"].as_str().unwrap().contains("frakoblet"), "{body}");
        assert_eq!(app.llm.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_500_then_success_is_retried() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::json(
                    500,
                    r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
                ),
                hello(),
            ],
            &[],
        )
        .await;
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        assert_eq!(deltas(&events), ["Hei", " der."]);
        assert_eq!(only(&events, "done")["mode"], "model");
        assert_eq!(app.llm.calls(), 2);
    })
    .await;
}

#[tokio::test]
async fn retries_stop_after_two_and_the_answer_comes_offline() {
    within(LIMIT, async {
        let app = App::start(
            vec![Script::json(
                503,
                r#"{"error":{"message":"overloaded","code":"server_is_overloaded"}}"#,
            )],
            &[],
        )
        .await;
        let (_, body) = app.chat_json(&json!({"message": "Hei"})).await;
        assert_eq!(body["mode"], "offline");
        assert_eq!(body["offline_reason"], "provider_failed");
        assert_eq!(app.llm.calls(), 3, "one call and two retries");
    })
    .await;
}

#[tokio::test]
async fn bad_request_and_auth_errors_are_not_retried() {
    within(LIMIT, async {
        for status in [400, 401, 403] {
            // Without `stream_options` a 400 has nothing to drop and retry without.
            let app = App::start(
                vec![Script::json(
                    status,
                    r#"{"error":{"message":"Incorrect API key provided: sk-test...","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                )],
                &[("LLM_STREAM_USAGE", "false")],
            )
            .await;
            let events = app.chat_sse(&json!({"message": "Hei", "stream": true})).await;
            let done = only(&events, "done");
            assert_eq!(done["mode"], "offline", "{status}");
            assert_eq!(done["offline_reason"], "provider_failed", "{status}");
            assert_eq!(app.llm.calls(), 1, "{status}");
            assert!(app.llm.bodies()[0].get("stream_options").is_none());
        }
    })
    .await;
}

#[tokio::test]
async fn a_stream_cut_after_text_ends_with_an_error_event() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::sse([role_chunk(REPORTED_MODEL), text_chunk("Batteriet har")])
                    .ending(End::Cut),
            ],
            &[],
        )
        .await;
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        assert_eq!(names(&events), ["delta", "error"]);
        assert_eq!(only(&events, "error")["error"]["code"], "upstream_error");
        assert_eq!(app.llm.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_stream_cut_before_any_text_is_retried() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::sse([role_chunk(REPORTED_MODEL)]).ending(End::Cut),
                hello(),
            ],
            &[],
        )
        .await;
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        assert_eq!(deltas(&events), ["Hei", " der."]);
        assert_eq!(app.llm.calls(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_ends_without_done_or_finish_reason_is_incomplete_and_retried() {
    within(LIMIT, async {
        let app = App::start(
            vec![Script::sse([role_chunk(REPORTED_MODEL)]), hello()],
            &[],
        )
        .await;
        let (_, body) = app.chat_json(&json!({"message": "Hei"})).await;
        assert_eq!(body["reply"], "Hei der.");
        assert_eq!(app.llm.calls(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_the_fallback_model_answers() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::sse_steps(vec![
                    Step::Wait(Duration::from_secs(3)),
                    Step::Send(text_chunk("for sent")),
                ]),
                Script::text_reply_from("backup-model", &["Reserve."]),
            ],
            &[("LLM_FALLBACK_MODELS", "backup-model")],
        )
        .await;
        let started = std::time::Instant::now();
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        let took = started.elapsed();
        assert_eq!(deltas(&events), ["Reserve."]);
        assert_eq!(only(&events, "done")["model"], "backup-model");
        let sent = app.llm.bodies();
        assert_eq!(sent.len(), 2, "a timeout is not retried on the same model");
        assert_eq!(sent[0]["model"], "gpt-4o-mini");
        assert_eq!(sent[1]["model"], "backup-model");
        // After the 0.5 s first-token timeout, before the slow model's first text at 3 s.
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{took:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn when_the_fallback_also_times_out_the_answer_comes_offline() {
    within(LIMIT, async {
        // A slow response head this time (nothing at all until after the timeout).
        let app = App::start(
            vec![hello().head_delay(Duration::from_secs(3))],
            &[("LLM_FALLBACK_MODELS", "backup-model")],
        )
        .await;
        let started = std::time::Instant::now();
        let events = app
            .chat_sse(&json!({"message": "Hvor lenge varer batterigarantien?", "stream": true}))
            .await;
        let took = started.elapsed();
        let done = only(&events, "done");
        assert_eq!(done["mode"], "offline");
        assert_eq!(done["offline_reason"], "provider_failed");
        assert!(crate::sse_client::text(&events).contains("frakoblet"));
        let models: Vec<_> = app
            .llm
            .bodies()
            .iter()
            .map(|b| b["model"].clone())
            .collect();
        assert_eq!(models, [json!("gpt-4o-mini"), json!("backup-model")]);
        // Both models' 0.5 s first-token timeouts, well before either's 3 s response head.
        assert!(took < Duration::from_secs(3), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_stalls_after_text_ends_with_a_timeout_error() {
    within(LIMIT, async {
        let app = App::start(
            vec![
                Script::sse([role_chunk(REPORTED_MODEL), text_chunk("Batteriet")])
                    .ending(End::Hang),
            ],
            &[],
        )
        .await;
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        assert_eq!(names(&events), ["delta", "error"]);
        assert_eq!(only(&events, "error")["error"]["code"], "upstream_timeout");
        assert_eq!(app.llm.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn garbage_json_with_200_gives_an_offline_answer_not_a_crash() {
    within(LIMIT, async {
        let app = App::start(vec![Script::json(200, "{\"choices\": [tru")], &[]).await;
        let (status, body) = app
            .chat_json(&json!({"message": "Hvor lenge varer batterigarantien?"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mode"], "offline");
        assert_eq!(body["offline_reason"], "provider_failed");
        // An unparseable 200 is the provider's fault, not a network blip: not retried.
        assert_eq!(app.llm.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_stream_of_garbage_is_retried_then_answered_offline() {
    within(LIMIT, async {
        let app = App::start(
            vec![Script::sse([
                "data: {\"choices\": [{\"delta\": \n\n",
                "data: <html>502 Bad Gateway</html>\n\n",
                "garbage without a field name\n\n",
            ])],
            &[],
        )
        .await;
        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        let done = only(&events, "done");
        assert_eq!(done["mode"], "offline");
        assert_eq!(app.llm.calls(), 3, "an incomplete stream is retried twice");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_provider_is_retried_then_answered_offline() {
    within(LIMIT, async {
        let refused = elbatt::testing::RefusedPort::bind();
        let url = format!("http://{}/v1", refused.addr);
        let app = App::start(Vec::new(), &[("OPENAI_BASE_URL", &url)]).await;
        let (status, body) = app.chat_json(&json!({"message": "Hei"})).await;
        assert_eq!(status, 200);
        assert_eq!(body["mode"], "offline");
        assert_eq!(body["offline_reason"], "provider_failed");
        drop(refused);
    })
    .await;
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_stops_the_upstream_read() {
    within(LIMIT, async {
        // Text keeps dribbling in; nobody is left to read it after the first piece.
        let mut steps = vec![
            Step::Send(role_chunk(REPORTED_MODEL)),
            Step::Send(text_chunk("Første")),
        ];
        for _ in 0..200 {
            steps.push(Step::Wait(Duration::from_millis(20)));
            steps.push(Step::Send(text_chunk(" mer")));
        }
        steps.push(Step::Send(DONE.to_owned()));
        let app = App::start(vec![Script::sse_steps(steps)], &[]).await;
        let resp = app
            .post(&json!({"message": "Hei", "stream": true}))
            .send()
            .await
            .unwrap();
        let mut stream = resp.bytes_stream();
        let first = stream.next().await.unwrap().unwrap();
        assert!(
            std::str::from_utf8(&first)
                .unwrap()
                .contains("event: delta")
        );
        drop(stream);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while app.llm.hangups() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(app.llm.hangups(), 1, "the upstream stream was dropped");
        assert_eq!(app.llm.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_stream_with_nothing_in_it_is_not_an_empty_answer() {
    within(LIMIT, async {
        let app = App::start(
            vec![Script::sse(["data: {\"nonsense\": true}\n\n", DONE])],
            &[],
        )
        .await;
        let (status, body) = app
            .chat_json(&json!({"message": "Hvor lenge varer batterigarantien?"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(body["reply"], "", "{body}");
        assert_eq!(body["mode"], "offline", "{body}");
    })
    .await;
}

#[tokio::test]
async fn an_offline_fallback_after_a_tool_round_does_not_repeat_the_lookup() {
    within(LIMIT, async {
        // Round one calls the tool; every later model call fails: the turn ends offline.
        let app = App::start(
            vec![
                Script::tool_reply(&[("call_1", "EC 47213")]),
                Script::json(500, r#"{"error":{"message":"boom","type":"server_error"}}"#),
            ],
            &[("LLM_MAX_RETRIES", "0")],
        )
        .await;
        let (status, body) = app
            .chat_json(&json!({"message": "Hva vet du om EC 47213?"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mode"], "offline");
        assert_eq!(body["offline_reason"], "provider_failed");
        let vehicles = body["vehicles"].as_array().unwrap();
        assert_eq!(vehicles.len(), 1, "reported once: {body}");
        assert_eq!(vehicles[0]["vehicle"]["make"], "KIA");
        // The offline text still describes the car found in the tool round.
        assert!(
            body["reply"].as_str().unwrap().contains("KIA")
                || body["reply"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("kia"),
            "{body}"
        );
        assert_eq!(app.vegvesen.calls(), 1);
    })
    .await;
}
