//! The store's variables and the mode they choose (`docs/state.md`).

use std::path::PathBuf;
use std::time::Duration;

use elbatt::config::{ConfigError, Env, VarSpec, secret, var};

use crate::postgres::PgOptions;

pub const STORE: VarSpec = var(
    "STORE",
    "auto",
    "`auto`: PostgreSQL when `DATABASE_URL` is set, else SQLite in `DATABASE_PATH`; `memory`: in this process only (lost on restart, not shared: for a Functions zip without `DATABASE_URL`); `off`: no store (stateless chat, `/conversations` answers 503)",
);
pub const DATABASE_URL: VarSpec = secret(
    "DATABASE_URL",
    "`postgres://user:password@host:5432/db?sslmode=verify-full`: the shared store for more than one instance (TLS by rustls; `sslmode` `disable`, `prefer`, `require`, `verify-ca`, `verify-full` and `sslrootcert=<PEM file>` honoured, certificates always verified)",
);
pub const DATABASE_PATH: VarSpec = var(
    "DATABASE_PATH",
    "./data/elbatt.db",
    "the SQLite file when `DATABASE_URL` is unset (created with its directory; WAL); the container sets `/data/elbatt.db`",
);
pub const DATABASE_POOL_SIZE: VarSpec = var(
    "DATABASE_POOL_SIZE",
    "4",
    "PostgreSQL connections per instance (opened on demand, closed after 4 idle minutes)",
);
pub const DATABASE_CONNECT_TIMEOUT_SECS: VarSpec = var(
    "DATABASE_CONNECT_TIMEOUT_SECS",
    "10",
    "how long to wait for a PostgreSQL connection (Serverless SQL wakes in under 5 s)",
);
pub const CONVERSATION_RETENTION_DAYS: VarSpec = var(
    "CONVERSATION_RETENTION_DAYS",
    "30",
    "conversations untouched this many days are erased (at start, then hourly); `0` keeps them",
);

pub const VEGVESEN_DAILY_QUOTA: VarSpec = var(
    "VEGVESEN_DAILY_QUOTA",
    "45000",
    "Statens vegvesen calls per UTC day shared by every instance using the store (the key allows 50,000; 10 % margin); past it lookups answer 503 with Retry-After",
);

/// Every variable the store reads, for the runner's report and `docs/configuration.md`.
pub const VARIABLES: &[VarSpec] = &[
    STORE,
    DATABASE_URL,
    DATABASE_PATH,
    DATABASE_POOL_SIZE,
    DATABASE_CONNECT_TIMEOUT_SECS,
    CONVERSATION_RETENTION_DAYS,
    VEGVESEN_DAILY_QUOTA,
];

/// Which store runs.
#[derive(Debug, Clone)]
pub enum Mode {
    /// No store: chat is stateless, conversations are refused.
    Off,
    /// SQLite in this process's memory.
    Memory,
    /// SQLite in a file.
    Sqlite(PathBuf),
    /// PostgreSQL.
    Postgres(Box<PgOptions>),
}

impl Mode {
    /// Short name for logs and readiness.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Memory => "memory",
            Mode::Sqlite(_) => "sqlite",
            Mode::Postgres(_) => "postgres",
        }
    }

    /// What is in force and what does not hold in it, for the start-up report and the log.
    pub fn describe(&self) -> String {
        match self {
            Mode::Off => "off (STORE=off): chat is stateless (the client sends history), \
                          /conversations answers 503; limits are per instance"
                .to_owned(),
            Mode::Memory => "memory (STORE=memory): conversations last until this process \
                             stops and are not shared with other instances; limits are per \
                             instance"
                .to_owned(),
            Mode::Sqlite(path) => format!(
                "SQLite {} (WAL): conversations survive restarts on this disk; shared only \
                 by processes on the same machine",
                path.display()
            ),
            Mode::Postgres(o) => format!(
                "PostgreSQL {} (pool {}): conversations shared by every instance",
                o.config
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(h) => h.clone(),
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                o.pool_size
            ),
        }
    }
}

/// The store's settings, read once.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub mode: Mode,
    /// `None`: keep conversations forever.
    pub retention: Option<Duration>,
}

impl StoreConfig {
    /// # Errors
    /// A malformed variable, an unknown `STORE`, `DATABASE_URL` that is not `postgres://`.
    pub fn from_env(env: &Env) -> Result<StoreConfig, ConfigError> {
        let days: u32 = env.value(&CONVERSATION_RETENTION_DAYS)?;
        let retention = (days > 0).then(|| Duration::from_secs(u64::from(days) * 86_400));
        let store: String = env.value(&STORE)?;
        let explicit = store.to_ascii_lowercase();
        if matches!(explicit.as_str(), "memory" | "off") && env.get(DATABASE_URL.name).is_some() {
            tracing::warn!(
                "STORE={explicit} ignores DATABASE_URL: unset STORE (or set it to auto) to use PostgreSQL"
            );
        }
        let mode = match explicit.as_str() {
            "off" => Mode::Off,
            "memory" => Mode::Memory,
            "auto" => match env.get(DATABASE_URL.name) {
                Some(url) => {
                    let url = url.trim();
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                        return Err(ConfigError::new(
                            DATABASE_URL.name,
                            "must start with postgres:// (unset it to use SQLite)",
                        ));
                    }
                    let pool: usize = env.value(&DATABASE_POOL_SIZE)?;
                    let timeout = env.duration(&DATABASE_CONNECT_TIMEOUT_SECS)?;
                    let options = PgOptions::from_url(url, pool, timeout)
                        .map_err(|e| ConfigError::new(DATABASE_URL.name, e))?;
                    Mode::Postgres(Box::new(options))
                }
                None => Mode::Sqlite(PathBuf::from(env.value::<String>(&DATABASE_PATH)?)),
            },
            _ => {
                return Err(ConfigError::new(STORE.name, "must be auto, memory or off"));
            }
        };
        Ok(StoreConfig { mode, retention })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mode(pairs: &[(&str, &str)]) -> Result<Mode, ConfigError> {
        StoreConfig::from_env(&Env::from_pairs(pairs.iter().copied())).map(|c| c.mode)
    }

    #[test]
    fn database_url_chooses_postgres_else_sqlite_at_database_path() {
        assert!(
            matches!(mode(&[]).unwrap(), Mode::Sqlite(p) if p.as_path() == std::path::Path::new("./data/elbatt.db"))
        );
        assert!(
            matches!(mode(&[("DATABASE_PATH", "/data/x.db")]).unwrap(), Mode::Sqlite(p) if p.as_path() == std::path::Path::new("/data/x.db"))
        );
        assert!(matches!(
            mode(&[("DATABASE_URL", "postgres://u@h/d?sslmode=require")]).unwrap(),
            Mode::Postgres(_)
        ));
        assert!(matches!(
            mode(&[("STORE", "memory")]).unwrap(),
            Mode::Memory
        ));
        assert!(matches!(
            mode(&[("STORE", "off"), ("DATABASE_URL", "postgres://h/d")]).unwrap(),
            Mode::Off
        ));
    }

    #[test]
    fn malformed_settings_name_their_variable() {
        assert_eq!(mode(&[("STORE", "redis")]).unwrap_err().var, "STORE");
        assert_eq!(
            mode(&[("DATABASE_URL", "mysql://h/d")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert_eq!(
            mode(&[("CONVERSATION_RETENTION_DAYS", "-1")])
                .unwrap_err()
                .var,
            "CONVERSATION_RETENTION_DAYS"
        );
        let retention =
            StoreConfig::from_env(&Env::from_pairs([("CONVERSATION_RETENTION_DAYS", "0")]))
                .unwrap()
                .retention;
        assert_eq!(retention, None);
    }
}
