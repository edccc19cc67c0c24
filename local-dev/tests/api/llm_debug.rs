//! LLM debug logs through the runner (docs/llm-debug-logs.md): files per conversation and turn
//! with the request, the response and the stream; every configured secret redacted from them and
//! from the log lines; the size bound; nothing written when off; nothing served over HTTP.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use elbatt::testing::{ChildServer, capture_logs};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

use crate::chat::fake_llm::{self, FakeLlm, Script, text_chunk};

/// A scratch folder of this test process, removed first if a crashed run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("elbatt-llm-debug-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

fn total_bytes(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// Waits (at most 15 s: a loaded CI machine) until `ok` holds: the writer works off the
/// request path.
async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(std::time::Instant::now() < until, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /chat` (one JSON answer); returns the reply.
async fn chat(app: &TestApp, body: Value) -> Value {
    let resp = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    json_of(resp).await
}

async fn runner(llm: &FakeLlm, dir: &Path, extra: &[(&str, &str)]) -> TestApp {
    let base_url = llm.base_url();
    let dir = dir.to_str().unwrap().to_owned();
    let mut vars = vec![
        ("OPENAI_API_KEY", "sk-runner-test"),
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS", "2"),
        ("LLM_RETRY_MAX_DELAY_SECS", "0.05"),
        ("LLM_DEBUG_DIR", dir.as_str()),
        ("CHAT_RATE_LIMIT_PER_MINUTE", "10000"),
        ("CHAT_RATE_LIMIT_BURST", "10000"),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v));
    }
    TestApp::spawn(&vars).await
}

#[tokio::test]
async fn each_model_call_is_written_per_conversation_and_turn_with_request_response_and_stream() {
    let dir = scratch("layout");
    let llm = FakeLlm::start(vec![
        Script::tool_reply(&[("call_1", "EC47213")]),
        Script::text_reply(&["Fant ", "bilen."]),
        Script::text_reply(&["Andre ", "svar."]),
    ])
    .await;
    let app = runner(&llm, &dir, &[]).await;
    let first = chat(&app, json!({"message": "Hva er EC47213?"})).await;
    let id = first["conversation_id"].as_str().unwrap().to_owned();
    chat(
        &app,
        json!({"message": "Og garantien?", "conversation_id": id}),
    )
    .await;

    let group = format!("c-{}", chat::llm::debug::conversation_hash(&id));
    // Turn 1: the tool round and the answer (two calls); turn 2: one call.
    eventually("three calls written", || {
        files(&dir)
            .iter()
            .filter(|f| f.to_string_lossy().ends_with("-stream.sse"))
            .count()
            == 3
    })
    .await;
    let all = files(&dir);
    assert!(
        all.iter().all(|f| f.starts_with(&group)),
        "one folder for the conversation, named by the hash: {all:?}"
    );
    assert!(
        all.iter().all(|f| !f.to_string_lossy().contains(&id)),
        "the id is a capability: never in a path"
    );
    let mut turns: Vec<PathBuf> = all.iter().map(|f| f.parent().unwrap().to_owned()).collect();
    turns.dedup();
    assert_eq!(turns.len(), 2, "{all:?}");
    let names = |turn: &Path| -> Vec<String> {
        all.iter()
            .filter(|f| f.parent() == Some(turn))
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&turns[0]),
        [
            "01-request.json",
            "01-response.json",
            "01-stream.sse",
            "02-request.json",
            "02-response.json",
            "02-stream.sse"
        ]
    );
    assert_eq!(
        names(&turns[1]),
        ["01-request.json", "01-response.json", "01-stream.sse"]
    );

    let read =
        |turn: &Path, name: &str| std::fs::read_to_string(dir.join(turn).join(name)).unwrap();
    let request: Value = serde_json::from_str(&read(&turns[0], "01-request.json")).unwrap();
    assert!(
        request["url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/chat/completions"),
        "{request}"
    );
    assert_eq!(request["body"]["messages"][1]["content"], "Hva er EC47213?");
    assert!(request["headers"].to_string().contains("Bearer [redacted]"));
    let tool_round: Value = serde_json::from_str(&read(&turns[0], "01-response.json")).unwrap();
    assert_eq!(tool_round["status"], 200);
    assert_eq!(tool_round["outcome"], "answered");
    assert_eq!(
        tool_round["completion"]["tool_calls"][0]["name"],
        "lookup_vehicle"
    );
    let answer: Value = serde_json::from_str(&read(&turns[0], "02-response.json")).unwrap();
    assert_eq!(answer["completion"]["text"], "Fant bilen.");
    let request: Value = serde_json::from_str(&read(&turns[0], "02-request.json")).unwrap();
    assert!(
        request["body"]["messages"]
            .to_string()
            .contains("\"role\":\"tool\""),
        "the second round sends the tool result"
    );
    let stream = read(&turns[1], "01-stream.sse");
    assert!(stream.contains("data: [DONE]"), "{stream}");
    assert!(stream.contains("Andre "), "{stream}");
    let later: Value = serde_json::from_str(&read(&turns[1], "01-request.json")).unwrap();
    assert!(
        later["body"]["messages"]
            .to_string()
            .contains("Og garantien?")
    );

    // Private: folders 0700, files 0600.
    for f in &all {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f:?}");
    }
    for d in [dir.clone(), dir.join(&group), dir.join(&turns[0])] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{d:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Secrets no heuristic would take for keys (no digits, short parts): only the collected list
/// can redact them.
const OPENAI_KEY: &str = "fjordhest-blaabaer-nordlys-openai";
const LLM_KEY: &str = "reinsdyr-multebaer-sankthans";
const VEGVESEN_KEY: &str = "elgkalv-myrull-tyttebaer-vegvesen";
const ADMIN: &str = "admin-moltebaer-skiloype-hytte";
const EDIT: &str = "redaktor-snoskred-isbre-lavvo";
const DB_PASSWORD: &str = "databasepassord-fjellrev-kveld";
const METRICS: &str = "metrikknokkel-snoskuter-vidde";

#[tokio::test]
async fn every_configured_secret_is_redacted_from_debug_files_and_log_lines() {
    let (logs, _guard) = capture_logs();
    let dir = scratch("redaction");
    let secrets = [
        OPENAI_KEY,
        LLM_KEY,
        VEGVESEN_KEY,
        ADMIN,
        EDIT,
        DB_PASSWORD,
        METRICS,
    ];
    let all = secrets.join(" ");
    // The provider echoes everything: in an error body (retried), in a header, and in the
    // streamed answer, whole in one chunk and spread over several.
    let error = json!({"error": {
        "message": format!("Incorrect API key provided: {OPENAI_KEY}. Authorization: Bearer {OPENAI_KEY}. Also seen: {all}"),
        "type": "server_error",
    }});
    let mut spread: Vec<String> = ADMIN
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    spread.insert(0, "Tokenet er ".to_owned());
    let mut chunks = vec![text_chunk(&format!("Nøklene: {all}. "))];
    chunks.extend(spread.iter().map(|p| text_chunk(p)));
    chunks.push(fake_llm::finish_chunk("stop"));
    chunks.push(fake_llm::DONE.to_owned());
    let llm = FakeLlm::start(vec![
        Script::json(500, error.to_string()).header("x-echo", &format!("Bearer {OPENAI_KEY}")),
        Script::sse(chunks).header("x-echo", EDIT),
    ])
    .await;
    let db_url = format!("postgres://elbatt:{DB_PASSWORD}@db.invalid:5432/elbatt");
    let app = runner(
        &llm,
        &dir,
        &[
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("LLM_API_KEY", LLM_KEY),
            ("VEGVESEN_API_KEY", VEGVESEN_KEY),
            ("ADMIN_TOKEN", ADMIN),
            ("PUBLISHED_EDIT_TOKEN", EDIT),
            // STORE=memory keeps PostgreSQL out of the test; the URL is still configured.
            ("DATABASE_URL", &db_url),
            ("STORE", "memory"),
            ("METRICS_TOKEN", METRICS),
        ],
    )
    .await;
    let reply = chat(&app, json!({"message": "Hei"})).await;
    assert_eq!(reply["mode"], "model", "{reply}");
    assert_eq!(llm.calls(), 2, "the 500 was retried");
    eventually("both attempts written", || {
        files(&dir)
            .iter()
            .any(|f| f.to_string_lossy().ends_with("02-stream.sse"))
    })
    .await;

    let written = files(&dir);
    assert!(
        written.iter().any(|f| f.ends_with("01-response.json")),
        "{written:?}"
    );
    let mut redactions = 0;
    for f in &written {
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(f)).unwrap()).into_owned();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {f:?}:\n{text}");
            // Nor any 8 characters of one.
            let chars: Vec<char> = secret.chars().collect();
            for w in chars.windows(8) {
                let w: String = w.iter().collect();
                assert!(!text.contains(&w), "{w:?} of {secret} in {f:?}:\n{text}");
            }
        }
        if f.to_string_lossy().ends_with(".sse") {
            // The spread secret's pieces are each too short to be recognised alone.
            for piece in ADMIN.as_bytes().chunks(5) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(
                    !text.contains(piece),
                    "{piece:?} of {ADMIN} in {f:?}:\n{text}"
                );
            }
        }
        redactions += text.matches("[redacted]").count();
    }
    assert!(redactions >= 6, "the marker shows where text was removed");
    let error_file = std::fs::read_to_string(
        dir.join(
            written
                .iter()
                .find(|f| f.ends_with("01-response.json"))
                .unwrap(),
        ),
    )
    .unwrap();
    assert!(
        error_file.contains("Incorrect API key provided: [redacted]"),
        "{error_file}"
    );

    drop(app);
    let logged = logs.text();
    assert!(logged.contains("LLM debug logs on"), "{logged}");
    for secret in secrets {
        assert!(!logged.contains(secret), "{secret} in the log:\n{logged}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn past_the_size_bound_the_oldest_files_go_first() {
    let dir = scratch("bounds");
    let llm = FakeLlm::start(vec![Script::text_reply(&["Kort ", "svar."])]).await;
    let bound: u64 = 40_000;
    let app = runner(&llm, &dir, &[("LLM_DEBUG_MAX_BYTES", "40000")]).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let reply = chat(&app, json!({"message": format!("Spørsmål nummer {i}")})).await;
        ids.push(reply["conversation_id"].as_str().unwrap().to_owned());
    }
    let folder = |id: &str| dir.join(format!("c-{}", chat::llm::debug::conversation_hash(id)));
    let newest = folder(ids.last().unwrap());
    eventually("the newest turn written and the bound kept", || {
        newest.exists() && files(&newest).len() == 3 && total_bytes(&dir) <= bound
    })
    .await;
    assert!(
        !folder(&ids[0]).exists(),
        "the oldest conversation's files are gone"
    );
    let kept = ids.iter().filter(|id| folder(id).exists()).count();
    assert!((1..12).contains(&kept), "kept {kept} of 12");
    let request = std::fs::read_to_string(
        files(&newest)
            .iter()
            .find(|f| f.ends_with("01-request.json"))
            .map(|f| newest.join(f))
            .unwrap(),
    )
    .unwrap();
    assert!(request.contains("Spørsmål nummer 11"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_debug_files_are_never_served_over_http() {
    let dir = scratch("served");
    let llm = FakeLlm::start(vec![Script::text_reply(&["Svar."])]).await;
    let app = runner(&llm, &dir, &[]).await;
    let marker = "Hemmelig-markør-i-loggen";
    chat(&app, json!({"message": marker})).await;
    eventually("the call written", || files(&dir).len() == 3).await;

    let leaf = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut guesses: Vec<String> = [
        "/llm-debug",
        "/llm-debug/",
        "/debug",
        "/debug-logs",
        "/api/debug-logs",
        "/api/debug",
        "/api/llm/debug",
        "/data/llm-debug",
        "/logs",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    guesses.push(format!("/{leaf}"));
    for f in files(&dir) {
        let rel = f.to_string_lossy().into_owned();
        for prefix in ["", "/llm-debug", "/debug", &format!("/{leaf}")] {
            guesses.push(format!("{prefix}/{rel}"));
        }
        guesses.push(format!("/{}", f.parent().unwrap().to_string_lossy()));
    }
    for path in &guesses {
        let resp = app.get(path).await;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 404, "GET {path}: {body}");
        assert!(!body.contains(marker), "GET {path}");
    }
    // Nor under any function's mount (they answer their own routes only).
    for f in files(&dir) {
        for mount in [
            "/api",
            "/chat",
            "/conversations",
            "/plate-lookup",
            "/health",
        ] {
            let path = format!("{mount}/{}", f.to_string_lossy());
            let resp = app.get(&path).await;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert!(!(200..300).contains(&status), "GET {path}: {status} {body}");
            assert!(!body.contains(marker), "GET {path}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn off_by_default_the_runner_writes_nothing() {
    // The runner binary in an empty folder that is also its HOME and TMPDIR: a turn with a
    // model leaves it empty (no default debug folder anywhere near).
    let dir = scratch("off");
    std::fs::create_dir_all(&dir).unwrap();
    let llm = FakeLlm::start(vec![Script::text_reply(&["Svar."])]).await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-dev"));
    cmd.env_clear()
        .env("STORE", "memory")
        .env("OPENAI_API_KEY", "sk-runner-test")
        .env("OPENAI_BASE_URL", llm.base_url())
        .env("LLM_DEBUG_MAX_BYTES", "1000")
        .env("HOME", &dir)
        .env("TMPDIR", &dir)
        .current_dir(&dir);
    let server = ChildServer::start(cmd).await;
    let resp = crate::helpers::client()
        .post(server.url("/chat"))
        .header("content-type", "application/json")
        .body(json!({"message": "Hei"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["mode"], "model");
    assert_eq!(llm.calls(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, log) = server.terminate().await;
    assert_eq!(files(&dir), Vec::<PathBuf>::new(), "{log}");
    assert!(!log.contains("LLM debug logs on"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a model call costs with the logs on and off, through the runner against the fake model
/// (five rounds of each, alternating; medians):
/// `cargo test --release -p local-dev --test api llm_debug::cost -- --ignored --nocapture`.
/// Reported in docs/llm-debug-logs.md; ignored by default (a measurement, not a check).
#[tokio::test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
async fn cost_of_a_model_call_with_the_logs_on_and_off() {
    const TURNS: usize = 400;
    let llm = FakeLlm::start(vec![Script::text_reply(&["Et ", "kort ", "svar."])]).await;
    let (mut off, mut on_times, mut drains) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..10 {
        let on = round % 2 == 1;
        let dir = scratch(&format!("cost-{round}"));
        let app = if on {
            runner(&llm, &dir, &[]).await
        } else {
            runner(&llm, &dir, &[("LLM_DEBUG_DIR", "")]).await
        };
        for i in 0..20 {
            chat(&app, json!({"message": format!("Oppvarming {i}")})).await;
        }
        let started = std::time::Instant::now();
        for i in 0..TURNS {
            chat(&app, json!({"message": format!("Spørsmål {i}")})).await;
        }
        let per_turn = started.elapsed() / TURNS as u32;
        let turns_done = std::time::Instant::now();
        // The writer is done when the count stops changing.
        let (mut count, mut last_change) = (files(&dir).len(), turns_done);
        while last_change.elapsed() < Duration::from_millis(300) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = files(&dir).len();
            if now != count {
                (count, last_change) = (now, std::time::Instant::now());
            }
        }
        let drain = last_change.duration_since(turns_done);
        println!(
            "logs {}: {per_turn:?} per turn (one model call each); {count} of {} files written ({} bytes), the last {drain:?} after the last turn",
            if on { "on " } else { "off" },
            if on { 3 * (TURNS + 20) } else { 0 },
            total_bytes(&dir),
        );
        if on {
            on_times.push(per_turn);
            drains.push(drain);
        } else {
            off.push(per_turn);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    for v in [&mut off, &mut on_times, &mut drains] {
        v.sort();
    }
    println!(
        "medians: off {:?} per turn, on {:?} per turn; files on disk {:?} after the last turn",
        off[2], on_times[2], drains[2]
    );
}
