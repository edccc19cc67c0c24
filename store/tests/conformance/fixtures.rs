//! A fresh database per test: a SQLite file in a temporary directory, or a PostgreSQL schema
//! (`TEST_DATABASE_URL`), both removed when the fixture drops, even after a failure.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use elbatt_store::postgres::{PgOptions, Postgres};
use elbatt_store::sqlite::Sqlite;
use elbatt_store::{Backend, Mode};

/// What each conformance test gets.
pub(crate) trait Fixture: Sized + Send + Sync {
    /// Another fresh database of the same engine.
    fn another() -> impl Future<Output = Self> + Send;
    /// A new handle on this database, not migrated (as a new process would open it).
    fn backend(&self) -> impl Future<Output = Arc<dyn Backend>> + Send;
    /// Runs raw SQL.
    fn exec(&self, sql: &str) -> impl Future<Output = ()> + Send;
    /// Rows in `table`.
    fn count(&self, table: &str) -> impl Future<Output = i64> + Send;
    /// The store mode that opens this database.
    fn mode(&self) -> Mode;
}

#[derive(Debug)]
pub(crate) struct SqliteFixture {
    dir: PathBuf,
}

impl SqliteFixture {
    pub(crate) fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("elbatt-store-{}", uuid::Uuid::new_v4().simple()));
        SqliteFixture { dir }
    }

    fn path(&self) -> PathBuf {
        // A directory that does not exist yet: opening must create it.
        self.dir.join("nested").join("elbatt.db")
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path()).unwrap()
    }
}

impl Drop for SqliteFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture for SqliteFixture {
    async fn another() -> Self {
        SqliteFixture::new()
    }

    async fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(Sqlite::open(&self.path()).unwrap())
    }

    async fn exec(&self, sql: &str) {
        self.raw().execute_batch(sql).unwrap();
    }

    fn mode(&self) -> Mode {
        Mode::Sqlite(self.path())
    }

    async fn count(&self, table: &str) -> i64 {
        self.raw()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

/// How to run the PostgreSQL half, printed by every skipped test.
pub(crate) const HOW_TO_RUN: &str =
    "set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it";

#[derive(Debug)]
pub(crate) struct PgFixture {
    url: String,
    schema: String,
}

impl PgFixture {
    /// `None` (after saying so on stderr) when `TEST_DATABASE_URL` is unset.
    pub(crate) async fn new(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            // Straight to stderr: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {HOW_TO_RUN}");
            return None;
        };
        Some(Self::create(url).await)
    }

    async fn create(url: String) -> Self {
        let schema = format!("elbatt_test_{}", uuid::Uuid::new_v4().simple());
        let f = PgFixture { url, schema };
        f.admin(&format!("CREATE SCHEMA {}", f.schema)).await;
        f
    }

    fn options(&self) -> PgOptions {
        let mut o = PgOptions::from_url(&self.url, 4, Duration::from_secs(10)).unwrap();
        o.config.options(format!("-c search_path={}", self.schema));
        o
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = self
            .options()
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }

    async fn admin(&self, sql: &str) {
        let (client, conn) = PgOptions::from_url(&self.url, 1, Duration::from_secs(10))
            .unwrap()
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        // Drop is not async: a thread with its own runtime drops the schema.
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let o = PgOptions::from_url(&url, 1, Duration::from_secs(10)).unwrap();
                if let Ok((client, conn)) = o.config.connect(tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

impl Fixture for PgFixture {
    async fn another() -> Self {
        let url = std::env::var("TEST_DATABASE_URL").unwrap();
        PgFixture::create(url).await
    }

    async fn backend(&self) -> Arc<dyn Backend> {
        Arc::new(Postgres::new(self.options()).unwrap())
    }

    async fn exec(&self, sql: &str) {
        self.client().await.batch_execute(sql).await.unwrap();
    }

    fn mode(&self) -> Mode {
        Mode::Postgres(Box::new(self.options()))
    }

    async fn count(&self, table: &str) -> i64 {
        self.client()
            .await
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }
}
