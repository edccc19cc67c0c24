//! `/widget.js` (runner and container) and the playground at `/` (runner on loopback only).
//! The widget's behaviour in a browser is tested by scripts/browser-tests.sh (e2e/).

use elbatt::config::Env;
use elbatt::testing::spawn_router;

use crate::helpers::{TestApp, client};

#[tokio::test]
async fn widget_js_is_served_with_a_strong_etag_short_caching_and_304_on_revalidation() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/widget.js").await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(h["cache-control"], "public, max-age=300");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let body = resp.text().await.unwrap();
    assert_eq!(body, local_dev::widget::SOURCE);
    assert!(body.contains("window.ElbattChat"));

    let again = app
        .client
        .get(app.url("/widget.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert_eq!(again.headers()["cache-control"], "public, max-age=300");
    assert!(again.bytes().await.unwrap().is_empty());

    let changed = app
        .client
        .get(app.url("/widget.js"))
        .header("if-none-match", "\"an-older-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    // A page on another origin may read what the widget needs from a streamed reply.
    let cors = app
        .client
        .get(app.url("/widget.js"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    let exposed = cors.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for h in ["retry-after", "x-conversation-id", "x-elbatt-resume"] {
        assert!(exposed.contains(h), "{exposed}");
    }

    let below = app.get("/widget.js/x").await;
    assert_eq!(below.status(), 404);
    let head = app.client.head(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        local_dev::widget::SOURCE.len().to_string().as_str()
    );
}

#[tokio::test]
async fn the_playground_shows_models_and_routes_on_loopback_and_is_absent_in_the_container() {
    let app = TestApp::spawn(&[("LLM_MODELS_INCLUDE", "model-a,model-b")]).await;
    let resp = app.get("/").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = resp.text().await.unwrap();
    assert!(page.contains(r#""models":["model-a","model-b","gpt-4o-mini"]"#));
    for route in [
        "/chat[/*]",
        "/plate-lookup[/*]",
        "/widget.js[/*]",
        "/conversations[/*]",
    ] {
        assert!(page.contains(&format!(r#""path":"{route}""#)), "{route}");
    }
    assert!(page.contains(r#"<script src="/widget.js" defer>"#));

    // The container: the same binary bound to 0.0.0.0 serves the widget but no playground.
    let env = Env::from_pairs([("STORE", "memory")]);
    let public = local_dev::router_for_host(&env, [0, 0, 0, 0].into()).unwrap();
    let server = spawn_router(public).await;
    let c = client();
    let resp = c.get(server.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = c.get(server.url("/widget.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn with_the_playground_at_root_an_unknown_path_is_still_404_for_every_method() {
    let app = TestApp::spawn(&[]).await;
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let m = http::Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/nope", "/index.html"] {
            let resp = app
                .client
                .request(m.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 404, "{method} {path}");
            assert_eq!(resp.headers()["content-type"], "application/json");
        }
    }
    let resp = app
        .client
        .post(app.url("/"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "POST /");
}
