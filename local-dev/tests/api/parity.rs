//! Parity: a handler sees the same request through the runner as through the Lambda adapter.
//!
//! The Lambda side runs in a child process (this test binary re-executed with
//! `AWS_LAMBDA_RUNTIME_API` set) because the Lambda runtime reads its settings from the process
//! environment, which tests must not mutate.

use std::sync::Arc;
use std::time::Duration;

use elbatt::config::{ConfigError, CorsConfig};
use elbatt::context::Context;
use elbatt::http::{ApiError, Function, Request, RequestBody, RequestExt, Response, json};
use elbatt::runtime::Router;
use elbatt::testing::{FakeLambdaRuntime, Posted, apigw_v2_event, spawn_router};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Reports everything a handler can read about its request.
struct Echo;

impl Function for Echo {
    const NAME: &'static str = "echo";
    const METHODS: &'static [Method] = &[Method::GET, Method::POST];
    type Error = ApiError;
    fn from_context(_: &Context) -> Result<Self, ConfigError> {
        Ok(Echo)
    }
    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        Ok(json(StatusCode::OK, &seen(&req)))
    }
}

fn sorted(map: &elbatt::http::QueryMap) -> Value {
    let mut pairs: Vec<(String, Vec<String>)> = map
        .iter()
        .map(|(k, _)| {
            (
                k.to_owned(),
                map.all(k)
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    json!(pairs)
}

fn seen(req: &Request) -> Value {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let context = match req.request_context_ref() {
        Some(elbatt::http::RequestContext::ApiGatewayV2(c)) => json!({
            "request_id": c.request_id,
            "source_ip": c.http.source_ip,
            "method": c.http.method.as_str(),
            "path": c.http.path,
            "stage": c.stage,
        }),
        _ => Value::Null,
    };
    let body = match req.body() {
        RequestBody::Empty => json!({"empty": true}),
        RequestBody::Text(t) => json!({"text": t}),
        RequestBody::Binary(b) => json!({"binary": b.len()}),
        _ => json!("other"),
    };
    json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "raw_path": req.raw_http_path(),
        "query_params": sorted(&req.query_string_parameters()),
        "path_params": sorted(&req.path_parameters()),
        "x_forwarded_for": header("x-forwarded-for"),
        "x_forwarded_proto": header("x-forwarded-proto"),
        "x_request_id": header("x-request-id"),
        "content_type": header("content-type"),
        "context": context,
        "body": body,
    })
}

const PATH: &str = "/a/b%20c";
const QUERY: &str = "plate=EC%2047213&x=1&x=2&empty=&%C3%B8=%C3%A5";

#[tokio::test]
async fn a_handler_sees_the_same_request_through_the_runner_and_through_lambda() {
    // Through the runner, mounted at /echo (the prefix is stripped), behind an ingress that
    // wrote the client into X-Forwarded-For, as Scaleway's does.
    let router = Router::new(CorsConfig {
        origins: vec![],
        allow_localhost: false,
    })
    .mount("/echo", Arc::new(Echo));
    let server = spawn_router(router).await;
    let via_runner: Value = crate::helpers::client()
        .post(server.url(&format!("/echo{PATH}?{QUERY}")))
        .header("x-request-id", "parity-1")
        .header("x-forwarded-for", "127.0.0.1")
        .header("content-type", "application/json")
        .body(r#"{"message":"hei"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Through Lambda: the event API Gateway sends for the same request to the function's own
    // endpoint, with the headers Scaleway's/AWS's ingress adds.
    let event = apigw_v2_event(
        "POST",
        PATH,
        QUERY,
        &[
            ("x-request-id", "parity-1"),
            ("content-type", "application/json"),
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "http"),
        ],
        Some(r#"{"message":"hei"}"#),
    );
    let mut runtime = FakeLambdaRuntime::start(vec![event]).await;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "parity::lambda_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ELBATT_TEST_LAMBDA_CHILD", "1")
        .env("AWS_LAMBDA_RUNTIME_API", runtime.api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "echo")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let posted = runtime.next_posted(Duration::from_secs(20)).await;
    child.kill().await.ok();
    let Some((_, Posted::Response(resp))) = posted else {
        panic!("no response posted: {posted:?}")
    };
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let via_lambda: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();

    assert_eq!(via_runner, via_lambda);
    // And the values are the expected ones, not merely equal.
    assert_eq!(via_runner["path"], "/a/b%20c");
    assert_eq!(via_runner["raw_path"], "/a/b%20c");
    // The client as the ingress wrote it, then the hop each adapter appends (the socket peer;
    // on Lambda, the source address API Gateway saw): the limiter's hop count means the same.
    assert_eq!(via_runner["x_forwarded_for"], "127.0.0.1, 127.0.0.1");
    assert_eq!(via_runner["x_forwarded_proto"], "http");
    assert_eq!(via_runner["x_request_id"], "parity-1");
    assert_eq!(via_runner["context"]["request_id"], "parity-1");
    assert_eq!(via_runner["context"]["source_ip"], "127.0.0.1");
    assert_eq!(via_runner["path_params"], json!([["proxy", ["a/b c"]]]));
    assert_eq!(via_runner["body"]["text"], r#"{"message":"hei"}"#);
    let q = via_runner["query_params"].to_string();
    assert!(
        q.contains(r#"["plate",["EC 47213"]]"#)
            && q.contains(r#"["x",["1","2"]]"#)
            && q.contains(r#"["ø",["å"]]"#),
        "{q}"
    );
}

/// The Lambda side of the parity test; does nothing unless started by it.
#[test]
fn lambda_child() {
    if std::env::var_os("ELBATT_TEST_LAMBDA_CHILD").is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cors = CorsConfig {
        origins: vec![],
        allow_localhost: false,
    };
    let _ = rt.block_on(elbatt::runtime::lambda::run(Arc::new(Echo), cors));
}
