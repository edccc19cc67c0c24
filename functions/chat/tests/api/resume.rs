//! Resumable streams (`docs/api.md`, "Resume a stream"): a client drops the connection after k
//! events, reconnects with `Last-Event-ID` or `?since=` and gets events k+1… exactly once (the
//! same as an undisturbed run's), with one upstream call in all; a stored turn whose client
//! left is completed and stored; expiry, unknown ids, the stateless case; a reconnect served by
//! another instance sharing the SQLite file (and PostgreSQL with `TEST_DATABASE_URL`).

use std::sync::Arc;
use std::time::Duration;

use chat::Chat;
use chat::clock::Clock;
use chat::config::ChatConfig;
use chat::turns::ResumeConfig;
use conversations::Conversations;
use elbatt::config::{CorsConfig, Env};
use elbatt::runtime::Router;
use elbatt::testing::{RunningServer, spawn_router};
use elbatt::vehicle::service::VehicleService;
use elbatt_store::{Store, StoreConfig};
use serde_json::{Value, json};

use crate::fake_llm::{
    DONE, FakeLlm, REPORTED_MODEL, Script, Step, finish_chunk, role_chunk, text_chunk, usage_chunk,
};
use crate::helpers::{API_KEY, App, NOW, fake_vegvesen, json_of, sse_of, within};
use crate::sse_client::{self, Event};

const LIMIT: Duration = Duration::from_secs(15);
const PARTS: &[&str] = &[
    "Batteri",
    "garantien ",
    "er ",
    "normalt ",
    "8 ",
    "år ",
    "eller ",
    "160 000 ",
    "km",
    ".",
];

/// A streamed answer of ten parts, 60 ms apart (well under the 5 s idle timeout): long enough
/// to leave in the middle of.
fn slow_reply() -> Script {
    let mut steps = vec![Step::Send(role_chunk(REPORTED_MODEL))];
    for p in PARTS {
        steps.push(Step::Wait(Duration::from_millis(60)));
        steps.push(Step::Send(text_chunk(p)));
    }
    steps.push(Step::Send(finish_chunk("stop")));
    steps.push(Step::Send(usage_chunk(40, PARTS.len() as u64)));
    steps.push(Step::Send(DONE.to_owned()));
    Script::sse_steps(steps)
}

/// One instance: chat and conversations on the real server over `store`.
struct Instance {
    server: RunningServer,
    store: Arc<Store>,
}

fn env(llm: &FakeLlm) -> Env {
    env_with(llm, "5")
}

fn env_with(llm: &FakeLlm, turn_timeout_secs: &str) -> Env {
    Env::from_pairs([
        ("OPENAI_BASE_URL".to_owned(), llm.base_url()),
        ("OPENAI_API_KEY".to_owned(), API_KEY.to_owned()),
        ("LLM_CONNECT_TIMEOUT_SECS".into(), "1".into()),
        // Far above the slow reply's 60 ms gaps: on a loaded CI machine a 0.5 s idle timeout
        // cut the model's stream and the turn (these tests are about resuming, not timeouts).
        ("LLM_FIRST_TOKEN_TIMEOUT_SECS".into(), "5".into()),
        ("LLM_IDLE_TIMEOUT_SECS".into(), "5".into()),
        (
            "CHAT_TURN_TIMEOUT_SECS".into(),
            turn_timeout_secs.to_owned(),
        ),
        ("CHAT_RATE_LIMIT_PER_MINUTE".into(), "10000".into()),
        ("CHAT_RATE_LIMIT_BURST".into(), "10000".into()),
    ])
}

impl Instance {
    async fn start(llm: &FakeLlm, store: StoreConfig, resume: ResumeConfig) -> Instance {
        Instance::start_with(store, resume, env(llm)).await
    }

    async fn start_with(store: StoreConfig, resume: ResumeConfig, env: Env) -> Instance {
        let mut cfg = ChatConfig::from_env(&env).unwrap();
        cfg.clock = Clock::Fixed(NOW);
        let store = Arc::new(Store::new(store));
        let vegvesen = fake_vegvesen().await;
        let venv = Env::from_pairs([
            ("VEGVESEN_API_KEY", "vegvesen-test-key".to_owned()),
            ("VEGVESEN_ENDPOINT", vegvesen.endpoint()),
        ]);
        let chat = Chat::new(cfg, VehicleService::from_env(&venv).unwrap())
            .with_resume(resume)
            .with_store(Arc::clone(&store));
        let cors = CorsConfig::from_env(&env, false).unwrap();
        let router = Router::new(cors).mount("/chat", Arc::new(chat)).mount(
            "/conversations",
            Arc::new(Conversations::new(Arc::clone(&store))),
        );
        Instance {
            server: spawn_router(router).await,
            store,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

fn sqlite(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        mode: elbatt_store::Mode::Sqlite(dir.join("elbatt.db")),
        retention: None,
    }
}

/// A directory for one test's SQLite file, removed when the test ends.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "elbatt-resume-{}",
        elbatt_store::ConversationId::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn client() -> reqwest::Client {
    elbatt::outbound::http_client(Duration::from_secs(10))
}

async fn post(client: &reqwest::Client, inst: &Instance) -> reqwest::Response {
    let resp = client
        .post(inst.url("/chat"))
        .header("content-type", "application/json")
        .body(json!({"message": "Hvor lenge varer batterigarantien?", "stream": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// Reads a stream until `k` events have arrived, then drops the connection.
async fn first_events(mut resp: reqwest::Response, k: usize) -> Vec<Event> {
    let mut body = String::new();
    loop {
        let complete = body.rfind("\n\n").map_or("", |end| &body[..end + 2]);
        let events = sse_client::parse(complete);
        if events.len() >= k {
            return events[..k].to_vec();
        }
        let chunk = resp.chunk().await.unwrap().expect("the stream ended early");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

fn conversation_of(resp: &reqwest::Response) -> String {
    resp.headers()["x-conversation-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The events minus what differs between two runs of the same answer (the conversation id
/// and the turn id).
fn comparable(events: &[Event]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            let mut data = e.data.clone();
            if let Some(m) = data.as_object_mut() {
                m.remove("conversation_id");
            }
            (e.name.clone(), data)
        })
        .collect()
}

fn seqs(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .map(|e| {
            let id = e.id.as_deref().expect("every frame has an id");
            id.rsplit_once(':').unwrap().1.parse().unwrap()
        })
        .collect()
}

/// An undisturbed run of [`slow_reply`] on its own instance: the events every resume is
/// compared with.
async fn undisturbed() -> Vec<Event> {
    let llm = FakeLlm::start(vec![slow_reply()]).await;
    let dir = temp_dir();
    let inst = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
    let events = sse_of(post(&client(), &inst).await).await;
    assert_eq!(seqs(&events), (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(sse_client::text(&events), PARTS.concat());
    events
}

async fn resume(
    client: &reqwest::Client,
    inst: &Instance,
    conversation: &str,
    last_event_id: Option<&str>,
    since: Option<&str>,
) -> reqwest::Response {
    // Both forms are `<hex>:<digits>` or `<digits>`: nothing to percent-encode.
    let query = since.map(|s| format!("?since={s}")).unwrap_or_default();
    let mut req = client.get(inst.url(&format!("/chat/{conversation}/events{query}")));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    req.send().await.unwrap()
}

/// Leaves after `k` events on `a`, resumes on `b` (the same instance or another) in the three
/// ways, and checks each gets exactly events k+1… of the undisturbed run, with one upstream call.
async fn leave_and_resume_three_ways(a: &Instance, b: &Instance, llm: &FakeLlm) {
    let full = undisturbed().await;
    let k = 3;
    let client = client();
    let resp = post(&client, a).await;
    assert_eq!(resp.headers()["x-elbatt-resume"], "available");
    let conversation = conversation_of(&resp);
    let seen = first_events(resp, k).await;
    assert_eq!(comparable(&seen), comparable(&full[..k]));
    let last = seen[k - 1].id.clone().unwrap();
    let (turn, _) = last.rsplit_once(':').unwrap();

    let by_header = resume(&client, b, &conversation, Some(&last), None).await;
    assert_eq!(by_header.status(), 200);
    let rest = sse_of(by_header).await;
    assert_eq!(comparable(&rest), comparable(&full[k..]), "Last-Event-ID");
    assert_eq!(
        seqs(&rest),
        (k as u64 + 1..=full.len() as u64).collect::<Vec<_>>()
    );
    let done = sse_client::only(&rest, "done");
    assert_eq!(done["conversation_id"], conversation.as_str());
    assert_eq!(done["resumable"], true);

    let by_query = sse_of(resume(&client, b, &conversation, None, Some(&last)).await).await;
    assert_eq!(
        comparable(&by_query),
        comparable(&full[k..]),
        "since=<turn>:<seq>"
    );
    let by_seq = sse_of(resume(&client, b, &conversation, None, Some(&k.to_string())).await).await;
    assert_eq!(comparable(&by_seq), comparable(&full[k..]), "since=<seq>");
    assert!(
        by_seq
            .iter()
            .all(|e| e.id.as_deref().unwrap().starts_with(turn))
    );
    assert_eq!(llm.calls(), 1, "no second model call");
    // The answer is stored too.
    let stored = stored_answer(&client, b, &conversation).await;
    assert_eq!(stored, PARTS.concat());
}

/// The stored conversation's last message, once it has two (waits for a turn still running).
async fn stored_answer(client: &reqwest::Client, inst: &Instance, conversation: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        let resp = client
            .get(inst.url(&format!("/conversations/{conversation}")))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let body = json_of(resp).await;
            let messages = body["messages"].as_array().unwrap();
            if messages.len() == 2 {
                assert_eq!(messages[1]["role"], "assistant");
                return messages[1]["content"].as_str().unwrap().to_owned();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the turn was never stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_gets_the_missed_events_once_then_the_rest_without_a_second_model_call() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let dir = temp_dir();
        let inst = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        leave_and_resume_three_ways(&inst, &inst, &llm).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_sharing_the_sqlite_file_replays_from_the_store_and_follows_it() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let dir = temp_dir();
        let a = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        let b = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        leave_and_resume_three_ways(&a, &b, &llm).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_instance_replays_from_the_store_and_follows_it() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED resume::postgres_another_instance_replays_from_the_store_and_follows_it: \
             set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it"
        );
        return;
    };
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let pg =
            || StoreConfig::from_env(&Env::from_pairs([("DATABASE_URL", url.clone())])).unwrap();
        let a = Instance::start(&llm, pg(), ResumeConfig::default()).await;
        let b = Instance::start(&llm, pg(), ResumeConfig::default()).await;
        assert!(matches!(a.store.mode(), elbatt_store::Mode::Postgres(_)));
        leave_and_resume_three_ways(&a, &b, &llm).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_still_gets_its_answer_completed_and_stored() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let dir = temp_dir();
        let inst = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        let client = client();
        let resp = post(&client, &inst).await;
        let conversation = conversation_of(&resp);
        first_events(resp, 2).await;
        assert_eq!(
            stored_answer(&client, &inst, &conversation).await,
            PARTS.concat()
        );
        assert_eq!(llm.hangups(), 0, "the model's stream was read to its end");
        assert_eq!(llm.calls(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_are_410_unknown_ids_404_and_a_bad_since_400() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![Script::text_reply(&["Hei", "!"])]).await;
        let dir = temp_dir();
        // Long enough for the resume just after the turn to come within it on a loaded
        // machine; its expiry is then waited for, not slept for.
        let resume_cfg = ResumeConfig {
            ttl: Duration::from_secs(2),
            ..ResumeConfig::default()
        };
        let inst = Instance::start(&llm, sqlite(&dir), resume_cfg).await;
        let client = client();
        let resp = post(&client, &inst).await;
        let conversation = conversation_of(&resp);
        let events = sse_of(resp).await;
        // Within the TTL: the whole turn again.
        let again = sse_of(resume(&client, &inst, &conversation, None, Some("0")).await).await;
        assert_eq!(comparable(&again), comparable(&events));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let gone = loop {
            let resp = resume(&client, &inst, &conversation, None, Some("1")).await;
            if resp.status() != 200 || tokio::time::Instant::now() > deadline {
                break resp;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(gone.status(), 410);
        assert_eq!(json_of(gone).await["error"]["code"], "resume_expired");
        // The conversation itself is still there.
        assert_eq!(stored_answer(&client, &inst, &conversation).await, "Hei!");

        let unknown = elbatt_store::ConversationId::generate().to_string();
        for id in [unknown.as_str(), "not-an-id"] {
            let resp = resume(&client, &inst, id, Some("1"), None).await;
            assert_eq!(resp.status(), 404, "{id}");
            assert_eq!(
                json_of(resp).await["error"]["code"],
                "conversation_not_found"
            );
        }
        let bad = resume(&client, &inst, &conversation, Some("x:y"), None).await;
        assert_eq!(bad.status(), 400);
        assert_eq!(json_of(bad).await["error"]["code"], "bad_since");
        // Only GET serves the events path; only POST the chat path.
        let post_events = client
            .post(inst.url(&format!("/chat/{conversation}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(post_events.status(), 405);
        let allow = post_events.headers()["allow"].to_str().unwrap();
        assert!(allow.contains("GET") && !allow.contains("POST"), "{allow}");
        let get_chat = client.get(inst.url("/chat")).send().await.unwrap();
        assert_eq!(get_chat.status(), 405);
        assert_eq!(llm.calls(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_conversation_erases_its_events() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![Script::text_reply(&["Hei", "!"])]).await;
        let dir = temp_dir();
        let inst = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        let client = client();
        let resp = post(&client, &inst).await;
        let conversation = conversation_of(&resp);
        sse_of(resp).await;
        let deleted = client
            .delete(inst.url(&format!("/conversations/{conversation}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let resp = resume(&client, &inst, &conversation, None, Some("0")).await;
        assert_eq!(resp.status(), 404);
        let read = inst
            .store
            .backend()
            .await
            .unwrap()
            .turn_read(
                &elbatt_store::ConversationId::parse(&conversation).unwrap(),
                None,
                0,
                10,
                0,
            )
            .await
            .unwrap();
        assert!(read.is_none(), "no turn events left in the database");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_stream_says_it_cannot_be_resumed_and_stops_when_its_client_leaves() {
    within(LIMIT, async {
        let app = App::start(vec![slow_reply()], &[]).await;
        let resp = app
            .post(&json!({"message": "Hei", "stream": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-elbatt-resume"], "unavailable");
        assert!(resp.headers().get("x-conversation-id").is_none());
        first_events(resp, 2).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while app.llm.hangups() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(app.llm.hangups(), 1, "the turn stopped with its client");

        let events = app
            .chat_sse(&json!({"message": "Hei", "stream": true}))
            .await;
        assert_eq!(sse_client::only(&events, "done")["resumable"], false);
        let id = elbatt_store::ConversationId::generate();
        let resp = app
            .client
            .get(app.server.url(&format!("/chat/{id}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            json_of(resp).await["error"]["code"],
            "conversations_disabled"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_whose_conversation_is_erased_meanwhile_leaves_no_events_to_resume() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let dir = temp_dir();
        let inst = Instance::start(&llm, sqlite(&dir), ResumeConfig::default()).await;
        let client = client();
        let conversation = conversation_of(&post(&client, &inst).await);
        stored_answer(&client, &inst, &conversation).await;
        // A second turn of the stored conversation, erased while it streams.
        let resp = client
            .post(inst.url("/chat"))
            .header("content-type", "application/json")
            .body(
                json!({"message": "Og for bruktbil?", "stream": true,
                         "conversation_id": conversation})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let mut rest = first_events(resp, 2).await;
        let deleted = client
            .delete(inst.url(&format!("/conversations/{conversation}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let follow = resume(
            &client,
            &inst,
            &conversation,
            rest.pop().unwrap().id.as_deref(),
            None,
        )
        .await;
        let events = sse_of(follow).await;
        let done = sse_client::only(&events, "done");
        assert!(done.get("conversation_id").is_none(), "not stored: {done}");
        let after = resume(&client, &inst, &conversation, None, Some("0")).await;
        assert_eq!(after.status(), 404, "the erased turn's events are gone");
    })
    .await;
}

/// A typical streamed answer: about 1 KB of text in 4-character deltas (about one token each)
/// at 40 tokens/s, as gpt-4o-mini streams. Measures the store writes of its turn events and the
/// bytes one event takes in the database. Run:
/// `cargo test -p chat --test api resume::measure -- --ignored --nocapture` (with
/// `TEST_DATABASE_URL` set for PostgreSQL too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (6 s a turn); run it by name"]
async fn measure_writes_and_bytes_per_event_of_a_typical_answer() {
    let text = "Batterigarantien på en ny elbil er normalt åtte år eller 160 000 km. ".repeat(15);
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    let mut steps = vec![Step::Send(role_chunk(REPORTED_MODEL))];
    for p in &parts {
        steps.push(Step::Wait(Duration::from_millis(25)));
        steps.push(Step::Send(text_chunk(p)));
    }
    steps.push(Step::Send(finish_chunk("stop")));
    steps.push(Step::Send(usage_chunk(40, parts.len() as u64)));
    steps.push(Step::Send(DONE.to_owned()));
    let script = Script::sse_steps(steps);

    let mut stores = vec![("sqlite", None)];
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        stores.push(("postgres", Some(url)));
    }
    for (engine, url) in stores {
        let llm = FakeLlm::start(vec![script.clone()]).await;
        let dir = temp_dir();
        let cfg = match &url {
            None => sqlite(&dir),
            Some(url) => {
                StoreConfig::from_env(&Env::from_pairs([("DATABASE_URL", url.clone())])).unwrap()
            }
        };
        let env = env_with(&llm, "60");
        let inst = Instance::start_with(cfg, ResumeConfig::default(), env).await;
        let before = chat::turns::store_writes();
        let events = sse_of(post(&client(), &inst).await).await;
        let writes = chat::turns::store_writes() - before;
        let conversation = sse_client::only(&events, "done")["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (rows, payload, physical) = match &url {
            None => {
                let db = rusqlite::Connection::open(dir.join("elbatt.db")).unwrap();
                let (rows, payload): (i64, i64) = db
                    .query_row(
                        "SELECT count(*), sum(length(conversation_id) + length(turn) + 8 \
                         + length(name) + length(CAST(data AS BLOB))) FROM turn_events \
                         WHERE conversation_id = ?1",
                        [&conversation],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
                let pages: i64 = db
                    .query_row(
                        "SELECT sum(pgsize) FROM dbstat WHERE name IN \
                         ('turn_events', 'sqlite_autoindex_turn_events_1')",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap_or(-1);
                (rows, payload, pages)
            }
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                let row = client
                    .query_one(
                        "SELECT count(*), sum(pg_column_size(e.*))::BIGINT FROM turn_events e \
                         WHERE conversation_id = $1",
                        &[&conversation],
                    )
                    .await
                    .unwrap();
                (row.get(0), row.get(1), -1)
            }
        };
        let n = events.len() as i64;
        assert_eq!(rows, n, "every event stored");
        let physical = if physical > 0 {
            format!(
                "; table + primary key on disk {physical} B = {} B/event",
                physical / n
            )
        } else {
            String::new()
        };
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "MEASURED {engine}: {n} events ({} B of answer text), {writes} store writes for the \
             turn, {} B/event stored (row payload{}){physical}",
            text.len(),
            payload / n,
            if engine == "postgres" {
                ", pg_column_size"
            } else {
                ""
            }
        );
        assert!(
            writes < n as u64 / 4,
            "batched: {writes} writes for {n} events"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_rate_limited_per_client_like_chat_and_costs_no_model_call() {
    within(LIMIT, async {
        let app = App::start(
            vec![slow_reply()],
            &[
                ("CHAT_RATE_LIMIT_PER_MINUTE", "1"),
                ("CHAT_RATE_LIMIT_BURST", "1"),
            ],
        )
        .await;
        let id = elbatt_store::ConversationId::generate();
        let get = || {
            app.client
                .get(app.server.url(&format!("/chat/{id}/events")))
                .send()
        };
        assert_eq!(
            get().await.unwrap().status(),
            400,
            "admitted (no store here)"
        );
        let refused = get().await.unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        let chat = app.post(&json!({"message": "Hei"})).send().await.unwrap();
        assert_eq!(chat.status(), 429, "one limit for chat and resume");
        assert_eq!(app.llm.calls(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_over_the_bounds_streams_whole_but_cannot_be_resumed() {
    within(LIMIT, async {
        let llm = FakeLlm::start(vec![slow_reply()]).await;
        let dir = temp_dir();
        let bounded = ResumeConfig {
            max_events: 4,
            ..ResumeConfig::default()
        };
        let inst = Instance::start(&llm, sqlite(&dir), bounded).await;
        let client = client();
        let resp = post(&client, &inst).await;
        let conversation = conversation_of(&resp);
        let events = sse_of(resp).await;
        assert_eq!(
            sse_client::text(&events),
            PARTS.concat(),
            "the client got it all"
        );
        let resp = resume(&client, &inst, &conversation, None, Some("0")).await;
        assert_eq!(resp.status(), 410);
        assert_eq!(json_of(resp).await["error"]["code"], "resume_expired");
        let bytes = ResumeConfig {
            max_bytes: 50,
            ..ResumeConfig::default()
        };
        let dir = temp_dir();
        let inst = Instance::start(&llm, sqlite(&dir), bytes).await;
        let resp = post(&client, &inst).await;
        let conversation = conversation_of(&resp);
        sse_of(resp).await;
        let resp = resume(&client, &inst, &conversation, None, Some("0")).await;
        assert_eq!(resp.status(), 410, "CHAT_RESUME_MAX_BYTES");
    })
    .await;
}
