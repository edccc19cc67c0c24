//! plate-lookup end to end: the real server on 127.0.0.1:0 in front of a fake Statens vegvesen
//! (also on 127.0.0.1:0) that follows the documented contract, and the job binary.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use elbatt::config::{CorsConfig, Env};
use elbatt::context::Context;
use elbatt::http::Function;
use elbatt::runtime::Router;
use elbatt::testing::{
    ChildServer, FakeVegvesen, Reply, RunningServer, spawn_router, vegvesen_fixture,
};
use plate_lookup::PlateLookup;
use serde_json::Value;

fn env_for(fake: &FakeVegvesen) -> Vec<(&'static str, String)> {
    vec![
        ("VEGVESEN_API_KEY", "test-key".to_owned()),
        ("VEGVESEN_ENDPOINT", fake.endpoint()),
        ("VEGVESEN_TIMEOUT_SECS", "0.5".to_owned()),
        // Tests that look many plates up are not about the rate limit; the one that is
        // sets its own (later pairs win).
        ("PLATE_RATE_LIMIT_BURST", "100000".to_owned()),
        // No SQLite file shared between tests (and runs) as a second-level cache: every test
        // counts its own upstream calls.
        ("STORE", "memory".to_owned()),
    ]
}

async fn spawn(fake: &FakeVegvesen) -> RunningServer {
    spawn_with(Env::from_pairs(env_for(fake))).await
}

async fn spawn_with(env: Env) -> RunningServer {
    let cors = CorsConfig::from_env(&env, false).unwrap();
    let function = Arc::new(PlateLookup::from_context(&Context::new(env)).unwrap());
    spawn_router(Router::single(function, cors)).await
}

fn client() -> reqwest::Client {
    elbatt::outbound::http_client(Duration::from_secs(5))
}

async fn get(server: &RunningServer, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client().get(server.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn bev() -> Reply {
    Reply::json(200, vegvesen_fixture("bev-kia-niro-ec47213.json"))
}

#[tokio::test]
async fn a_found_plate_returns_the_mapped_summary_by_path_and_by_query() {
    let fake = FakeVegvesen::start(vec![("EC47213", vec![bev()])], Reply::status(204)).await;
    let server = spawn(&fake).await;
    for path in [
        "/EC47213",
        "/ec-47213",
        "/EC%2047213",
        "/?plate=ec%2047213",
        "/plate-lookup/EC47213",
        "/plate-lookup?plate=EC47213",
    ] {
        let (status, headers, body) = get(&server, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["plate"], "EC47213");
        let v = &body["vehicle"];
        assert_eq!(v["plate"], "EC 47213");
        assert_eq!(v["make"], "KIA");
        assert_eq!(v["model"], "NIRO");
        assert_eq!(v["is_electric"], true);
        assert_eq!(v["powertrain"], "battery_electric");
        assert_eq!(v["range_km"], 455);
        assert_eq!(v["range_standard"], "wltp");
        assert_eq!(v["energy_use_wh_per_km"], 159);
        assert_eq!(v["power_kw"], 150.0);
        assert_eq!(v["first_registration_norway"], "2020-09-14");
        assert_eq!(v["motors"][0]["max_net_power_kw"], 150.0);
        assert_eq!(v["motors"][0]["max_hourly_power_kw"], 35.0);
        assert_eq!(v["range_test_method"], "WLTP");
        assert_eq!(v["usage"]["kind"], "own_transport");
        assert_eq!(v["used_import"], Value::Null);
        assert_eq!(v["towing"]["braked_kg"], 750);
        // Due 2026-09-30, so overdue on any later lookup.
        assert_eq!(v["eu_control_overdue"], true);
        // Kia's own terms from the warranty table: 7 years or 150,000 km, 70 %.
        assert_eq!(v["battery_warranty"]["years"], 7);
        assert_eq!(v["battery_warranty"]["basis"], "manufacturer");
        assert_eq!(body["source"], plate_lookup::SOURCE);
    }
    // Only the first lookup reached the upstream; the rest were cache hits.
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn the_request_follows_the_real_contract() {
    let fake = FakeVegvesen::start(vec![], Reply::status(204)).await;
    let server = spawn(&fake).await;
    get(&server, "/EC47213").await;
    get(&server, "/%C3%86%C3%98%C3%85123").await; // personal plate ÆØÅ123
    let rec = fake.recorded();
    assert_eq!(rec.len(), 2);
    assert_eq!(
        rec[0].path_and_query,
        "/enkeltoppslag/kjoretoydata?kjennemerke=EC47213"
    );
    assert_eq!(rec[0].headers["svv-authorization"], "Apikey test-key");
    assert_eq!(rec[0].headers["accept"], "application/json");
    assert_eq!(rec[1].kjennemerke.as_deref(), Some("ÆØÅ123"));
    assert!(
        rec[1]
            .path_and_query
            .ends_with("kjennemerke=%C3%86%C3%98%C3%85123"),
        "{}",
        rec[1].path_and_query
    );
}

#[tokio::test]
async fn each_upstream_answer_maps_to_the_documented_status() {
    let quota_headers = vec![("retry-after", "3600".to_owned())];
    let fake = FakeVegvesen::start(
        vec![
            ("AA10001", vec![Reply::status(204)]),
            ("AA10002", vec![Reply::status(404)]),
            (
                "AA10003",
                vec![Reply::json(200, r#"{"kjoretoydataListe":[]}"#)],
            ),
            (
                "AA10004",
                vec![Reply::json(
                    400,
                    vegvesen_fixture("error-400-ugyldig-format.json"),
                )],
            ),
            ("AA10005", vec![Reply::status(401)]),
            ("AA10006", vec![Reply::status(403)]),
            (
                "AA10007",
                vec![Reply::With(
                    422,
                    quota_headers.clone(),
                    vegvesen_fixture("error-422-kvote.txt"),
                )],
            ),
            ("AA10008", vec![Reply::status(429)]),
            ("AA10009", vec![Reply::json(200, "<html>oops</html>")]),
            ("AA10010", vec![Reply::status(503)]),
            (
                "AA10011",
                vec![Reply::With(429, quota_headers, String::new())],
            ),
        ],
        Reply::status(204),
    )
    .await;
    let server = spawn(&fake).await;
    let cases = [
        ("AA10001", 404, "not_found"),
        ("AA10002", 404, "not_found"),
        ("AA10003", 404, "not_found"),
        ("AA10004", 400, "plate_rejected"),
        ("AA10005", 502, "upstream_auth"),
        ("AA10006", 502, "upstream_auth"),
        ("AA10007", 503, "upstream_quota"),
        ("AA10008", 503, "upstream_quota"),
        ("AA10009", 502, "upstream_error"),
        ("AA10010", 502, "upstream_error"),
        ("AA10011", 503, "upstream_quota"),
    ];
    for (plate, status, code) in cases {
        let (got, headers, body) = get(&server, &format!("/{plate}")).await;
        assert_eq!(got, status, "{plate}: {body}");
        assert_eq!(body["error"]["code"], code, "{plate}");
        let text = body.to_string();
        assert!(
            !text.contains("UGYLDIG") && !text.contains("kvote") && !text.contains("oops"),
            "upstream text leaked: {text}"
        );
        match plate {
            "AA10007" | "AA10011" => assert_eq!(headers["retry-after"], "3600", "{plate}"),
            _ => assert!(!headers.contains_key("retry-after"), "{plate}"),
        }
    }
    // 5xx was retried twice (3 calls); nothing else was retried.
    let per_plate = |p: &str| {
        fake.recorded()
            .iter()
            .filter(|r| r.kjennemerke.as_deref() == Some(p))
            .count()
    };
    assert_eq!(per_plate("AA10010"), 3);
    for p in ["AA10004", "AA10005", "AA10006", "AA10007", "AA10008"] {
        assert_eq!(per_plate(p), 1, "{p}");
    }
}

#[tokio::test]
async fn a_5xx_then_success_is_answered_and_errors_are_not_cached() {
    let fake = FakeVegvesen::start(
        vec![
            ("EC47213", vec![Reply::status(500), bev()]),
            (
                "AA20000",
                vec![
                    Reply::status(502),
                    Reply::status(502),
                    Reply::status(502),
                    Reply::status(204),
                ],
            ),
        ],
        Reply::status(204),
    )
    .await;
    let server = spawn(&fake).await;
    assert_eq!(get(&server, "/EC47213").await.0, 200);
    assert_eq!(fake.calls(), 2);
    assert_eq!(get(&server, "/AA20000").await.0, 502);
    // The failure was not cached: the next request goes upstream again (and finds nothing).
    assert_eq!(get(&server, "/AA20000").await.0, 404);
    assert_eq!(fake.calls(), 2 + 4);
    // A not-found answer is cached.
    assert_eq!(get(&server, "/AA20000").await.0, 404);
    assert_eq!(fake.calls(), 6);
}

#[tokio::test]
async fn a_hanging_upstream_is_a_bounded_504_and_a_dead_one_a_502() {
    let fake = FakeVegvesen::start(vec![("AA30000", vec![Reply::Hang])], Reply::status(204)).await;
    let server = spawn(&fake).await;
    let started = Instant::now();
    let (status, _, body) = get(&server, "/AA30000").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    let refused = elbatt::testing::RefusedPort::bind();
    let dead = refused.addr;
    let env = Env::from_pairs([
        ("VEGVESEN_API_KEY", "k".to_owned()),
        (
            "VEGVESEN_ENDPOINT",
            format!("http://{dead}/enkeltoppslag/kjoretoydata"),
        ),
        ("STORE", "memory".to_owned()),
    ]);
    let server = spawn_with(env).await;
    let (status, _, body) = get(&server, "/AA30001").await;
    assert_eq!(status, 502, "{body}");
}

#[tokio::test]
async fn invalid_or_missing_plates_are_400_without_an_upstream_call() {
    let fake = FakeVegvesen::start(vec![], bev()).await;
    let server = spawn(&fake).await;
    for (path, code) in [
        ("/A", "plate_too_short"),
        ("/ABCDEFGH1", "plate_too_long"),
        ("/EC47213%21", "plate_invalid_character"),
        ("/?plate=", "plate_empty"),
        ("/", "plate_missing"),
    ] {
        let (status, _, body) = get(&server, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}");
    }
    let (status, _, _) = get(&server, "/EC/47213").await;
    assert_eq!(status, 400);
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn without_a_key_lookups_answer_503_naming_the_variable() {
    let server = spawn_with(Env::default()).await;
    let (status, _, body) = get(&server, "/EC47213").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VEGVESEN_API_KEY")
    );
}

#[tokio::test]
async fn a_hundred_concurrent_lookups_of_one_plate_make_one_upstream_call() {
    let slow = Reply::After(Duration::from_millis(300), Box::new(bev()));
    let fake = FakeVegvesen::start(vec![("EC47213", vec![slow])], Reply::status(204)).await;
    let server = spawn(&fake).await;
    let client = client();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/EC47213"));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(fake.calls(), 1);
}

/// Runs the job binary with `vars` (plus the fake's endpoint and key unless `keyless`).
async fn job(
    fake: &FakeVegvesen,
    args: &[&str],
    vars: &[(&str, &str)],
    keyless: bool,
    stdin: Option<&str>,
) -> (i32, Vec<Value>, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_plate-lookup"));
    cmd.args(args).env_clear().envs(vars.iter().copied());
    if !keyless {
        cmd.envs(env_for(fake));
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    (
        out.status.code().unwrap(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn job_mode_prints_json_and_uses_distinct_exit_codes() {
    let fake = FakeVegvesen::start(
        vec![
            ("EC47213", vec![bev()]),
            (
                "DN61834",
                vec![Reply::json(
                    200,
                    vegvesen_fixture("phev-skoda-superb-dn61834.json"),
                )],
            ),
            ("AA50000", vec![Reply::status(500)]),
        ],
        Reply::status(204),
    )
    .await;

    // PLATE in the environment, as `scw jobs definition start … environment-variables.PLATE=…`.
    let (code, lines, stderr) = job(&fake, &[], &[("PLATE", "ec 47213")], false, None).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[0]["vehicle"]["make"], "KIA");
    assert!(
        !stderr.contains("EC47213") && !stderr.contains("EC 47213"),
        "plate logged: {stderr}"
    );

    assert_eq!(job(&fake, &["!!"], &[], false, None).await.0, 2);
    assert_eq!(job(&fake, &["AA40000"], &[], false, None).await.0, 3);
    assert_eq!(job(&fake, &["AA50000"], &[], false, None).await.0, 4);
    let (code, lines, stderr) = job(&fake, &[], &[("PLATE", "EC47213")], true, None).await;
    assert_eq!(code, 78);
    assert!(stderr.contains("VEGVESEN_API_KEY"), "{stderr}");
    assert_eq!(lines[0]["error"]["code"], "not_configured");

    // Several plates: one line each, going on past failures; the most serious code wins.
    let (code, lines, _) = job(
        &fake,
        &["EC47213", "AA40000", "DN61834", "x!"],
        &[],
        false,
        None,
    )
    .await;
    assert_eq!(code, 3);
    let oks: Vec<bool> = lines.iter().map(|l| l["ok"].as_bool().unwrap()).collect();
    assert_eq!(oks, [true, false, true, false]);
    assert_eq!(lines[2]["vehicle"]["powertrain"], "plug_in_hybrid");

    // stdin, one plate per line, and PLATES.
    let (code, lines, _) = job(&fake, &["-"], &[], false, Some("EC47213\n\nDN61834\n")).await;
    assert_eq!((code, lines.len()), (0, 2));
    let (code, lines, _) = job(&fake, &[], &[("PLATES", "EC47213,AA50000")], false, None).await;
    assert_eq!((code, lines.len()), (4, 2));
}

#[tokio::test]
async fn the_binary_serves_on_port_when_no_plate_is_given() {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_plate-lookup"));
    // PLATE is ignored: with PORT set this is a server, not a job.
    cmd.env_clear().env("PLATE", "EC47213");
    let server = ChildServer::start(cmd).await;
    let resp = client()
        .get(server.url("/plate-lookup/EC47213"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "no key: not configured");
}

#[tokio::test]
async fn new_plates_are_rate_limited_per_client_but_cached_ones_are_not() {
    let fake = FakeVegvesen::start(vec![("EC47213", vec![bev()])], Reply::status(204)).await;
    let mut env = env_for(&fake);
    env.push(("PLATE_RATE_LIMIT_PER_MINUTE", "1".to_owned()));
    env.push(("PLATE_RATE_LIMIT_BURST", "2".to_owned()));
    let server = spawn_with(Env::from_pairs(env)).await;
    let from = |client_ip: &'static str, plate: &str| {
        let req = client()
            .get(server.url(&format!("/{plate}")))
            .header("x-forwarded-for", client_ip);
        async move { req.send().await.unwrap() }
    };
    // Two new plates use the burst (one found, one not); a third new plate is refused.
    assert_eq!(from("203.0.113.9", "EC47213").await.status(), 200);
    assert_eq!(from("203.0.113.9", "AB12345").await.status(), 404);
    let refused = from("203.0.113.9", "AB12346").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        fake.calls(),
        2,
        "the refused lookup never reached Statens vegvesen"
    );
    // Cached answers cost nothing upstream and stay available to the same client.
    assert_eq!(from("203.0.113.9", "EC47213").await.status(), 200);
    assert_eq!(from("203.0.113.9", "AB12345").await.status(), 404);
    // Another client (or another /64) has its own bucket; the same /64 shares it.
    assert_eq!(from("198.51.100.4", "AB12346").await.status(), 404);
    assert_eq!(from("2001:db8:5:6::1", "AB12347").await.status(), 404);
    assert_eq!(from("2001:db8:5:6::2", "AB12348").await.status(), 404);
    assert_eq!(from("2001:db8:5:6::3", "AB12349").await.status(), 429);
    assert_eq!(fake.calls(), 5);
}
