//! Plain answers: streamed as `delta` events then `done`, or as one JSON body; and the request we
//! send for them (model, messages, tools, streaming options, token cap, key).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::fake_llm::{DONE, REPORTED_MODEL, Script, Step, finish_chunk, role_chunk, text_chunk};
use crate::helpers::{API_KEY, App, json_of, messages, sse_of};
use crate::sse_client::{deltas, names, only};

const PARTS: [&str; 4] = [
    "Batterigarantien",
    " er vanligvis",
    " 8 år eller",
    " 160 000 km.",
];

#[tokio::test]
async fn a_plain_text_stream_arrives_as_delta_events_in_order_then_done_with_usage_and_model() {
    let app = App::start(vec![Script::text_reply(&PARTS)], &[]).await;
    let body = json!({
        "message": "Hvor lenge varer batterigarantien?",
        "history": [
            {"role": "user", "content": "Hei"},
            {"role": "assistant", "content": "Hei! Hva lurer du på?"}
        ],
        "stream": true
    });
    let resp = app.post(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache")
    );
    let events = sse_of(resp).await;

    assert_eq!(deltas(&events), PARTS);
    assert_eq!(names(&events), ["delta", "delta", "delta", "delta", "done"]);
    let done = only(&events, "done");
    assert_eq!(done["mode"], "model");
    assert!(done.get("offline_reason").is_none(), "{done}");
    assert_eq!(done["model"], REPORTED_MODEL);
    assert_eq!(
        done["usage"],
        json!({"prompt_tokens": 40, "completion_tokens": 4, "total_tokens": 44})
    );
    assert_eq!(done["finish_reason"], "stop");

    let sent = app.llm.requests();
    assert_eq!(sent.len(), 1);
    let seen = &sent[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.headers["authorization"], format!("Bearer {API_KEY}"));
    assert!(seen.headers["content-type"].starts_with("application/json"));
    assert!(
        !seen.headers.contains_key("x-title"),
        "attribution headers are OpenRouter's alone"
    );
    let b = &seen.body;
    assert_eq!(b["model"], "gpt-4o-mini");
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    assert_eq!(b["max_completion_tokens"], 800);
    assert!(b.get("max_tokens").is_none(), "{b}");
    assert_eq!(b["tool_choice"], "auto");
    let tools = b["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "lookup_vehicle");
    assert_eq!(
        tools[0]["function"]["parameters"]["required"],
        json!(["plate"])
    );
    let msgs = messages(b);
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs[0]["content"].as_str().unwrap().contains("Elbatt"));
    assert_eq!(msgs[1], json!({"role": "user", "content": "Hei"}));
    assert_eq!(
        msgs[2],
        json!({"role": "assistant", "content": "Hei! Hva lurer du på?"})
    );
    assert_eq!(
        msgs[3],
        json!({"role": "user", "content": "Hvor lenge varer batterigarantien?"})
    );
}

#[tokio::test]
async fn without_streaming_the_same_answer_is_one_json_body() {
    let app = App::start(vec![Script::text_reply(&PARTS)], &[]).await;
    let resp = app
        .post(&json!({"message": "Hvor lenge varer batterigarantien?", "stream": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body = json_of(resp).await;
    assert_eq!(body["reply"], PARTS.concat());
    assert_eq!(body["vehicles"], json!([]));
    assert_eq!(body["model"], REPORTED_MODEL);
    assert_eq!(body["mode"], "model");
    assert_eq!(body["usage"]["total_tokens"], 44);
    // Upstream is streamed either way: the first-token timeout works the same for both.
    assert_eq!(app.llm.bodies()[0]["stream"], true);
}

#[tokio::test]
async fn accept_event_stream_without_a_stream_field_streams_and_an_explicit_false_wins() {
    let app = App::start(vec![Script::text_reply(&PARTS)], &[]).await;
    let resp = app
        .post(&json!({"message": "Hei"}))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let events = sse_of(resp).await;
    assert_eq!(deltas(&events), PARTS);

    let resp = app
        .post(&json!({"message": "Hei", "stream": false}))
        .header("accept", "text/event-stream, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await["reply"], PARTS.concat());

    // Neither: one JSON body.
    let (status, body) = app.chat_json(&json!({"message": "Hei"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["reply"], PARTS.concat());
}

#[tokio::test]
async fn text_reaches_the_client_as_it_arrives_not_when_the_answer_is_complete() {
    let pause = Duration::from_millis(500);
    let app = App::start(
        vec![Script::sse_steps(vec![
            Step::Send(role_chunk(REPORTED_MODEL)),
            Step::Send(text_chunk("Første del.")),
            Step::Wait(pause),
            Step::Send(text_chunk(" Andre del.")),
            Step::Send(finish_chunk("stop")),
            Step::Send(DONE.to_owned()),
        ])],
        &[("LLM_IDLE_TIMEOUT_SECS", "3")],
    )
    .await;
    let started = Instant::now();
    let resp = app
        .post(&json!({"message": "Hei", "stream": true}))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut body = String::new();
    let mut first_delta_at = None;
    while let Some(chunk) = stream.next().await {
        body.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if first_delta_at.is_none() && body.contains("Første del.") {
            first_delta_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first = first_delta_at.expect("the first delta arrived");
    assert!(total >= pause, "{total:?}");
    assert!(
        first + pause / 2 < total,
        "first text after {first:?}, whole answer after {total:?}"
    );
    let events = crate::sse_client::parse(&body);
    assert_eq!(deltas(&events), ["Første del.", " Andre del."]);
}
