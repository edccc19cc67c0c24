//! `docs/openapi.json` kept true (docs/openapi.md): the document the runner serves is the
//! committed file; its operations are exactly the router's, both ways (the mounts, each
//! function's declared `ROUTES` and methods, and probes of the running runner); and real
//! responses, SSE events included, validate against its schemas.
//!
//! The schemas are checked by the small validator below rather than the `jsonschema` crate:
//! that crate brings a regex engine and a URI/reference stack (dozens of crates, minutes of
//! build on two cores) for a document that uses a dozen keywords. The validator knows exactly
//! those and panics on any other, so a keyword added to the spec is never silently ignored;
//! schemathesis (a full validator) checks the same schemas in CI.

use std::collections::BTreeSet;

use elbatt::config::Env;
use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};
use serde_json::Value;

use crate::helpers::{TestApp, client};

/// The methods an operation may have (`HEAD` and `OPTIONS` are implied for every path).
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// The scenarios admin token of these tests.
const ADMIN: &str = "openapi-test-admin-token";
/// The router's own 404, as opposed to a function's.
const NO_ROUTE: &str = "no function is mounted at this path";

fn committed() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    std::fs::read_to_string(&path).expect("docs/openapi.json exists")
}

fn spec() -> Value {
    serde_json::from_str(&committed()).expect("docs/openapi.json is JSON")
}

/// `(path, method)` of every operation in the spec.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            if METHODS.contains(&key.as_str()) {
                out.insert((path.clone(), key.clone()));
            } else {
                assert!(
                    ["parameters", "summary", "description"].contains(&key.as_str()),
                    "{path}: {key} is not an operation this test knows (HEAD and OPTIONS are implied)"
                );
            }
        }
    }
    out
}

/// Paths the router serves that are not HTTP API operations (the WebSocket, the widget, the
/// playground), as the spec lists them.
fn not_operations(spec: &Value) -> BTreeSet<String> {
    spec["x-elbatt-not-operations"]
        .as_array()
        .expect("x-elbatt-not-operations")
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// The prefix of a route-table line (`/chat[/*]` → `/chat`, `/*` → `/`).
fn prefix(route_path: &str) -> &str {
    match route_path.strip_suffix("[/*]") {
        Some(p) => p,
        None => route_path.strip_suffix('*').unwrap_or(route_path),
    }
}

fn under(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('/'))
}

/// A concrete path for a template, each parameter filled with a value of its kind.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start + 1..end] {
            "plate" => "EC47213",
            "id" | "conversation_id" => {
                "0000000000000000000000000000000000000000000000000000000000000000"
            }
            other => panic!("{template}: no test value for the parameter {other}"),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The runner with every optional route on (`/metrics` is off unless enabled).
const ALL_ON: &[(&str, &str)] = &[("METRICS_ENABLED", "1")];

fn runner_env(extra: &[(&str, &str)]) -> Env {
    Env::from_pairs(
        [("STORE", "memory"), ALL_ON[0]]
            .into_iter()
            .chain(extra.iter().copied()),
    )
}

#[tokio::test]
async fn the_served_document_is_the_committed_file() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/openapi.json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), committed());
    assert_eq!(local_dev::openapi::SPEC, committed(), "the binary is stale");
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    // The container serves it too: it is the same binary on 0.0.0.0.
    let env = Env::from_pairs([("STORE", "memory")]);
    let router = local_dev::router_for_host(&env, std::net::IpAddr::from([0, 0, 0, 0])).unwrap();
    let container = elbatt::testing::spawn_router(router).await;
    let resp = client()
        .get(container.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), committed());
}

/// The spec's operations are exactly what the functions declare, every declaration is served
/// by the mount that declares it, and each function's methods are those of its paths.
#[tokio::test]
async fn the_spec_and_the_route_table_agree_both_ways() {
    let spec = spec();
    let ops = operations(&spec);
    let skip = not_operations(&spec);
    let router = local_dev::router(&runner_env(&[])).unwrap();
    let table = router.declared_routes();
    let mut declared = BTreeSet::new();
    for (route, paths) in &table {
        let mount = prefix(&route.path);
        if paths.is_empty() {
            assert!(
                skip.contains(mount),
                "{} (mounted at {mount}) declares no ROUTES: give it `Function::ROUTES` and \
                 describe them in docs/openapi.json",
                route.function
            );
            continue;
        }
        let mut methods = BTreeSet::new();
        for (path, ms) in *paths {
            // Longest prefix first, as the router matches: the path reaches this function.
            let serving = table
                .iter()
                .find(|(r, _)| under(path, prefix(&r.path)))
                .map(|(r, _)| r.function);
            assert_eq!(
                serving,
                Some(route.function),
                "{path}, declared by {}, is served by another mount",
                route.function
            );
            for m in *ms {
                methods.insert(m.as_str().to_owned());
                if !skip.contains(*path) {
                    declared.insert(((*path).to_owned(), m.as_str().to_ascii_lowercase()));
                }
            }
        }
        let served: BTreeSet<String> = route.methods.split(',').map(str::to_owned).collect();
        if !paths.iter().all(|(p, _)| skip.contains(*p)) {
            assert_eq!(
                methods, served,
                "{}: the methods of its ROUTES are not its METHODS",
                route.function
            );
        }
    }
    let missing: Vec<_> = declared.difference(&ops).collect();
    let extra: Vec<_> = ops.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "served but not in docs/openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in docs/openapi.json but declared by no function: {extra:?}"
    );
}

/// The running runner answers every operation of the spec (no 405, not the router's 404), and
/// answers any other method on those paths with 404 or 405.
#[tokio::test]
async fn every_operation_is_answered_and_no_other_method_is() {
    let spec = spec();
    let ops = operations(&spec);
    let app = TestApp::spawn(ALL_ON).await;
    let paths: BTreeSet<&String> = ops.iter().map(|(p, _)| p).collect();
    for template in paths {
        let url = app.url(&concrete(template));
        for method in METHODS {
            let m = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let resp = app
                .client
                .request(m, &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let allow = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = resp.text().await.unwrap();
            let no_route = status == 404 && body.contains(NO_ROUTE);
            if status == 405 {
                assert_eq!(
                    allow.as_deref().map(set_of),
                    Some(allow_of(&ops, template)),
                    "{method} {template}: Allow must name this path's methods"
                );
            }
            if ops.contains(&(template.clone(), method.to_owned())) {
                assert!(
                    status != 405 && !no_route,
                    "{method} {template} is in the spec but answers {status} {body}"
                );
            } else {
                assert!(
                    status == 404 || status == 405,
                    "{method} {template} is not in the spec but answers {status} {body}"
                );
            }
        }
        let preflight = app
            .client
            .request(http::Method::OPTIONS, &url)
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "OPTIONS {template}");
        assert_eq!(
            set_of(preflight.headers()["allow"].to_str().unwrap()),
            allow_of(&ops, template),
            "OPTIONS {template}"
        );
    }
}

/// The `Allow` header a path's operations call for: its methods as the spec lists them,
/// `HEAD` with `GET`, and `OPTIONS`.
fn allow_of(ops: &BTreeSet<(String, String)>, template: &str) -> BTreeSet<String> {
    let mut all: Vec<String> = METHODS
        .iter()
        .filter(|m| ops.contains(&(template.to_owned(), (**m).to_owned())))
        .map(|m| m.to_ascii_uppercase())
        .collect();
    if all.iter().any(|m| m == "GET") {
        all.push("HEAD".into());
    }
    all.push("OPTIONS".into());
    all.into_iter().collect()
}

fn set_of(allow: &str) -> BTreeSet<String> {
    allow.split(", ").map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// Responses against the schemas

/// One response as received.
struct Seen {
    template: &'static str,
    method: &'static str,
    status: u16,
    content_type: String,
    body: String,
}

async fn call(
    app: &TestApp,
    template: &'static str,
    method: &'static str,
    path: &str,
    body: Option<&str>,
) -> Seen {
    call_with(app, template, method, path, body, None).await
}

/// [`call`] with a bearer token.
async fn call_with(
    app: &TestApp,
    template: &'static str,
    method: &'static str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Seen {
    let m = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = app.client.request(m, app.url(path));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Seen {
        template,
        method,
        status,
        content_type,
        body: resp.text().await.unwrap(),
    }
}

/// One SSE event: its name, `id:` and data.
#[derive(Debug)]
struct Event {
    name: String,
    id: Option<String>,
    data: String,
}

fn events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter_map(|frame| {
            let (mut name, mut id, mut data) = (None, None, Vec::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                } else {
                    assert!(
                        line.starts_with(':') || line.is_empty(),
                        "a line SSE does not know: {line:?}"
                    );
                }
            }
            Some(Event {
                name: name?,
                id,
                data: data.join("\n"),
            })
        })
        .collect()
}

/// Checks one response against the spec: its status is declared (or `default`), its media
/// type is, and its body (each event's data, for a stream) validates.
fn conforms(spec: &Value, seen: &Seen) {
    let what = format!("{} {} → {}", seen.method, seen.template, seen.status);
    let op = &spec["paths"][seen.template][seen.method];
    if !op.is_object() {
        // A method the path does not take: the router's 405, in the one error shape.
        assert_eq!(seen.status, 405, "{what}: no such operation in the spec");
        let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
        let body: Value = serde_json::from_str(&seen.body).unwrap();
        return Validator { root: spec }.expect_valid(&error, &body, &what);
    }
    let responses = &op["responses"];
    let declared = responses
        .get(seen.status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{what}: status not declared"));
    let declared = resolve(spec, declared);
    let Some(content) = declared.get("content") else {
        assert!(seen.body.is_empty(), "{what}: declared without a body");
        return;
    };
    let media = seen.content_type.split(';').next().unwrap().trim();
    let entry = content
        .get(media)
        .unwrap_or_else(|| panic!("{what}: media type {media} not declared"));
    let v = Validator { root: spec };
    if media == "text/event-stream" {
        let evs = events(&seen.body);
        assert!(!evs.is_empty(), "{what}: no events in {:?}", seen.body);
        // The schema describes one event as OpenAPI 3.1 tools read a stream: `event`, `id`
        // and `data` (JSON, checked against its `contentSchema`).
        for ev in &evs {
            let mut event = serde_json::json!({"event": ev.name, "data": ev.data});
            if let Some(id) = &ev.id {
                event["id"] = id.clone().into();
            }
            v.expect_valid(
                &entry["schema"],
                &event,
                &format!("{what} event {}", ev.name),
            );
        }
        // Every event carries `id: <turn>:<seq>` (what a client resumes from): one turn, its
        // sequence numbers counting up by one.
        let ids: Vec<(&str, u64)> = evs
            .iter()
            .map(|e| {
                let id = e.id.as_deref();
                let parsed = id
                    .and_then(|id| id.rsplit_once(':'))
                    .and_then(|(turn, seq)| Some((turn, seq.parse().ok()?)));
                parsed.unwrap_or_else(|| panic!("{what}: event {} has id {id:?}", e.name))
            })
            .collect();
        for pair in ids.windows(2) {
            assert!(
                pair[0].0 == pair[1].0 && pair[1].1 == pair[0].1 + 1,
                "{what}: ids {ids:?}"
            );
        }
        let last = &evs.last().unwrap().name;
        assert!(
            last == "done" || last == "error",
            "{what}: ends with {last}"
        );
    } else if media == "application/json" {
        let body: Value = serde_json::from_str(&seen.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", seen.body));
        v.expect_valid(&entry["schema"], &body, &what);
    } else {
        // Text (Prometheus): the body as one string.
        v.expect_valid(&entry["schema"], &Value::String(seen.body.clone()), &what);
    }
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref only");
            resolve(
                root,
                root.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => v,
    }
}

/// A JSON Schema (2020-12) validator for the keywords docs/openapi.json uses, and no others.
struct Validator<'a> {
    root: &'a Value,
}

/// Keywords that say nothing about validity.
const ANNOTATIONS: &[&str] = &[
    "description",
    "format",
    "example",
    "examples",
    "title",
    "default",
    "deprecated",
];

impl Validator<'_> {
    fn expect_valid(&self, schema: &Value, value: &Value, what: &str) {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{what}: does not match its schema:\n  {}\nvalue: {value}",
            errors.join("\n  ")
        );
    }

    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        errors
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                errors.push(format!("{at}: no value is allowed here"));
            }
            return;
        };
        for (key, s) in schema {
            match key.as_str() {
                "$ref" => {
                    let r = s.as_str().unwrap();
                    let target = r
                        .strip_prefix('#')
                        .and_then(|p| self.root.pointer(p))
                        .unwrap_or_else(|| panic!("dangling or non-local $ref {r}"));
                    self.check(target, v, at, errors);
                }
                "type" => {
                    let types: Vec<&str> = match s {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("{at}: type must be a string or an array"),
                    };
                    if !types.iter().any(|t| type_matches(t, v)) {
                        errors.push(format!("{at}: {v} is not of type {types:?}"));
                    }
                }
                "properties" => {
                    if let Some(o) = v.as_object() {
                        for (name, sub) in s.as_object().unwrap() {
                            if let Some(x) = o.get(name) {
                                self.check(sub, x, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for name in s.as_array().unwrap() {
                            let name = name.as_str().unwrap();
                            if !o.contains_key(name) {
                                errors.push(format!("{at}: lacks required {name}"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = v.as_object() {
                        let known = schema.get("properties").and_then(Value::as_object);
                        for (name, x) in o {
                            if !known.is_some_and(|k| k.contains_key(name)) {
                                self.check(s, x, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(a) = v.as_array() {
                        for (i, x) in a.iter().enumerate() {
                            self.check(s, x, &format!("{at}[{i}]"), errors);
                        }
                    }
                }
                "enum" => {
                    if !s.as_array().unwrap().contains(v) {
                        errors.push(format!("{at}: {v} is not one of {s}"));
                    }
                }
                "const" => {
                    if s != v {
                        errors.push(format!("{at}: {v} is not {s}"));
                    }
                }
                "oneOf" | "anyOf" | "allOf" => {
                    let passing = s
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|sub| self.errors(sub, v).is_empty())
                        .count();
                    let n = s.as_array().unwrap().len();
                    let ok = match key.as_str() {
                        "oneOf" => passing == 1,
                        "anyOf" => passing >= 1,
                        _ => passing == n,
                    };
                    if !ok {
                        errors.push(format!("{at}: {passing} of {n} {key} branches match {v}"));
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(x), Some(limit)) = (v.as_f64(), s.as_f64()) {
                        let ok = if key == "minimum" {
                            x >= limit
                        } else {
                            x <= limit
                        };
                        if !ok {
                            errors.push(format!("{at}: {x} is outside {key} {limit}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(x), Some(limit)) = (v.as_str(), s.as_u64()) {
                        let len = x.chars().count() as u64;
                        if (key == "minLength" && len < limit)
                            || (key == "maxLength" && len > limit)
                        {
                            errors.push(format!("{at}: {x:?} breaks {key} {limit}"));
                        }
                    }
                }
                "contentMediaType" => {
                    assert_eq!(
                        s, "application/json",
                        "{at}: only JSON content is known here"
                    );
                    if let (Some(text), Some(inner)) = (v.as_str(), schema.get("contentSchema")) {
                        match serde_json::from_str::<Value>(text) {
                            Ok(parsed) => {
                                self.check(inner, &parsed, &format!("{at}(json)"), errors)
                            }
                            Err(e) => errors.push(format!("{at}: not JSON ({e}): {text}")),
                        }
                    }
                }
                // Read with `contentMediaType`.
                "contentSchema" => {}
                "pattern" => {
                    if let Some(x) = v.as_str() {
                        let p = s.as_str().unwrap();
                        if !pattern_matches(p, x) {
                            errors.push(format!("{at}: {x:?} does not match {p}"));
                        }
                    }
                }
                k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
                other => panic!(
                    "{at}: the schema keyword {other} is not known to this validator: teach it \
                     (local-dev/tests/api/openapi.rs) before using it in docs/openapi.json"
                ),
            }
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown JSON Schema type {other}"),
    }
}

/// The patterns the spec uses, each as code (no regex engine; see the module comment).
fn pattern_matches(pattern: &str, s: &str) -> bool {
    let lower_digit_underscore = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    match pattern {
        "^[a-z][a-z0-9_]*$" => {
            s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && s.bytes().all(lower_digit_underscore)
        }
        "^[0-9a-f]{64}$" => {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        "^[0-9a-f]{16}:[0-9]+$" => s.split_once(':').is_some_and(|(turn, seq)| {
            turn.len() == 16
                && turn
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && !seq.is_empty()
                && seq.bytes().all(|b| b.is_ascii_digit())
        }),
        "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" => {
            let edge =
                |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            edge(s.bytes().next())
                && edge(s.bytes().last())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }
        other => panic!(
            "the pattern {other} is not known to this test's validator: add it to pattern_matches"
        ),
    }
}

/// Real responses of the runner (a fake Statens vegvesen, no model key: offline answers, an
/// in-memory store) validate against the spec: every success body, the SSE events, and the
/// error bodies of each operation.
#[tokio::test]
async fn real_responses_match_the_schemas() {
    let spec = spec();
    let register = FakeVegvesen::start(
        vec![(
            "EC47213",
            vec![Reply::json(
                200,
                vegvesen_fixture("bev-kia-niro-ec47213.json"),
            )],
        )],
        Reply::status(204),
    )
    .await;
    let endpoint = register.endpoint();
    let app = TestApp::spawn(&[
        ("VEGVESEN_API_KEY", "test"),
        ("VEGVESEN_ENDPOINT", &endpoint),
        ("ADMIN_TOKEN", ADMIN),
        ("CHAT_RATE_LIMIT_BURST", "100"),
        ALL_ON[0],
    ])
    .await;
    let mut seen = vec![
        call(&app, "/health", "get", "/health", None).await,
        call(&app, "/api/health", "get", "/api/health", None).await,
        call(&app, "/health", "put", "/health", None).await,
        call(&app, "/ready", "get", "/ready", None).await,
        call(&app, "/openapi.json", "get", "/openapi.json", None).await,
        call(
            &app,
            "/plate-lookup/{plate}",
            "get",
            "/plate-lookup/EC47213",
            None,
        )
        .await,
        call(
            &app,
            "/plate-lookup",
            "get",
            "/plate-lookup?plate=ec%2047213",
            None,
        )
        .await,
        call(&app, "/plate-lookup", "get", "/plate-lookup", None).await,
        call(
            &app,
            "/plate-lookup/{plate}",
            "get",
            "/plate-lookup/A",
            None,
        )
        .await,
        call(
            &app,
            "/plate-lookup/{plate}",
            "get",
            "/plate-lookup/ZZ99999",
            None,
        )
        .await,
        call(&app, "/chat", "post", "/chat", Some(r#"{"message":""}"#)).await,
        call(&app, "/chat", "post", "/chat", Some(r#"{"mesage":"hei"}"#)).await,
    ];
    let json = call(
        &app,
        "/chat",
        "post",
        "/chat",
        Some(r#"{"message":"Hvor lenge varer batterigarantien på EC 47213?"}"#),
    )
    .await;
    let reply: Value = serde_json::from_str(&json.body).unwrap();
    let id = reply["conversation_id"]
        .as_str()
        .expect("stored")
        .to_owned();
    assert!(
        !reply["vehicles"].as_array().unwrap().is_empty(),
        "the plate was looked up: {reply}"
    );
    seen.push(json);
    let stream = call(
        &app,
        "/chat",
        "post",
        "/chat",
        Some(r#"{"message":"Og rekkevidden til EC47213?","stream":true}"#),
    )
    .await;
    let names: Vec<String> = events(&stream.body).into_iter().map(|e| e.name).collect();
    for name in ["delta", "vehicle", "done"] {
        assert!(names.contains(&name.to_owned()), "{names:?}");
    }
    seen.push(stream);
    // The stream's first event is `<turn>:1`: resume after it.
    let resume = format!("/chat/{id}/events?since=1");
    seen.push(call(&app, "/chat/{conversation_id}/events", "get", &resume, None).await);
    let unknown = format!("/chat/{}/events", "f".repeat(64));
    seen.push(
        call(
            &app,
            "/chat/{conversation_id}/events",
            "get",
            &unknown,
            None,
        )
        .await,
    );
    let conv = format!("/conversations/{id}");
    seen.push(call(&app, "/conversations/{id}", "get", &conv, None).await);
    seen.push(call(&app, "/conversations/{id}", "delete", &conv, None).await);
    seen.push(call(&app, "/conversations/{id}", "get", &conv, None).await);
    seen.push(
        call(
            &app,
            "/conversations/{id}",
            "get",
            "/conversations/nope",
            None,
        )
        .await,
    );
    let sc = "/api/scenarios/{id}";
    let scenario = r#"{"id":"test-one","name":"Test","system_prompt":"Svar kort."}"#;
    let published = r#"{"name":"Test","system_prompt":"Svar kortere.","tags":["published"]}"#;
    for s in [
        call(&app, "/api/scenarios", "get", "/api/scenarios", None).await,
        call(&app, sc, "get", "/api/scenarios/default", None).await,
        call(
            &app,
            "/api/scenarios/{id}/history",
            "get",
            "/api/scenarios/default/history",
            None,
        )
        .await,
        call(
            &app,
            "/api/scenarios",
            "post",
            "/api/scenarios",
            Some(scenario),
        )
        .await,
        call_with(
            &app,
            "/api/scenarios",
            "post",
            "/api/scenarios",
            Some(scenario),
            Some(ADMIN),
        )
        .await,
        call_with(
            &app,
            "/api/scenarios",
            "post",
            "/api/scenarios",
            Some(scenario),
            Some(ADMIN),
        )
        .await,
        call_with(
            &app,
            sc,
            "put",
            "/api/scenarios/test-one",
            Some("{}"),
            Some(ADMIN),
        )
        .await,
        call_with(
            &app,
            sc,
            "put",
            "/api/scenarios/test-one",
            Some(published),
            Some(ADMIN),
        )
        .await,
        call_with(
            &app,
            sc,
            "delete",
            "/api/scenarios/test-one",
            None,
            Some(ADMIN),
        )
        .await,
        call_with(
            &app,
            sc,
            "delete",
            "/api/scenarios/default",
            None,
            Some(ADMIN),
        )
        .await,
        call(&app, sc, "get", "/api/scenarios/default", None).await,
        call(&app, "/metrics", "get", "/metrics", None).await,
    ] {
        seen.push(s);
    }
    let statuses: Vec<u16> = seen.iter().map(|s| s.status).collect();
    // Each status above is one the test means to reach; a change shows here first.
    assert_eq!(
        statuses,
        [
            200, 200, 405, 200, 200, 200, 200, 400, 400, 404, 400, 400, 200, 200, 200, 404, 200,
            204, 404, 404, 200, 200, 200, 401, 201, 409, 400, 200, 423, 204, 404, 200
        ],
        "statuses"
    );
    for s in &seen {
        conforms(&spec, s);
    }
}

/// The checks above can fail: a body off its schema, an undeclared event, and a keyword the
/// validator does not know are each caught.
#[test]
fn the_schema_check_catches_what_is_wrong() {
    let spec = spec();
    let v = Validator { root: &spec };
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    assert!(
        v.errors(
            &error,
            &serde_json::json!({"error": {"code": "x", "message": "m"}})
        )
        .is_empty()
    );
    for bad in [
        serde_json::json!({"error": {"code": "x"}}),
        serde_json::json!({"error": {"code": "Not-Snake", "message": "m"}}),
        serde_json::json!({"error": {"code": "x", "message": "m", "extra": 1}}),
        serde_json::json!({"error": {"code": 1, "message": "m"}}),
    ] {
        assert!(!v.errors(&error, &bad).is_empty(), "{bad}");
    }
    let vehicle = serde_json::json!({"$ref": "#/components/schemas/VehicleEvent"});
    assert!(
        !v.errors(&vehicle, &serde_json::json!({"plate": "EC47213"}))
            .is_empty(),
        "neither vehicle nor error"
    );
    let event = serde_json::json!({"$ref": "#/components/schemas/ChatEvent"});
    let delta = |data: &str| serde_json::json!({"event": "delta", "id": "0123456789abcdef:1", "data": data});
    assert!(v.errors(&event, &delta(r#"{"text":"hei"}"#)).is_empty());
    assert!(
        !v.errors(&event, &delta(r#"{"txt":"hei"}"#)).is_empty(),
        "data off its schema"
    );
    assert!(
        !v.errors(&event, &delta("not json")).is_empty(),
        "data not JSON"
    );
    let unknown = std::panic::catch_unwind(|| {
        Validator { root: &spec }.errors(&serde_json::json!({"uniqueItems": true}), &Value::Null)
    });
    assert!(unknown.is_err(), "an unknown keyword must not pass");
    let undeclared = Seen {
        template: "/chat",
        method: "post",
        status: 200,
        content_type: "text/event-stream".into(),
        body: "event: surprise\ndata: {}\n\n".into(),
    };
    assert!(std::panic::catch_unwind(|| conforms(&spec, &undeclared)).is_err());
}
