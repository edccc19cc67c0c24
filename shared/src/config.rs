//! Typed configuration, read once per process from the environment (and, for the local runner,
//! a `.env` file).
//!
//! Each crate declares the variables it reads as [`VarSpec`] constants (this module: how to
//! listen, log and answer browsers; `elbatt::vehicle`: Statens vegvesen; the chat crate: the
//! model). A default is written once, in its `VarSpec`, and parsed from there. The runner's
//! start-up report and `docs/configuration.md` are built from those lists. Functions read only
//! the variables they need, so a missing chat key never stops `health` from starting.
//! Secrets are wrapped in [`Secret`], whose `Debug` and `Display` never show the value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// One configuration variable: its name, default and whether its value is secret.
///
/// Each crate declares the variables it reads as constants of this type next to the code that
/// reads them, and lists them in a `VARIABLES` slice: the runner's start-up report and
/// `docs/configuration.md` (generated, checked by a test) are built from those lists.
#[derive(Debug, Clone, Copy)]
pub struct VarSpec {
    pub name: &'static str,
    pub default: Fallback,
    pub secret: bool,
    pub description: &'static str,
}

/// What a variable means when it is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This value, parsed by the code exactly as a set value would be: the one place the
    /// default is written.
    Value(&'static str),
    /// Worked out at start from other settings (e.g. the provider preset's URL).
    Derived(&'static str),
    /// The feature is off, or (for keys) runs without it; the description says what happens.
    Off,
}

impl Fallback {
    /// As shown to people in the start-up report and the docs.
    pub fn describe(&self) -> &'static str {
        match self {
            Fallback::Value(v) | Fallback::Derived(v) => v,
            Fallback::Off => "unset",
        }
    }
}

/// A variable with a default value (see [`Fallback::Value`]).
pub const fn var(name: &'static str, default: &'static str, description: &'static str) -> VarSpec {
    VarSpec {
        name,
        default: Fallback::Value(default),
        secret: false,
        description,
    }
}

/// A variable whose default is worked out at start (see [`Fallback::Derived`]).
pub const fn derived(
    name: &'static str,
    default: &'static str,
    description: &'static str,
) -> VarSpec {
    VarSpec {
        name,
        default: Fallback::Derived(default),
        secret: false,
        description,
    }
}

/// A variable that is off when unset.
pub const fn optional(name: &'static str, description: &'static str) -> VarSpec {
    VarSpec {
        name,
        default: Fallback::Off,
        secret: false,
        description,
    }
}

/// A secret (never printed: the report shows only set/unset).
pub const fn secret(name: &'static str, description: &'static str) -> VarSpec {
    VarSpec {
        name,
        default: Fallback::Off,
        secret: true,
        description,
    }
}

pub const PORT: VarSpec = derived(
    "PORT",
    "8080 (functions), 8000 (runner)",
    "TCP port of the HTTP server",
);
pub const HOST: VarSpec = derived(
    "HOST",
    "0.0.0.0 (functions), 127.0.0.1 (runner)",
    "address to bind",
);
pub const LOG_FORMAT: VarSpec = var(
    "LOG_FORMAT",
    "text",
    "`text` for people; `json` for flat JSON lines (`level`, `message`, `request_id`, …) for Scaleway Cockpit",
);
pub const RUST_LOG: VarSpec = var(
    "RUST_LOG",
    "info",
    "log filter: a level, or `target=level` pairs separated by commas",
);
pub const SHUTDOWN_GRACE_SECS: VarSpec = var(
    "SHUTDOWN_GRACE_SECS",
    "10",
    "how long SIGTERM waits for in-flight requests",
);
pub const REQUEST_BODY_TIMEOUT_SECS: VarSpec = var(
    "REQUEST_BODY_TIMEOUT_SECS",
    "15",
    "how long a client may take to send a request body once its head is in (then 408)",
);
pub const RESPONSE_WRITE_TIMEOUT_SECS: VarSpec = var(
    "RESPONSE_WRITE_TIMEOUT_SECS",
    "30",
    "how long a client may leave our response unread before it is cut off (streams included)",
);
pub const ALLOWED_ORIGINS: VarSpec = var(
    "ALLOWED_ORIGINS",
    "https://elbatt.no,https://www.elbatt.no",
    "CORS allow-list, comma-separated",
);

/// What every function binary and the runner read: how to listen, log and answer browsers.
pub const VARIABLES: &[VarSpec] = &[
    PORT,
    HOST,
    LOG_FORMAT,
    RUST_LOG,
    SHUTDOWN_GRACE_SECS,
    REQUEST_BODY_TIMEOUT_SECS,
    RESPONSE_WRITE_TIMEOUT_SECS,
    ALLOWED_ORIGINS,
];

/// A Markdown table of `vars` (name, default, secret, meaning) for `docs/configuration.md`.
pub fn markdown_table(vars: &[VarSpec]) -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for v in vars {
        let default = match v.default {
            Fallback::Value(d) => format!("`{d}`"),
            Fallback::Derived(d) => d.to_owned(),
            Fallback::Off if v.secret => "unset (secret)".to_owned(),
            Fallback::Off => "unset".to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name,
            default.replace('|', "\\|"),
            v.description.replace('|', "\\|")
        ));
    }
    out
}

/// Where a variable's value came from, for the runner's start-up report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Environment,
    DotEnv,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Environment => "environment",
            Origin::DotEnv => ".env",
            Origin::Default => "default",
        })
    }
}

/// A snapshot of the variables this process can see, with where each came from.
///
/// Handlers never read `std::env`; they get typed config built from an `Env` once at start.
/// Tests build an `Env` from pairs instead of mutating the process environment.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, (String, Origin)>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show names and origins only.
        f.debug_map()
            .entries(self.vars.iter().map(|(k, (_, o))| (k, o)))
            .finish()
    }
}

impl Env {
    /// The process environment. Variables that are not valid UTF-8 are skipped.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .map(|(k, v)| (k, (v, Origin::Environment)))
            .collect();
        Env { vars }
    }

    /// Pairs given by a test or a caller, recorded as coming from the environment.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), (v.into(), Origin::Environment)))
            .collect();
        Env { vars }
    }

    /// Adds the variables of a `.env` file that the environment does not already set (the real
    /// environment wins). A missing file is not an error.
    ///
    /// # Errors
    /// A file that exists but cannot be read or parsed.
    pub fn with_dotenv(mut self, path: &Path) -> Result<Self, ConfigError> {
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(e) if e.not_found() => return Ok(self),
            Err(e) => return Err(ConfigError::new(".env", e.to_string())),
        };
        for item in iter {
            let (k, v) = item.map_err(|e| ConfigError::new(".env", e.to_string()))?;
            self.vars.entry(k).or_insert((v, Origin::DotEnv));
        }
        Ok(self)
    }

    /// The raw value, treating an empty string as unset (platform UIs often leave empty values).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    pub fn origin(&self, name: &str) -> Origin {
        match self.vars.get(name) {
            Some((v, o)) if !v.trim().is_empty() => *o,
            _ => Origin::Default,
        }
    }

    /// Parses `name` if set, else returns `default`.
    ///
    /// # Errors
    /// The variable is set but does not parse; the error names the variable.
    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| {
                ConfigError::new(name, format!("cannot parse {:?}: {e}", shorten(raw)))
            }),
        }
    }

    /// A duration given in whole or fractional seconds.
    ///
    /// # Errors
    /// Not a non-negative finite number.
    pub fn secs_or(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let secs: f64 = self.parse_or(name, default.as_secs_f64())?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| ConfigError::new(name, "must be a non-negative number of seconds"))
    }

    /// `var` parsed if set, else its [`Fallback::Value`] parsed the same way.
    ///
    /// # Errors
    /// The variable is set but does not parse, or it has no default value and is unset (a
    /// programming error: use [`Env::opt`] for those).
    pub fn value<T>(&self, var: &VarSpec) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = match (self.get(var.name), var.default) {
            (Some(raw), _) => raw,
            (None, Fallback::Value(default)) => default,
            (None, _) => return Err(ConfigError::new(var.name, "must be set")),
        };
        raw.trim().parse().map_err(|e: T::Err| {
            ConfigError::new(var.name, format!("cannot parse {:?}: {e}", shorten(raw)))
        })
    }

    /// `var` parsed if set, `None` if unset.
    ///
    /// # Errors
    /// The variable is set but does not parse.
    pub fn opt<T>(&self, var: &VarSpec) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.get(var.name).map(|_| self.value(var)).transpose()
    }

    /// `var` as a duration in whole or fractional seconds.
    ///
    /// # Errors
    /// Not a non-negative finite number.
    pub fn duration(&self, var: &VarSpec) -> Result<Duration, ConfigError> {
        let secs: f64 = self.value(var)?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| ConfigError::new(var.name, "must be a non-negative number of seconds"))
    }

    /// A secret, if set.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(|v| Secret::new(v.trim().to_owned()))
    }

    /// A comma-separated list, trimmed, empty items dropped; unset means the default's list
    /// (empty for a variable without one).
    pub fn list(&self, var: &VarSpec) -> Vec<String> {
        let raw = match (self.get(var.name), var.default) {
            (Some(raw), _) => raw,
            (None, Fallback::Value(default)) => default,
            (None, _) => "",
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Config values echoed in errors are user-supplied: keep messages short.
fn shorten(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// A configuration value that is missing or malformed. Its message always names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            var,
            problem: problem.into(),
        }
    }
}

/// A secret value (API key). `Debug` and `Display` print `[redacted]`; only [`Secret::expose`]
/// gives the value, so every place that sends a key is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the HTTP server of a function binary (or the runner) listens and stops.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: std::net::IpAddr,
    pub port: u16,
    pub shutdown_grace: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
}

impl ServerConfig {
    /// # Errors
    /// `HOST`, `PORT` or `SHUTDOWN_GRACE_SECS` set but malformed.
    pub fn from_env(
        env: &Env,
        default_host: std::net::IpAddr,
        default_port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(ServerConfig {
            host: env.parse_or(HOST.name, default_host)?,
            port: env.parse_or(PORT.name, default_port)?,
            shutdown_grace: env.duration(&SHUTDOWN_GRACE_SECS)?,
            body_timeout: env.duration(&REQUEST_BODY_TIMEOUT_SECS)?,
            write_timeout: env.duration(&RESPONSE_WRITE_TIMEOUT_SECS)?,
        })
    }
}

/// The CORS allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// Exact origins, e.g. `https://elbatt.no`.
    pub origins: Vec<String>,
    /// Also allow `http://localhost:<any port>` and `http://127.0.0.1:<any port>` (the runner only).
    pub allow_localhost: bool,
}

impl CorsConfig {
    /// # Errors
    /// An origin that is not `scheme://host[:port]` (a trailing slash or path never matches a
    /// browser's `Origin`, so it is refused at start rather than silently never matching).
    pub fn from_env(env: &Env, allow_localhost: bool) -> Result<Self, ConfigError> {
        let origins = env.list(&ALLOWED_ORIGINS);
        for o in &origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/'));
            if !ok && o != "*" {
                return Err(ConfigError::new(
                    "ALLOWED_ORIGINS",
                    format!("{:?} is not an origin like https://elbatt.no", shorten(o)),
                ));
            }
        }
        Ok(CorsConfig {
            origins,
            allow_localhost,
        })
    }

    pub fn allows(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o == origin || o == "*") {
            return true;
        }
        self.allow_localhost && is_local_origin(origin)
    }
}

fn is_local_origin(origin: &str) -> bool {
    ["http://localhost", "http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|base| {
            origin.strip_prefix(base).is_some_and(|rest| {
                rest.is_empty()
                    || rest
                        .strip_prefix(':')
                        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_shows_in_debug_or_display() {
        let s = Secret::new("sk-very-secret".into());
        assert!(!format!("{s:?}").contains("very"));
        assert!(!format!("{s}").contains("very"));
        let env = Env::from_pairs([("OPENAI_API_KEY", "sk-very-secret")]);
        assert!(!format!("{env:?}").contains("very"));
    }

    #[test]
    fn a_malformed_value_names_the_variable() {
        let env = Env::from_pairs([("PORT", "eighty")]);
        let err = ServerConfig::from_env(&env, [0, 0, 0, 0].into(), 8080).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert!(err.to_string().contains("PORT"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("PORT", "  ")]);
        assert_eq!(env.get("PORT"), None);
        assert_eq!(env.origin("PORT"), Origin::Default);
        assert_eq!(
            ServerConfig::from_env(&env, [0, 0, 0, 0].into(), 8080)
                .unwrap()
                .port,
            8080
        );
    }

    #[test]
    fn dotenv_fills_gaps_but_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("elbatt-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, "PORT=9000\nLOG_FORMAT=json\n# comment\n").unwrap();
        let env = Env::from_pairs([("PORT", "7000")])
            .with_dotenv(&path)
            .unwrap();
        assert_eq!(env.get("PORT"), Some("7000"));
        assert_eq!(env.origin("PORT"), Origin::Environment);
        assert_eq!(env.get("LOG_FORMAT"), Some("json"));
        assert_eq!(env.origin("LOG_FORMAT"), Origin::DotEnv);
        let missing = Env::default().with_dotenv(&dir.join("nope")).unwrap();
        assert_eq!(missing.get("PORT"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cors_allows_listed_origins_and_localhost_only_when_asked() {
        let cors = CorsConfig::from_env(&Env::default(), false).unwrap();
        assert!(cors.allows("https://elbatt.no"));
        assert!(cors.allows("https://www.elbatt.no"));
        assert!(!cors.allows("https://evil.example"));
        assert!(!cors.allows("http://localhost:3000"));
        let local = CorsConfig::from_env(&Env::default(), true).unwrap();
        assert!(local.allows("http://localhost:3000"));
        assert!(local.allows("http://127.0.0.1:8000"));
        assert!(!local.allows("http://localhost.evil.example"));
        assert!(!local.allows("http://localhost:80x"));
    }

    #[test]
    fn cors_refuses_origins_with_a_path() {
        let env = Env::from_pairs([("ALLOWED_ORIGINS", "https://elbatt.no/")]);
        assert_eq!(
            CorsConfig::from_env(&env, false).unwrap_err().var,
            "ALLOWED_ORIGINS"
        );
    }
}
