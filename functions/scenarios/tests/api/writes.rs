//! Who may write: 401/403 for the admin token, 423 for a published scenario, and the answers
//! of every route.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{ADMIN, App, EDIT, TempDir, body, code};

#[tokio::test]
async fn writes_need_the_admin_token_and_reads_do_not() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[]).await;
    let (s, list) = app.get("/api/scenarios").await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default"], "seeded at first use");

    let b = body("ev-help", &[]);
    let (s, h, v) = app
        .send(Method::POST, "/api/scenarios", None, None, Some(&b))
        .await;
    assert_eq!((s, code(&v)), (401, "unauthorized"), "{v}");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{h:?}"
    );
    let wrong = format!("{ADMIN}x");
    for token in [wrong.as_str(), EDIT, "", &ADMIN[..ADMIN.len() - 1]] {
        let (s, _, v) = app
            .send(Method::POST, "/api/scenarios", Some(token), None, Some(&b))
            .await;
        let expected = if token.is_empty() { 401 } else { 403 };
        assert_eq!(s, expected, "{token:?}: {v}");
    }
    // A Basic header or the token in another header is no bearer token.
    let (s, _) = {
        let r = app
            .client
            .post(app.url("/api/scenarios"))
            .header("authorization", format!("Basic {ADMIN}"))
            .header("content-type", "application/json")
            .body(b.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(s, 401);
    assert_eq!(
        app.get("/api/scenarios/ev-help").await.0,
        404,
        "nothing written"
    );

    let (s, h, created) = app
        .send(Method::POST, "/api/scenarios", Some(ADMIN), None, Some(&b))
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(h["location"], "/api/scenarios/ev-help");
    assert_eq!(created["version"], 1);
    assert_eq!(created["tools"], json!(["lookup_vehicle"]));
    assert_eq!(created["language"], "nb");
    let (s, _, v) = app
        .send(Method::POST, "/api/scenarios", Some(ADMIN), None, Some(&b))
        .await;
    assert_eq!((s, code(&v)), (409, "duplicate_id"), "{v}");
    let (s, got) = app.get("/api/scenarios/ev-help").await;
    assert_eq!((s, &got), (200, &created));

    // Invalid bodies: each a 400 naming the field.
    for (bad, field) in [
        (
            json!({"id": "Bad Id", "name": "x", "system_prompt": "y"}),
            "id",
        ),
        (
            json!({"id": "t", "name": "x", "system_prompt": "y", "temperature": 2.5}),
            "temperature",
        ),
        (
            json!({"id": "t", "name": "x", "system_prompt": "y", "tools": ["shell"]}),
            "tools",
        ),
        (
            json!({"id": "t", "name": "x", "system_prompt": "y", "nmae": 1}),
            "nmae",
        ),
        (
            json!({"id": "t", "name": "x", "system_prompt": "y", "model": "gpt-5-pro"}),
            "gpt-5-pro",
        ),
    ] {
        let (s, _, v) = app
            .send(
                Method::POST,
                "/api/scenarios",
                Some(ADMIN),
                None,
                Some(&bad),
            )
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    }

    // PUT replaces, DELETE erases; unknown ids are 404 (after the token check).
    let mut changed = b.clone();
    changed["name"] = json!("Renamed");
    changed["temperature"] = json!(0.7);
    let (s, _, v) = app
        .send(
            Method::PUT,
            "/api/scenarios/ev-help",
            Some(ADMIN),
            None,
            Some(&changed),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["version"].as_i64(), v["name"].as_str()),
        (Some(2), Some("Renamed"))
    );
    assert_eq!(v["created_at_ms"], created["created_at_ms"]);
    let (s, _, _) = app
        .send(
            Method::PUT,
            "/api/scenarios/ev-help",
            None,
            None,
            Some(&changed),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _, v) = app
        .send(
            Method::PUT,
            "/api/scenarios/nope",
            Some(ADMIN),
            None,
            Some(&changed),
        )
        .await;
    assert_eq!((s, code(&v)), (404, "scenario_not_found"));
    let (s, _, _) = app
        .send(
            Method::DELETE,
            "/api/scenarios/ev-help",
            Some("wrong-token-000000000"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _, _) = app
        .send(
            Method::DELETE,
            "/api/scenarios/ev-help",
            Some(ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.get("/api/scenarios/ev-help").await.0, 404);
    let (s, history) = app.get("/api/scenarios/ev-help/history").await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "update", "delete"]);
}

#[tokio::test]
async fn without_an_admin_token_writes_are_refused_and_reads_allowed() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[("ADMIN_TOKEN", "")]).await;
    assert_eq!(app.get("/api/scenarios").await.0, 200);
    assert_eq!(app.get("/api/scenarios/default").await.0, 200);
    for token in [Some(ADMIN), Some(""), None] {
        let (s, _, v) = app
            .send(
                Method::POST,
                "/api/scenarios",
                token,
                None,
                Some(&body("x", &[])),
            )
            .await;
        assert_eq!((s, code(&v)), (403, "admin_disabled"), "{token:?}: {v}");
        let (s, _, v) = app
            .send(
                Method::DELETE,
                "/api/scenarios/default",
                token,
                Some(EDIT),
                None,
            )
            .await;
        assert_eq!((s, code(&v)), (403, "admin_disabled"), "{v}");
    }
    assert_eq!(
        app.get("/api/scenarios/default").await.0,
        200,
        "still there"
    );
}

#[tokio::test]
async fn a_published_scenario_changes_only_with_the_edit_token() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[]).await;
    // Publishing needs only the admin token: it locks, it does not unlock.
    app.create(&body("live", &["published"])).await;
    let mut edit = body("live", &["published"]);
    edit["name"] = json!("Changed");
    let path = "/api/scenarios/live";
    for token in [
        None,
        Some(""),
        Some("edit-token-for-tests-4568"),
        Some(ADMIN),
    ] {
        let (s, _, v) = app
            .send(Method::PUT, path, Some(ADMIN), token, Some(&edit))
            .await;
        assert_eq!((s, code(&v)), (423, "locked"), "{token:?}: {v}");
        let (s, _, v) = app
            .send(Method::DELETE, path, Some(ADMIN), token, None)
            .await;
        assert_eq!((s, code(&v)), (423, "locked"), "{token:?}: {v}");
    }
    // Un-publishing is a change to a locked scenario.
    let unpublished = body("live", &[]);
    let (s, _, _) = app
        .send(Method::PUT, path, Some(ADMIN), None, Some(&unpublished))
        .await;
    assert_eq!(s, 423);
    // The edit token alone is not the admin token.
    let (s, _, _) = app
        .send(Method::PUT, path, None, Some(EDIT), Some(&edit))
        .await;
    assert_eq!(s, 401);
    assert_eq!(
        app.get(path).await.1["name"],
        "Scenario live",
        "nothing changed"
    );

    let (s, _, v) = app
        .send(Method::PUT, path, Some(ADMIN), Some(EDIT), Some(&edit))
        .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Changed")), "{v}");
    let (s, _, v) = app
        .send(
            Method::PUT,
            path,
            Some(ADMIN),
            Some(EDIT),
            Some(&unpublished),
        )
        .await;
    assert_eq!((s, v["tags"].clone()), (200, json!([])), "{v}");
    // Unlocked now: the admin token is enough again, also to publish again.
    let (s, _, _) = app
        .send(Method::PUT, path, Some(ADMIN), None, Some(&edit))
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = app
        .send(Method::DELETE, path, Some(ADMIN), None, None)
        .await;
    assert_eq!(s, 423, "published again by the last PUT");
    let (s, _, _) = app
        .send(Method::DELETE, path, Some(ADMIN), Some(EDIT), None)
        .await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn without_an_edit_token_a_published_scenario_can_never_change() {
    let dir = TempDir::new();
    let app = App::start(&dir.db(), &[("PUBLISHED_EDIT_TOKEN", "")]).await;
    let before = app.create(&body("frozen", &["published", "beta"])).await;
    let mut edit = body("frozen", &["beta"]);
    edit["name"] = json!("Thawed");
    for token in [None, Some(""), Some(EDIT), Some(ADMIN)] {
        let (s, _, v) = app
            .send(
                Method::PUT,
                "/api/scenarios/frozen",
                Some(ADMIN),
                token,
                Some(&edit),
            )
            .await;
        assert_eq!((s, code(&v)), (423, "locked"), "{token:?}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("PUBLISHED_EDIT_TOKEN is not set"),
            "{v}"
        );
        let (s, _, _) = app
            .send(
                Method::DELETE,
                "/api/scenarios/frozen",
                Some(ADMIN),
                token,
                None,
            )
            .await;
        assert_eq!(s, 423);
    }
    assert_eq!(app.get("/api/scenarios/frozen").await.1, before);
    // Unpublished scenarios stay editable with the admin token.
    let (s, _, _) = app
        .send(
            Method::PUT,
            "/api/scenarios/default",
            Some(ADMIN),
            None,
            Some(&json!({
                "name": "Elbatt", "system_prompt": "Ny tekst."
            })),
        )
        .await;
    assert_eq!(s, 200);
}
