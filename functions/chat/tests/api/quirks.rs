//! The provider quirks of docs/upstreams/llm-providers.md#compatibility-quirks, each as a
//! compatible server really sends it: tool-call
//! deltas without `index`, ids repeated in every fragment, parallel calls sharing `index: 0`,
//! SSE comments and keep-alives, error objects inside a 200 stream, cumulative usage,
//! `finish_reason: "stop"` with tool calls, Gemini's array-shaped errors, a JSON body despite
//! `stream: true`, OpenRouter's headers and `max_tokens`, and `stream_options` refused.

use serde_json::{Value, json};

use crate::fake_llm::{
    DONE, REPORTED_MODEL, Script, data, finish_chunk, role_chunk, split_arguments, text_chunk,
    tool_args, tool_start,
};
use crate::helpers::{API_KEY, App, messages, tool_messages};
use crate::sse_client::{all, deltas, names, only};

fn answer() -> Script {
    Script::text_reply(&["Ferdig."])
}

/// The tool calls we replayed in the second request: (id, arguments as JSON).
fn replayed_calls(app: &App) -> Vec<(String, Value)> {
    let sent = app.llm.bodies();
    assert_eq!(sent.len(), 2, "{sent:?}");
    messages(&sent[1])
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .map(|c| {
            assert_eq!(c["function"]["name"], "lookup_vehicle");
            (
                c["id"].as_str().unwrap().to_owned(),
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn tool_call_deltas_without_index_are_joined_per_call() {
    // Gemini: no `index`; each call starts with its id and name, then bare argument pieces.
    let mut chunks = vec![role_chunk("gemini-2.5-flash")];
    for (id, plate) in [("fc_1", "EC47213"), ("fc_2", "DN61834")] {
        chunks.push(tool_start(None, Some(id), "lookup_vehicle", ""));
        for piece in split_arguments(&json!({ "plate": plate }).to_string()) {
            chunks.push(tool_args(None, &piece));
        }
    }
    chunks.push(finish_chunk("stop"));
    chunks.push(DONE.to_owned());
    let app = App::start(vec![Script::sse(chunks), answer()], &[]).await;
    let events = app
        .chat_sse(&json!({"message": "EC47213 og DN61834", "stream": true}))
        .await;
    let plates: Vec<&Value> = all(&events, "vehicle")
        .iter()
        .map(|v| &v["plate"])
        .collect();
    assert_eq!(plates, [&json!("EC47213"), &json!("DN61834")]);
    assert_eq!(
        replayed_calls(&app),
        [
            ("fc_1".to_owned(), json!({"plate": "EC47213"})),
            ("fc_2".to_owned(), json!({"plate": "DN61834"}))
        ]
    );
    assert_eq!(deltas(&events), ["Ferdig."]);
}

#[tokio::test]
async fn an_id_and_name_repeated_in_every_fragment_are_not_concatenated() {
    // LiteLLM, Fireworks, DeepSeek: every fragment carries the id (and often the name) again.
    let mut chunks = vec![role_chunk(REPORTED_MODEL)];
    for piece in split_arguments(r#"{"plate":"EC47213"}"#) {
        chunks.push(tool_start(
            Some(0),
            Some("call_rep"),
            "lookup_vehicle",
            &piece,
        ));
    }
    chunks.push(finish_chunk("tool_calls"));
    chunks.push(DONE.to_owned());
    let app = App::start(vec![Script::sse(chunks), answer()], &[]).await;
    let events = app
        .chat_sse(&json!({"message": "EC47213", "stream": true}))
        .await;
    assert_eq!(only(&events, "vehicle")["vehicle"]["make"], "KIA");
    assert_eq!(
        replayed_calls(&app),
        [("call_rep".to_owned(), json!({"plate": "EC47213"}))]
    );
    let sent = app.llm.bodies();
    assert_eq!(tool_messages(&sent[1])[0]["tool_call_id"], "call_rep");
}

#[tokio::test]
async fn parallel_calls_sharing_index_zero_stay_apart() {
    // Gemini multi-tool and some proxies: a new id at the same index is a new call.
    let mut chunks = vec![role_chunk(REPORTED_MODEL)];
    for (id, plate) in [("call_x", "EC47213"), ("call_y", "DN61834")] {
        chunks.push(tool_start(Some(0), Some(id), "lookup_vehicle", ""));
        for piece in split_arguments(&json!({ "plate": plate }).to_string()) {
            chunks.push(tool_args(Some(0), &piece));
        }
    }
    chunks.push(finish_chunk("tool_calls"));
    chunks.push(DONE.to_owned());
    let app = App::start(vec![Script::sse(chunks), answer()], &[]).await;
    let events = app
        .chat_sse(&json!({"message": "to biler", "stream": true}))
        .await;
    assert_eq!(all(&events, "vehicle").len(), 2);
    assert_eq!(
        replayed_calls(&app),
        [
            ("call_x".to_owned(), json!({"plate": "EC47213"})),
            ("call_y".to_owned(), json!({"plate": "DN61834"}))
        ]
    );
}

#[tokio::test]
async fn keep_alive_comments_and_events_are_skipped() {
    let app = App::start(
        vec![Script::sse([
            ": keep-alive\n\n".to_owned(),
            role_chunk(REPORTED_MODEL),
            ": OPENROUTER PROCESSING\n\n".to_owned(),
            text_chunk("Hei"),
            "event: keepalive\ndata: {}\n\n".to_owned(),
            "data: \n\n".to_owned(),
            text_chunk(" på"),
            ": keep-alive\n\n".to_owned(),
            text_chunk(" deg"),
            finish_chunk("stop"),
            DONE.to_owned(),
        ])],
        &[],
    )
    .await;
    let events = app
        .chat_sse(&json!({"message": "Hei", "stream": true}))
        .await;
    assert_eq!(names(&events), ["delta", "delta", "delta", "done"]);
    assert_eq!(deltas(&events), ["Hei", " på", " deg"]);
}

#[tokio::test]
async fn an_error_inside_a_200_stream_before_any_text_is_retried() {
    // OpenRouter: a provider failure arrives as a chunk with `error` after the 200.
    let error = data(&json!({
        "id": "gen-1", "object": "chat.completion.chunk", "provider": "openai",
        "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
    }));
    let app = App::start(
        vec![
            Script::sse([role_chunk(REPORTED_MODEL), error]),
            Script::text_reply(&["Svar etter nytt forsøk."]),
        ],
        &[],
    )
    .await;
    let (status, body) = app.chat_json(&json!({"message": "Hei"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "model");
    assert_eq!(body["reply"], "Svar etter nytt forsøk.");
    assert_eq!(app.llm.calls(), 2);
}

#[tokio::test]
async fn a_non_retryable_error_inside_a_200_stream_falls_back_to_offline() {
    // vLLM / Scaleway legacy shape; a bad request is not worth repeating.
    let error = data(&json!({
        "object": "error", "message": "Invalid tool schema", "type": "BadRequestError",
        "param": null, "code": 400
    }));
    let app = App::start(vec![Script::sse([error])], &[]).await;
    let (status, body) = app
        .chat_json(&json!({"message": "Hvor lenge varer batterigarantien?"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "offline");
    assert_eq!(body["offline_reason"], "provider_failed");
    assert_eq!(app.llm.calls(), 1);
}

#[tokio::test]
async fn an_error_inside_a_200_stream_after_text_ends_with_an_error_event() {
    let error = data(&json!({"error": {"message": "upstream crashed", "type": "server_error"}}));
    let app = App::start(
        vec![Script::sse([
            role_chunk(REPORTED_MODEL),
            text_chunk("Batteriet"),
            error,
        ])],
        &[],
    )
    .await;
    let events = app
        .chat_sse(&json!({"message": "Hei", "stream": true}))
        .await;
    assert_eq!(names(&events), ["delta", "error"]);
    assert_eq!(deltas(&events), ["Batteriet"]);
    let err = &only(&events, "error")["error"];
    assert_eq!(err["code"], "upstream_error");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        !err.to_string().contains("upstream crashed"),
        "provider details stay in our logs: {err}"
    );
    assert_eq!(app.llm.calls(), 1, "nothing is retried once text was shown");

    // Without streaming the same failure is one error response.
    let resp = app.post(&json!({"message": "Hei"})).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        crate::helpers::json_of(resp).await["error"]["code"],
        "upstream_error"
    );
}

#[tokio::test]
async fn cumulative_usage_in_every_chunk_keeps_the_last_value() {
    // Scaleway dedicated deployments: usage so far in every chunk.
    let chunk = |text: &str, n: u64, finish: Value| {
        data(&json!({
            "object": "chat.completion.chunk", "model": "mistral-small-3.2-24b-instruct-2506",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}
        }))
    };
    let app = App::start(
        vec![Script::sse([
            chunk("En", 1, Value::Null),
            chunk(" to", 2, Value::Null),
            chunk(" tre", 3, json!("stop")),
            DONE.to_owned(),
        ])],
        &[],
    )
    .await;
    let (_, body) = app.chat_json(&json!({"message": "Tell"})).await;
    assert_eq!(body["reply"], "En to tre");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
    );
    assert_eq!(body["model"], "mistral-small-3.2-24b-instruct-2506");
}

#[tokio::test]
async fn finish_reason_stop_with_a_whole_tool_call_in_one_chunk_still_runs_the_tool() {
    // Mistral/Groq send the whole call at once; Gemini says "stop" even after tool calls.
    let app = App::start(
        vec![
            Script::sse([
                role_chunk(REPORTED_MODEL),
                tool_start(
                    Some(0),
                    Some("abcDEF123"),
                    "lookup_vehicle",
                    r#"{"plate": "EC47213"}"#,
                ),
                finish_chunk("stop"),
                DONE.to_owned(),
            ]),
            answer(),
        ],
        &[],
    )
    .await;
    let events = app
        .chat_sse(&json!({"message": "EC47213", "stream": true}))
        .await;
    assert_eq!(names(&events), ["vehicle", "delta", "done"]);
    assert_eq!(
        replayed_calls(&app),
        [("abcDEF123".to_owned(), json!({"plate": "EC47213"}))]
    );
}

#[tokio::test]
async fn a_gemini_array_shaped_429_is_retried() {
    let app = App::start(
        vec![
            Script::json(
                429,
                r#"[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]"#,
            ),
            Script::text_reply(&["Hei fra Gemini."]),
        ],
        &[],
    )
    .await;
    let (status, body) = app.chat_json(&json!({"message": "Hei"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["mode"], "model");
    assert_eq!(body["reply"], "Hei fra Gemini.");
    assert_eq!(app.llm.calls(), 2);
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_and_answers_json_is_understood() {
    let app = App::start(
        vec![Script::json(
            200,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "llama3.1",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hei fra Ollama."}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
            })
            .to_string(),
        )],
        &[],
    )
    .await;
    let events = app
        .chat_sse(&json!({"message": "Hei", "stream": true}))
        .await;
    assert_eq!(deltas(&events), ["Hei fra Ollama."]);
    let done = only(&events, "done");
    assert_eq!(done["model"], "llama3.1");
    assert_eq!(done["usage"]["total_tokens"], 16);
}

#[tokio::test]
async fn openrouter_gets_attribution_headers_and_max_tokens() {
    let app = App::start(
        vec![Script::text_reply(&["Hei."])],
        &[
            ("LLM_PROVIDER", "openrouter"),
            ("OPENROUTER_TITLE", "Elbatt test"),
        ],
    )
    .await;
    let (status, _) = app.chat_json(&json!({"message": "Hei"})).await;
    assert_eq!(status, 200);
    let seen = &app.llm.requests()[0];
    assert_eq!(seen.headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(seen.headers["http-referer"], "https://elbatt.no");
    assert_eq!(seen.headers["x-title"], "Elbatt test");
    assert_eq!(seen.body["model"], "openai/gpt-oss-120b");
    assert_eq!(seen.body["max_tokens"], 800);
    assert!(seen.body.get("max_completion_tokens").is_none());
}

#[tokio::test]
async fn a_refused_stream_options_is_dropped_and_the_request_sent_once_more() {
    let app = App::start(
        vec![
            Script::json(
                400,
                r#"{"object":"error","message":"Extra inputs are not permitted: stream_options","type":"BadRequestError","code":400}"#,
            ),
            Script::text_reply(&["Hei."]),
        ],
        &[("LLM_PROVIDER", "scaleway")],
    )
    .await;
    let (_, body) = app.chat_json(&json!({"message": "Hei"})).await;
    assert_eq!(body["mode"], "model");
    let sent = app.llm.bodies();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["stream_options"], json!({"include_usage": true}));
    assert!(sent[1].get("stream_options").is_none(), "{}", sent[1]);
    assert_eq!(sent[1]["max_tokens"], 800, "Scaleway takes max_tokens");
}
