//! `POST /chat` with a scenario: what reaches the model (the fake records every request body),
//! the allow-list at chat time, unknown scenarios, no store, and the seeded default.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, App, MODEL, TempDir, body, code};

fn system(body: &Value) -> &str {
    body["messages"][0]["content"].as_str().unwrap()
}

#[tokio::test]
async fn a_chat_with_a_scenario_uses_its_prompt_model_temperature_tools_and_language() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[]).await;
    app.create(&json!({
        "id": "english", "name": "English", "system_prompt": "You are the test assistant.",
        "model": "gpt-4o", "temperature": 0.3, "tools": [], "language": "en"
    }))
    .await;
    app.create(&body("plain", &[])).await;

    let (s, v) = app
        .chat(&json!({"message": "Hei", "scenario": "english", "stream": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .chat(&json!({"message": "Hei", "scenario": "plain", "stream": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.chat(&json!({"message": "Hei", "stream": false})).await;
    assert_eq!(s, 200, "{v}");

    let sent = app.llm.bodies();
    assert_eq!(sent.len(), 3);
    let english = &sent[0];
    assert!(
        system(english).starts_with("You are the test assistant."),
        "{english}"
    );
    assert!(system(english).contains("engelsk (en)"), "{english}");
    assert_eq!(english["model"], "gpt-4o");
    assert_eq!(english["temperature"], 0.3);
    assert!(
        english
            .get("tools")
            .is_none_or(|t| t.as_array().is_some_and(Vec::is_empty)),
        "no tools: {english}"
    );
    let plain = &sent[1];
    assert!(
        system(plain).starts_with("Du er testassistenten plain."),
        "{plain}"
    );
    assert!(system(plain).contains("norsk bokmål (nb)"));
    assert_eq!(
        plain["model"], MODEL,
        "no model in the scenario: the default"
    );
    assert!(plain.get("temperature").is_none(), "{plain}");
    assert_eq!(plain["tools"][0]["function"]["name"], "lookup_vehicle");
    // Without `scenario`: the deployment's own prompt, as before scenarios.
    let default = &sent[2];
    assert!(system(default).contains("Elbatt-assistenten"), "{default}");
    assert!(!system(default).contains("Svar på norsk bokmål (nb)"));
    assert_eq!(default["model"], MODEL);

    // An edit through the API is used by the very next turn (no stale cache in-process).
    let mut edited = body("plain", &[]);
    edited["system_prompt"] = json!("Du er den endrede assistenten.");
    let (s, _, _) = app
        .send(
            Method::PUT,
            "/api/scenarios/plain",
            Some(ADMIN),
            None,
            Some(&edited),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .chat(&json!({"message": "Hei", "scenario": "plain", "stream": false}))
        .await;
    assert_eq!(s, 200);
    assert!(system(&app.llm.bodies()[3]).starts_with("Du er den endrede assistenten."));
}

#[tokio::test]
async fn a_scenarios_model_must_be_allowed_at_chat_time_not_only_when_saved() {
    let dir = TempDir::new();
    let first = App::start(&dir.db(), &[("LLM_MODELS_INCLUDE", "gpt-4o")]).await;
    let mut b = body("premium", &[]);
    b["model"] = json!("gpt-4o");
    first.create(&b).await;
    let (s, v) = first
        .chat(&json!({"message": "Hei", "scenario": "premium", "stream": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(first.llm.bodies()[0]["model"], "gpt-4o");
    drop(first);

    // Restarted with a shorter allow-list: the saved scenario is refused, the model not called.
    let second = App::start(&dir.db(), &[("LLM_MODELS_INCLUDE", "gpt-4.1-mini")]).await;
    let (s, v) = second
        .chat(&json!({"message": "Hei", "scenario": "premium", "stream": false}))
        .await;
    assert_eq!((s, code(&v)), (400, "model_not_allowed"), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("premium") && message.contains("gpt-4o"),
        "{message}"
    );
    assert_eq!(second.llm.calls(), 0);
    // Naming an allowed model in the request still works; a disallowed one does not.
    let (s, _) = second
        .chat(&json!({"message": "Hei", "scenario": "premium", "model": "gpt-4.1-mini", "stream": false}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = second
        .chat(&json!({"message": "Hei", "scenario": "premium", "model": "gpt-4o", "stream": false}))
        .await;
    assert_eq!((s, code(&v)), (400, "model_not_allowed"));
}

#[tokio::test]
async fn unknown_scenarios_are_404_and_without_a_store_scenarios_say_so() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[]).await;
    for name in ["nope", "../etc/passwd", "Default"] {
        let (s, v) = app
            .chat(&json!({"message": "Hei", "scenario": name, "stream": false}))
            .await;
        assert_eq!((s, code(&v)), (404, "scenario_not_found"), "{name}: {v}");
    }
    assert_eq!(app.llm.calls(), 0);

    let off = App::start(&dir.db(), &[("STORE", "off")]).await;
    let (s, v) = off
        .chat(&json!({"message": "Hei", "scenario": "default", "stream": false}))
        .await;
    assert_eq!((s, code(&v)), (400, "scenarios_disabled"), "{v}");
    let (s, v) = off.get("/api/scenarios").await;
    assert_eq!((s, code(&v)), (503, "store_not_configured"), "{v}");
    let (s, _) = off.chat(&json!({"message": "Hei", "stream": false})).await;
    assert_eq!(s, 200, "chat without a scenario needs no store");
}

#[tokio::test]
async fn the_default_is_seeded_once_with_todays_prompt_and_never_overwritten() {
    let dir = TempDir::new();
    let prompt = |name: &str, text: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let first_prompt = prompt("first.md", "Du er Elbatt, versjon én.");
    let second_prompt = prompt("second.md", "Du er Elbatt, versjon to.");

    let app = App::start(&dir.db(), &[("CHAT_SYSTEM_PROMPT_FILE", &first_prompt)]).await;
    let (s, seeded) = app.get("/api/scenarios/default").await;
    assert_eq!(s, 200, "{seeded}");
    assert_eq!(seeded["system_prompt"], "Du er Elbatt, versjon én.");
    assert_eq!(seeded["model"], Value::Null, "follows OPENAI_MODEL");
    assert_eq!(seeded["temperature"], Value::Null);
    assert_eq!(seeded["tools"], json!(["lookup_vehicle"]));
    assert_eq!(seeded["language"], "nb");
    let (s, v) = app
        .chat(&json!({"message": "Hei", "scenario": "default", "stream": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(system(&app.llm.bodies()[0]).starts_with("Du er Elbatt, versjon én."));
    let mut edited = seeded.clone();
    edited["greeting"] = json!("Hallo!");
    let (s, _, _) = app
        .send(
            Method::PUT,
            "/api/scenarios/default",
            Some(ADMIN),
            None,
            Some(&edited),
        )
        .await;
    assert_eq!(s, 200);
    drop(app);

    // A later start with another prompt keeps the edited default.
    let app = App::start(&dir.db(), &[("CHAT_SYSTEM_PROMPT_FILE", &second_prompt)]).await;
    let (_, after) = app.get("/api/scenarios/default").await;
    assert_eq!(after["system_prompt"], "Du er Elbatt, versjon én.");
    assert_eq!(
        (after["greeting"].as_str(), after["version"].as_i64()),
        (Some("Hallo!"), Some(2))
    );
    let (_, history) = app.get("/api/scenarios/default/history").await;
    let actions: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["seed", "update"]);
    // Deleted on purpose: the next start does not bring it back.
    let (s, _, _) = app
        .send(
            Method::DELETE,
            "/api/scenarios/default",
            Some(ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(s, 204);
    drop(app);
    let app = App::start(&dir.db(), &[]).await;
    assert_eq!(app.get("/api/scenarios/default").await.0, 404);
}
