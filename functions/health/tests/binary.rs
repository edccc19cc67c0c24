//! The `health` binary on its own: as a container (HTTP on `$PORT`, no other configuration) and
//! under the Lambda runtime (a fake Runtime API on 127.0.0.1 plays AWS).

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use elbatt::testing::{ChildServer, FakeLambdaRuntime, Posted, apigw_v2_event};

/// Starts the binary on a port it picks itself with only `PORT`, `HOST` and `vars` in its
/// environment, and sends it `GET /health` (with `headers`); returns the server and that response.
async fn start_server(
    vars: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (ChildServer, reqwest::Response) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_health"));
    cmd.env_clear().envs(vars.iter().copied());
    let server = ChildServer::start(cmd).await;
    let client = elbatt::outbound::http_client(Duration::from_secs(2));
    let mut req = client.get(server.url("/health"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (server, resp)
}

#[tokio::test]
async fn the_health_binary_answers_on_port_with_no_other_environment() {
    let (server, resp) = start_server(&[], &[]).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let client = elbatt::outbound::http_client(Duration::from_secs(2));
    assert_eq!(body, r#"{"status":"healthy"}"#);
    // Its own endpoint also answers at `/` (Scaleway Functions) and `/api/health` (Kubernetes).
    let text = |path: &'static str| {
        let req = client.get(server.url(path));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(text("/").await, r#"{"status":"healthy"}"#);
    assert_eq!(text("/api/health").await, r#"{"ok":true}"#);

    // SIGTERM: graceful exit with status 0.
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test]
async fn the_health_binary_runs_under_the_lambda_runtime_when_aws_lambda_runtime_api_is_set() {
    let event = apigw_v2_event(
        "GET",
        "/health",
        "",
        &[("x-forwarded-for", "198.51.100.7")],
        None,
    );
    let head = apigw_v2_event("HEAD", "/health", "", &[], None);
    let mut runtime = FakeLambdaRuntime::start(vec![event, head]).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_health"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "health")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (id, posted) = runtime
        .next_posted(Duration::from_secs(20))
        .await
        .expect("a response was posted");
    assert_eq!(id, "invocation-0");
    let Posted::Response(resp) = posted else {
        panic!("error posted: {posted:?}")
    };
    assert_eq!(resp["statusCode"], 200);
    assert_eq!(resp["body"], r#"{"status":"healthy"}"#);
    assert_eq!(resp["headers"]["content-type"], "application/json");
    assert_eq!(resp["headers"]["x-request-id"], "apigw-request-id");

    let (_, posted) = runtime
        .next_posted(Duration::from_secs(20))
        .await
        .expect("second response");
    let Posted::Response(resp) = posted else {
        panic!("error posted: {posted:?}")
    };
    assert_eq!(resp["statusCode"], 200);
    assert!(
        resp["body"].is_null() || resp["body"] == "",
        "HEAD has no body: {resp}"
    );
    child.kill().await.ok();
}

#[tokio::test]
async fn lambda_mode_without_the_function_name_fails_naming_the_variable() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_health"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_LAMBDA_FUNCTION_NAME"));
}

#[tokio::test]
async fn log_format_json_writes_flat_json_lines_with_level_message_and_request_id() {
    let (server, resp) =
        start_server(&[("LOG_FORMAT", "json")], &[("x-request-id", "log-test-1")]).await;
    assert_eq!(resp.status(), 200);
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status:?}");
    let mut access = None;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        assert!(
            v["level"].as_str().is_some_and(|l| l == l.to_lowercase()),
            "{line}"
        );
        assert!(
            v["message"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["message"] == "access" {
            access = Some(v);
        }
    }
    let access = access.expect("an access line");
    assert_eq!(access["request_id"], "log-test-1");
    assert_eq!(access["level"], "info");
    assert_eq!(access["function"], "health");
    assert_eq!(access["status"], 200);
    assert_eq!(access["path"], "/health");
}
