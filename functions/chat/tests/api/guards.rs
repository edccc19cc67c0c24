//! The edge of `/chat`: content type, malformed bodies, the size limits (each named in its
//! error), the model allow-list, the per-client rate limit, and CORS. None of these reach the
//! model.

use serde_json::{Value, json};

use crate::fake_llm::Script;
use crate::helpers::{App, json_of};

/// Posts a raw body with the given content type (none if `None`): status and JSON body.
async fn post_raw(app: &App, content_type: Option<&str>, body: impl Into<String>) -> (u16, Value) {
    let mut req = app.client.post(app.url()).body(body.into());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, json_of(resp).await)
}

fn message_of(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let app = App::start(vec![Script::text_reply(&["x"])], &[]).await;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, body) = post_raw(&app, ct, r#"{"message":"Hei"}"#).await;
        assert_eq!(status, 415, "{ct:?}");
        assert_eq!(body["error"]["code"], "unsupported_media_type");
        assert!(message_of(&body).contains("application/json"), "{body}");
    }
    let (status, _) = post_raw(
        &app,
        Some("application/json; charset=utf-8"),
        r#"{"message":"Hei"}"#,
    )
    .await;
    assert_eq!(status, 200, "parameters on the media type are fine");
    assert_eq!(app.llm.calls(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_400_saying_what_was_wrong() {
    let app = App::start(vec![Script::text_reply(&["x"])], &[]).await;
    let cases: [(&str, &str, &str); 10] = [
        ("", "bad_json", "EOF"),
        ("{", "bad_json", "EOF"),
        ("[]", "bad_json", "expected struct"),
        ("\"Hei\"", "bad_json", "invalid type"),
        (r#"{"message": 5}"#, "bad_json", "invalid type"),
        (
            r#"{"message": "x", "history": "nope"}"#,
            "bad_json",
            "invalid type",
        ),
        (
            r#"{"message": "x", "stream": "yes"}"#,
            "bad_json",
            "invalid type",
        ),
        (
            r#"{"message": "x", "history": [{"role": "system", "content": "y"}]}"#,
            "bad_json",
            "unknown variant",
        ),
        (
            r#"{"message": "x", "mesage": "y"}"#,
            "bad_json",
            "unknown field",
        ),
        (r#"{"message": "  \n "}"#, "message_empty", "empty"),
    ];
    for (raw, code, says) in cases {
        let (status, body) = post_raw(&app, Some("application/json"), raw).await;
        assert_eq!(status, 400, "{raw}: {body}");
        assert_eq!(body["error"]["code"], code, "{raw}: {body}");
        assert!(message_of(&body).contains(says), "{raw}: {body}");
    }
    assert_eq!(app.llm.calls(), 0);
}

#[tokio::test]
async fn each_size_limit_is_named_in_its_error() {
    let app = App::offline(&[
        ("CHAT_MAX_MESSAGE_CHARS", "20"),
        ("CHAT_MAX_HISTORY_TURNS", "2"),
        ("CHAT_MAX_HISTORY_CHARS", "30"),
        ("CHAT_MAX_BODY_BYTES", "600"),
    ])
    .await;
    let turn = |role: &str, content: &str| json!({"role": role, "content": content});

    // Exactly at each limit is fine (20 characters, not bytes: æøå count once).
    let at_limits = json!({
        "message": "æøå".repeat(6) + "ab",
        "history": [turn("user", &"a".repeat(15)), turn("assistant", &"b".repeat(15))]
    });
    let (status, body) = app.chat_json(&at_limits).await;
    assert_eq!(status, 200, "{body}");

    let cases = [
        (
            json!({"message": "a".repeat(21)}),
            400,
            "message_too_long",
            "CHAT_MAX_MESSAGE_CHARS",
        ),
        (
            json!({"message": "x", "history": [turn("user", "a"), turn("assistant", "b"), turn("user", "c")]}),
            400,
            "history_too_long",
            "CHAT_MAX_HISTORY_TURNS",
        ),
        (
            json!({"message": "x", "history": [turn("user", &"a".repeat(31))]}),
            400,
            "history_too_large",
            "CHAT_MAX_HISTORY_CHARS",
        ),
        (
            json!({"message": "x", "padding": " ".repeat(700)}),
            413,
            "payload_too_large",
            "CHAT_MAX_BODY_BYTES",
        ),
    ];
    for (request, status, code, names) in cases {
        let (got, body) = app.chat_json(&request).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(message_of(&body).contains(names), "{body}");
    }
}

#[tokio::test]
async fn a_model_outside_the_allow_list_is_400_and_one_inside_is_sent_upstream() {
    let app = App::start(
        vec![Script::text_reply(&["Hei."])],
        &[(
            "LLM_MODELS_INCLUDE",
            "gpt-4o, mistral-small-3.2-24b-instruct-2506",
        )],
    )
    .await;
    let (status, body) = app
        .chat_json(&json!({"message": "Hei", "model": "gpt-5-pro"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    let message = message_of(&body);
    assert!(
        message.contains("gpt-5-pro") && message.contains("mistral-small"),
        "{message}"
    );
    assert_eq!(app.llm.calls(), 0, "refused before any model call");

    for model in ["mistral-small-3.2-24b-instruct-2506", "gpt-4o-mini"] {
        let (status, body) = app
            .chat_json(&json!({"message": "Hei", "model": model}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let sent: Vec<Value> = app
        .llm
        .bodies()
        .iter()
        .map(|b| b["model"].clone())
        .collect();
    assert_eq!(
        sent,
        [
            json!("mistral-small-3.2-24b-instruct-2506"),
            json!("gpt-4o-mini")
        ],
        "the requested model, and the default one which is always allowed"
    );
}

#[tokio::test]
async fn the_rate_limit_refuses_a_third_request_with_retry_after_and_spares_other_clients() {
    let app = App::offline(&[
        ("CHAT_RATE_LIMIT_PER_MINUTE", "2"),
        ("CHAT_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    // The server appends the peer (127.0.0.1) as the ingress would, so with one trusted hop
    // the client is the entry the caller sent.
    let send = |xff: &'static str| {
        app.post(&json!({"message": "Hei"}))
            .header("x-forwarded-for", xff)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(send("203.0.113.7").await.unwrap().status(), 200);
    }
    let refused = send("203.0.113.7").await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(json_of(refused).await["error"]["code"], "rate_limited");

    assert_eq!(
        send("198.51.100.4").await.unwrap().status(),
        200,
        "another client is not limited"
    );
    assert_eq!(
        send("198.51.100.99, 203.0.113.7").await.unwrap().status(),
        429,
        "a made-up entry in front does not escape the limit"
    );
}

#[tokio::test]
async fn cors_allows_elbatt_no_and_gives_other_origins_nothing() {
    let app = App::start(vec![Script::text_reply(&["Hei."])], &[]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://elbatt.no").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://elbatt.no"
    );
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    assert!(!evil.headers().contains_key("access-control-allow-methods"));

    for stream in [false, true] {
        let resp = app
            .post(&json!({"message": "Hei", "stream": stream}))
            .header("origin", "https://www.elbatt.no")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["access-control-allow-origin"],
            "https://www.elbatt.no",
            "stream: {stream}"
        );
        let _ = resp.bytes().await.unwrap();
    }
    let resp = app
        .post(&json!({"message": "Hei"}))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}
