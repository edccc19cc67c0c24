//! Routing through the runner: health bodies, 404, 405 with `Allow`, HEAD, 413, request ids.

use crate::helpers::{TestApp, json_of};

#[tokio::test]
async fn health_answers_the_runbook_body_byte_for_byte() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/health").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"healthy"}"#);
}

#[tokio::test]
async fn api_health_answers_the_kubernetes_body() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/api/health").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn unknown_paths_are_a_json_404() {
    let app = TestApp::spawn(&[]).await;
    for path in [
        "/nope",
        "/healthz",
        "/plate-lookupx",
        "/favicon.ico",
        "/health/extra",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body = json_of(resp).await;
        assert_eq!(body["error"]["code"], "not_found", "{path}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn(&[]).await;
    let resp = app
        .client
        .post(app.url("/health"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, OPTIONS");
    assert_eq!(json_of(resp).await["error"]["code"], "method_not_allowed");
    let resp = app.client.delete(app.url("/chat")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST, OPTIONS");
}

#[tokio::test]
async fn head_works_where_get_does_and_has_no_body() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.client.head(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "20");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_declared_body_over_6_mib_is_413_before_it_is_read() {
    let app = TestApp::spawn(&[]).await;
    // Only the headers are sent: the runner must answer without waiting for the body.
    let mut stream = tokio::net::TcpStream::connect(app.server.addr)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        6 * 1024 * 1024 + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
}

#[tokio::test]
async fn a_chunked_body_over_6_mib_is_413() {
    let app = TestApp::spawn(&[]).await;
    let chunk = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
    let chunks = (0..100).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = app.client.post(app.url("/chat")).body(body).send().await;
    // The server may close before the client finishes sending; either way it must not be 2xx.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
}

#[tokio::test]
async fn a_body_just_under_the_limit_reaches_the_function() {
    let app = TestApp::spawn(&[]).await;
    let body = vec![b' '; 6 * 1024 * 1024];
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    // The runner let it through; chat's own, smaller limit answered (and names its variable).
    assert_eq!(resp.status(), 413);
    let body = json_of(resp).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CHAT_MAX_BODY_BYTES"),
        "{body}"
    );
}

#[tokio::test]
async fn a_client_request_id_is_kept_and_echoed() {
    let app = TestApp::spawn(&[]).await;
    let resp = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42");
    assert_eq!(json_of(resp).await["error"]["request_id"], "trace-42");
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_gets_cors_headers_and_others_get_none() {
    let app = TestApp::spawn(&[]).await;
    let ok = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/chat"))
        .header("origin", "https://elbatt.no")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://elbatt.no"
    );
    assert!(
        ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let local = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/chat"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        local.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let evil = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/chat"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let get = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://www.elbatt.no")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://www.elbatt.no"
    );
}

#[tokio::test]
async fn localhost_origins_are_allowed_only_when_the_runner_listens_on_loopback() {
    let env = elbatt::config::Env::default();
    let local = local_dev::router_for_host(&env, [127, 0, 0, 1].into()).unwrap();
    assert!(local.cors().allows("http://localhost:5173"));
    let public = local_dev::router_for_host(&env, [0, 0, 0, 0].into()).unwrap();
    assert!(!public.cors().allows("http://localhost:5173"));
    assert!(public.cors().allows("https://elbatt.no"));
}
