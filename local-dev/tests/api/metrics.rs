//! `/metrics` (docs/metrics.md) on the real runner binary: each test starts its own process,
//! since the counters are process-wide and the values checked here are exact. Traffic goes
//! through fake upstreams (Statens vegvesen, an OpenAI-compatible model); the exposition is
//! parsed as Prometheus text by a small parser below, which refuses what Prometheus would.

use std::collections::BTreeMap;
use std::time::Duration;

use elbatt::testing::{FakeVegvesen, Reply, vegvesen_fixture};
use serde_json::Value;

use crate::binary::start_runner;
use crate::helpers::client;

use crate::chat::fake_llm::{FakeLlm, Script};

/// A token of the accepted length, built at run time so no key-shaped literal is tracked.
fn token() -> String {
    format!("metrics-test-{}", "t".repeat(20))
}

/// A plate the register knows (one of this repository's fixtures) and one it does not.
const FOUND: &str = "EC47213";
const MISSING: &str = "ZQ98761";
/// A client address that must never show up in the exposition.
const CLIENT_IP: &str = "198.51.100.213";

struct Runner {
    child: tokio::process::Child,
    base: String,
    dir: std::path::PathBuf,
    http: reqwest::Client,
    /// The function names of the route table the runner printed.
    functions: Vec<String>,
}

impl Runner {
    async fn start(name: &str, vars: &[(&str, &str)]) -> Runner {
        let dir =
            std::env::temp_dir().join(format!("elbatt-metrics-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut all = vec![
            ("CHAT_RATE_LIMIT_PER_MINUTE", "1000"),
            ("CHAT_RATE_LIMIT_BURST", "1000"),
            ("PLATE_LOOKUP_RATE_LIMIT_PER_MINUTE", "1000"),
            ("PLATE_LOOKUP_RATE_LIMIT_BURST", "1000"),
        ];
        all.extend_from_slice(vars);
        if !vars
            .iter()
            .any(|(k, _)| ["STORE", "DATABASE_PATH"].contains(k))
        {
            all.push(("STORE", "memory"));
        }
        let (child, base, report) = start_runner(&all, &dir).await;
        let functions = report
            .lines()
            .skip_while(|l| !l.starts_with("Routes"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect();
        Runner {
            child,
            base,
            dir,
            http: client(),
            functions,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET from the planted client address, as a proxy would forward it.
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("x-forwarded-for", format!("{CLIENT_IP}, 10.0.0.9"))
            .send()
            .await
            .unwrap()
    }

    /// `POST /chat` streamed, read to its end; the conversation id if one was stored.
    async fn chat(&self, message: &str) -> (String, Option<String>) {
        let body = serde_json::json!({ "message": message, "stream": true }).to_string();
        let resp = self
            .http
            .post(self.url("/chat"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", CLIENT_IP)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp
            .headers()
            .get("x-conversation-id")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.text().await.unwrap(), id)
    }

    async fn scrape_with(&self, auth: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url("/metrics"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send().await.unwrap()
    }

    /// The exposition, parsed (and checked) as Prometheus text.
    async fn scrape(&self) -> (String, Exposition) {
        let resp = self.scrape_with(Some(&format!("Bearer {}", token()))).await;
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        let text = resp.text().await.unwrap();
        let parsed = parse(&text).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"));
        (text, parsed)
    }

    /// Scrapes until `series` has `want` (a stream's gauge drops when the server drops the
    /// body, just after the client has read its end).
    async fn scrape_until(&self, series: &str, want: f64) -> (String, Exposition) {
        // Up to 10 s: on a loaded machine the server may drop the body well after the end.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < until {
            let (text, parsed) = self.scrape().await;
            if parsed.value(series) == Some(want) {
                return (text, parsed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (text, parsed) = self.scrape().await;
        assert_eq!(parsed.value(series), Some(want), "{series}\n{text}");
        (text, parsed)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

async fn register() -> FakeVegvesen {
    FakeVegvesen::start(
        vec![(
            FOUND,
            vec![Reply::json(
                200,
                vegvesen_fixture("bev-kia-niro-ec47213.json"),
            )],
        )],
        Reply::status(204),
    )
    .await
}

#[tokio::test]
async fn metrics_count_requests_lookups_cache_and_offline_answers_exactly() {
    let fake = register().await;
    let endpoint = fake.endpoint();
    let token = token();
    let runner = Runner::start(
        "offline",
        &[
            ("METRICS_ENABLED", "true"),
            ("METRICS_TOKEN", &token),
            ("VEGVESEN_API_KEY", "k"),
            ("VEGVESEN_ENDPOINT", &endpoint),
        ],
    )
    .await;

    for _ in 0..3 {
        assert_eq!(runner.get("/health").await.status(), 200);
    }
    // A miss, then a hit, then "no such vehicle" (a miss that is no upstream error).
    assert_eq!(
        runner.get(&format!("/plate-lookup/{FOUND}")).await.status(),
        200
    );
    assert_eq!(
        runner.get(&format!("/plate-lookup/{FOUND}")).await.status(),
        200
    );
    assert_eq!(
        runner
            .get(&format!("/plate-lookup/{MISSING}"))
            .await
            .status(),
        404
    );
    // Offline (no model key): the FAQ answer, and the plate in it from the cache (a hit).
    let (answer, _) = runner
        .chat(&format!("Hvor lenge varer batterigarantien på {FOUND}?"))
        .await;
    assert!(answer.contains("event: done"), "{answer}");
    assert_eq!(fake.calls(), 2);

    assert_eq!(runner.scrape_with(None).await.status(), 401);
    assert_eq!(runner.scrape_with(Some("Bearer wrong")).await.status(), 401);

    let (text, m) = runner
        .scrape_until("elbatt_open_streams{function=\"chat\"}", 0.0)
        .await;
    let expect = [
        (
            "elbatt_http_requests_total{function=\"health\",status=\"200\"}",
            3.0,
        ),
        (
            "elbatt_http_requests_total{function=\"plate-lookup\",status=\"200\"}",
            2.0,
        ),
        (
            "elbatt_http_requests_total{function=\"plate-lookup\",status=\"404\"}",
            1.0,
        ),
        (
            "elbatt_http_requests_total{function=\"chat\",status=\"200\"}",
            1.0,
        ),
        (
            "elbatt_http_requests_total{function=\"metrics\",status=\"401\"}",
            2.0,
        ),
        (
            "elbatt_http_request_duration_seconds_count{function=\"health\"}",
            3.0,
        ),
        (
            "elbatt_http_request_duration_seconds_bucket{function=\"health\",le=\"+Inf\"}",
            3.0,
        ),
        (
            "elbatt_http_request_duration_seconds_count{function=\"plate-lookup\"}",
            3.0,
        ),
        ("elbatt_upstream_requests_total{upstream=\"vegvesen\"}", 2.0),
        ("elbatt_upstream_requests_total{upstream=\"model\"}", 0.0),
        (
            "elbatt_upstream_request_duration_seconds_count{upstream=\"vegvesen\"}",
            2.0,
        ),
        (
            "elbatt_plate_cache_lookups_total{layer=\"memory\",result=\"miss\"}",
            2.0,
        ),
        (
            "elbatt_plate_cache_lookups_total{layer=\"memory\",result=\"hit\"}",
            2.0,
        ),
        (
            "elbatt_chat_offline_answers_total{reason=\"not_configured\"}",
            1.0,
        ),
        (
            "elbatt_chat_offline_answers_total{reason=\"provider_failed\"}",
            0.0,
        ),
        ("elbatt_chat_tokens_total", 0.0),
        ("elbatt_open_streams{function=\"chat\"}", 0.0),
        ("elbatt_open_websockets", 0.0),
    ];
    for (series, want) in expect {
        assert_eq!(m.value(series), Some(want), "{series}\n{text}");
    }
    let errors: f64 = m.sum("elbatt_upstream_errors_total");
    assert_eq!(errors, 0.0, "{text}");
    // The scrape in progress is counted once it has answered: the next one shows it.
    let (_, again) = runner.scrape().await;
    assert!(
        again.value("elbatt_http_requests_total{function=\"metrics\",status=\"200\"}") >= Some(1.0)
    );
}

#[tokio::test]
async fn metrics_count_model_calls_tokens_errors_and_the_budget_left() {
    let fake = register().await;
    let llm = FakeLlm::start(vec![
        // Turn 1: a lookup through the tool, then the answer (usage 100+20, then 40+2).
        Script::tool_reply(&[("call_1", FOUND)]),
        Script::text_reply(&["EC 47213 er ", "en Kia Niro."]),
        // Turn 2: the key is refused (not retried): answered offline.
        Script::json(
            401,
            r#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        ),
    ])
    .await;
    let (endpoint, base_url) = (fake.endpoint(), llm.base_url());
    let key = format!("sk-{}", "m".repeat(24));
    let token = token();
    let runner = Runner::start(
        "model",
        &[
            ("METRICS_ENABLED", "1"),
            ("METRICS_TOKEN", &token),
            ("VEGVESEN_API_KEY", "k"),
            ("VEGVESEN_ENDPOINT", &endpoint),
            ("OPENAI_API_KEY", &key),
            ("OPENAI_BASE_URL", &base_url),
            ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "5"),
            ("CHAT_DAILY_TOKEN_BUDGET", "100000"),
        ],
    )
    .await;

    let (first, _) = runner
        .chat(&format!("Hvordan er batteriet på {FOUND}?"))
        .await;
    assert!(first.contains("Kia Niro"), "{first}");
    let (second, _) = runner.chat("Hvor lenge varer batterigarantien?").await;
    assert!(second.contains("\"provider_failed\""), "{second}");
    assert_eq!(llm.calls(), 3);

    let (text, m) = runner
        .scrape_until("elbatt_open_streams{function=\"chat\"}", 0.0)
        .await;
    let expect = [
        (
            "elbatt_http_requests_total{function=\"chat\",status=\"200\"}",
            2.0,
        ),
        ("elbatt_upstream_requests_total{upstream=\"model\"}", 3.0),
        (
            "elbatt_upstream_errors_total{upstream=\"model\",kind=\"auth\"}",
            1.0,
        ),
        (
            "elbatt_upstream_request_duration_seconds_count{upstream=\"model\"}",
            3.0,
        ),
        ("elbatt_upstream_requests_total{upstream=\"vegvesen\"}", 1.0),
        (
            "elbatt_plate_cache_lookups_total{layer=\"memory\",result=\"miss\"}",
            1.0,
        ),
        ("elbatt_chat_tokens_total", 162.0),
        ("elbatt_chat_token_budget_remaining", 100_000.0 - 162.0),
        (
            "elbatt_chat_offline_answers_total{reason=\"provider_failed\"}",
            1.0,
        ),
        (
            "elbatt_chat_offline_answers_total{reason=\"not_configured\"}",
            0.0,
        ),
    ];
    for (series, want) in expect {
        assert_eq!(m.value(series), Some(want), "{series}\n{text}");
    }
    assert_eq!(m.sum("elbatt_upstream_errors_total"), 1.0, "{text}");
}

/// Distinctive plates, client addresses, conversation ids and path parameters go through every
/// function; none of them may appear anywhere in the exposition, and every label value must come
/// from the documented sets.
#[tokio::test]
async fn no_plate_address_conversation_id_or_path_parameter_reaches_the_exposition() {
    let fake = register().await;
    let endpoint = fake.endpoint();
    let token = token();
    let runner = Runner::start(
        "labels",
        &[
            ("METRICS_ENABLED", "true"),
            ("METRICS_TOKEN", &token),
            ("VEGVESEN_API_KEY", "k"),
            ("VEGVESEN_ENDPOINT", &endpoint),
            ("TRUSTED_PROXY_HOPS", "1"),
        ],
    )
    .await;
    let planted_path = "zz-planted-path-4711";
    let planted_conversation = "c0ffee00-dead-4bee-8fee-0123456789ab";
    for path in [
        format!("/plate-lookup/{FOUND}"),
        format!("/plate-lookup/{MISSING}"),
        format!("/plate-lookup/{}", "zq 98761"),
        format!("/plate-lookup/{planted_path}"),
        format!("/conversations/{planted_conversation}"),
        format!("/{planted_path}?plate={MISSING}"),
        format!("/health/{planted_path}"),
    ] {
        runner.get(&path).await;
    }
    let (_, stored) = runner.chat(&format!("Hva med {MISSING} og {FOUND}?")).await;
    let stored = stored.expect("the memory store keeps the conversation");
    runner.get(&format!("/conversations/{stored}")).await;
    let (text, m) = runner
        .scrape_until("elbatt_open_streams{function=\"chat\"}", 0.0)
        .await;

    let lower = text.to_lowercase();
    for planted in [
        FOUND,
        MISSING,
        "ec 47213",
        "zq 98761",
        "zq%2098761",
        CLIENT_IP,
        "198.51.100",
        "10.0.0.9",
        "127.0.0.1",
        planted_path,
        planted_conversation,
        stored.as_str(),
    ] {
        assert!(
            !lower.contains(&planted.to_lowercase()),
            "{planted} appears in the exposition:\n{text}"
        );
    }
    // The mount names of the route table, and the two fixed ones.
    let functions: Vec<&str> = runner
        .functions
        .iter()
        .map(String::as_str)
        .chain(["unmatched", "other"])
        .collect();
    assert!(functions.contains(&"plate-lookup"), "{functions:?}");
    for sample in &m.samples {
        for (name, value) in &sample.labels {
            let allowed = match name.as_str() {
                "function" => functions.contains(&value.as_str()),
                "status" => value == "other" || (value.len() == 3 && value.parse::<u16>().is_ok()),
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                "upstream" => ["vegvesen", "model"].contains(&value.as_str()),
                "layer" => ["memory", "shared"].contains(&value.as_str()),
                "result" => ["hit", "miss"].contains(&value.as_str()),
                "reason" => {
                    ["not_configured", "budget_spent", "provider_failed"].contains(&value.as_str())
                }
                "kind" => [
                    "timeout",
                    "unavailable",
                    "rate_limited",
                    "auth",
                    "rejected",
                    "server_error",
                    "bad_response",
                    "other",
                ]
                .contains(&value.as_str()),
                _ => false,
            };
            assert!(allowed, "label {name}={value:?} in {}\n{text}", sample.name);
        }
    }
    // The traffic did reach the functions (otherwise the test proves nothing).
    assert!(
        m.value("elbatt_http_requests_total{function=\"plate-lookup\",status=\"200\"}")
            >= Some(1.0)
    );
    assert!(
        m.value("elbatt_http_requests_total{function=\"conversations\",status=\"200\"}")
            >= Some(1.0)
    );
    assert!(m.value("elbatt_http_requests_total{function=\"chat\",status=\"200\"}") >= Some(1.0));
}

#[tokio::test]
async fn metrics_need_the_token_and_are_absent_unless_enabled() {
    let token = token();
    let on = Runner::start(
        "auth",
        &[("METRICS_ENABLED", "true"), ("METRICS_TOKEN", &token)],
    )
    .await;
    let refused = on.scrape_with(None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        on.scrape_with(Some(&token)).await.status(),
        401,
        "no Bearer scheme"
    );
    let near = format!("Bearer {}x", &token[..token.len() - 1]);
    assert_eq!(on.scrape_with(Some(&near)).await.status(), 401);
    assert_eq!(
        on.scrape_with(Some(&format!("Bearer {token}")))
            .await
            .status(),
        200
    );

    // Without a token the endpoint is open, allowed here because the runner is on loopback.
    let open = Runner::start("open", &[("METRICS_ENABLED", "true")]).await;
    assert_eq!(open.scrape_with(None).await.status(), 200);

    let off = Runner::start("off", &[("METRICS_TOKEN", &token)]).await;
    let resp = off.scrape_with(Some(&format!("Bearer {token}"))).await;
    assert_eq!(resp.status(), 404);
    assert!(!resp.text().await.unwrap().contains("elbatt_"));
}

#[tokio::test]
async fn metrics_without_a_token_off_loopback_fail_at_start_naming_the_variable() {
    let dir = std::env::temp_dir().join(format!("elbatt-metrics-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"))
        .args(["--port", "0", "--host", "0.0.0.0"])
        .env_clear()
        .env("METRICS_ENABLED", "true")
        .env("STORE", "memory")
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("METRICS_TOKEN"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// A Prometheus text-format (0.0.4) parser, strict where Prometheus is.

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    /// `name{a="b",…}` as written, to its value.
    series: BTreeMap<String, f64>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn value(&self, series: &str) -> Option<f64> {
        self.series.get(series).copied()
    }

    /// The total of every series of a family.
    fn sum(&self, family: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == family)
            .map(|s| s.value)
            .sum()
    }
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_name(name, true) {
                        return Err(at("bad metric name"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("a second TYPE for the family"));
                    }
                    if out.samples.iter().any(|s| family(&s.name, &types) == name) {
                        return Err(at("TYPE after the family's samples"));
                    }
                }
                (Some("HELP"), Some(name), _) if !helped.insert(name.to_owned()) => {
                    return Err(at("a second HELP for the family"));
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line).map_err(|e| at(&e))?;
        let fam = family(&sample.name, &types);
        let Some(kind) = types.get(fam) else {
            return Err(at("a sample without a TYPE"));
        };
        if kind == "counter" && (sample.value < 0.0 || !sample.name.ends_with("_total")) {
            return Err(at("a counter must be named _total and not be negative"));
        }
        let key = if sample.labels.is_empty() {
            sample.name.clone()
        } else {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            format!("{}{{{}}}", sample.name, labels.join(","))
        };
        if out.series.insert(key, sample.value).is_some() {
            return Err(at("a duplicate series"));
        }
        out.samples.push(sample);
    }
    check_histograms(&out, &types)?;
    Ok(out)
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own.
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == "histogram") {
                return base;
            }
        }
    }
    name
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name_end, mut labels) = (line.find(['{', ' ']).ok_or("no value")?, Vec::new());
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end;
        loop {
            let Some((i, c)) = chars.next() else {
                return Err("unterminated labels".into());
            };
            if c == '}' {
                end = i;
                break;
            }
            let start = i;
            let mut eq = None;
            for (j, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(j);
                    break;
                }
            }
            let eq = eq.ok_or("a label without =")?;
            let label = &inner[start..eq];
            if !is_name(label, false) || label.starts_with("__") {
                return Err(format!("bad label name {label:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("an unquoted label value".into());
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        _ => return Err("a bad escape".into()),
                    },
                    Some((_, '"')) => break,
                    Some((_, '\n')) | None => return Err("unterminated label value".into()),
                    Some((_, c)) => value.push(c),
                }
            }
            if labels.iter().any(|(k, _): &(String, String)| k == label) {
                return Err(format!("label {label} twice"));
            }
            labels.push((label.to_owned(), value));
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    end = i;
                    break;
                }
                _ => return Err("labels must be separated by commas".into()),
            }
        }
        rest = &inner[end + 1..];
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let raw = fields.next().ok_or("no value")?;
    let value = match raw {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp".to_owned())?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// Buckets ascend in `le`, never decrease, end with `+Inf`, and `+Inf` equals `_count`.
fn check_histograms(out: &Exposition, types: &BTreeMap<String, String>) -> Result<(), String> {
    for (fam, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in out
            .samples
            .iter()
            .filter(|s| s.name == format!("{fam}_bucket"))
        {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or("a bucket without le")?;
            let le: f64 = if le.1 == "+Inf" {
                f64::INFINITY
            } else {
                le.1.parse().map_err(|_| "bad le")?
            };
            let rest: Vec<_> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            groups.entry(rest).or_default().push((le, s.value));
        }
        for (labels, buckets) in groups {
            let ordered = buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            let last = buckets.last().ok_or("no buckets")?;
            let count_key = if labels.is_empty() {
                format!("{fam}_count")
            } else {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                format!("{fam}_count{{{}}}", l.join(","))
            };
            if !ordered || last.0 != f64::INFINITY || out.value(&count_key) != Some(last.1) {
                return Err(format!("histogram {fam} {labels:?} is inconsistent"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{f=\"1\"} 2\n";
    assert!(parse(ok).is_ok());
    for bad in [
        "a_total 1\n",                                                      // no TYPE
        "# TYPE a_total counter\na_total{f=1} 2\n",                         // unquoted
        "# TYPE a_total counter\na_total{f=\"1\"} 2\na_total{f=\"1\"} 3\n", // duplicate
        "# TYPE a_total counter\na_total{f=\"1\",f=\"2\"} 2\n",             // label twice
        "# TYPE a_total counter\na_total 2",                                // no final newline
        "# TYPE a_total counter\na_total x\n",                              // bad value
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad}");
    }
}
