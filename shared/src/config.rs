//! Typed configuration, read once per process from the environment (and, for the local runner,
//! a `.env` file).
//!
//! Every variable the backend understands is listed once in [`VARIABLES`]: the runner's start-up
//! report and the README's configuration table are both checked against it. Functions read only
//! the variables they need, so a missing chat key never stops `health` from starting.
//! Secrets are wrapped in [`Secret`], whose `Debug` and `Display` never show the value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// One configuration variable: its name, default and whether its value is secret.
#[derive(Debug, Clone, Copy)]
pub struct VarSpec {
    pub name: &'static str,
    /// The default as shown to people; `None` when unset means "feature off" or "required".
    pub default: Option<&'static str>,
    pub secret: bool,
    /// Which functions read it.
    pub used_by: &'static str,
    pub description: &'static str,
}

const fn var(
    name: &'static str,
    default: Option<&'static str>,
    secret: bool,
    used_by: &'static str,
    description: &'static str,
) -> VarSpec {
    VarSpec {
        name,
        default,
        secret,
        used_by,
        description,
    }
}

/// Every variable the backend reads. Keep in step with the README's configuration table (a
/// test in this module checks that the README names each one).
pub const VARIABLES: &[VarSpec] = &[
    var(
        "PORT",
        Some("8080 (functions), 8000 (runner)"),
        false,
        "all",
        "TCP port of the HTTP server",
    ),
    var(
        "HOST",
        Some("0.0.0.0 (functions), 127.0.0.1 (runner)"),
        false,
        "all",
        "address to bind",
    ),
    var(
        "LOG_FORMAT",
        Some("text"),
        false,
        "all",
        "`text` for people, `json` for Scaleway Cockpit",
    ),
    var(
        "RUST_LOG",
        Some("info"),
        false,
        "all",
        "log filter (tracing-subscriber syntax)",
    ),
    var(
        "SHUTDOWN_GRACE_SECS",
        Some("10"),
        false,
        "all",
        "how long SIGTERM waits for in-flight requests",
    ),
    var(
        "ALLOWED_ORIGINS",
        Some("https://elbatt.no,https://www.elbatt.no"),
        false,
        "all",
        "CORS allow-list, comma-separated",
    ),
    var(
        "VEGVESEN_ENDPOINT",
        Some(DEFAULT_VEGVESEN_ENDPOINT),
        false,
        "plate-lookup, chat",
        "Statens vegvesen enkeltoppslag URL",
    ),
    var(
        "VEGVESEN_API_KEY",
        None,
        true,
        "plate-lookup, chat",
        "Statens vegvesen API key; unset = plate lookup off (503)",
    ),
    var(
        "VEGVESEN_TIMEOUT_SECS",
        Some("10"),
        false,
        "plate-lookup, chat",
        "per-attempt timeout for Vegvesen calls",
    ),
    var(
        "PLATE_CACHE_TTL_SECS",
        Some("86400"),
        false,
        "plate-lookup, chat",
        "how long a found vehicle is cached",
    ),
    var(
        "PLATE_CACHE_NOT_FOUND_TTL_SECS",
        Some("600"),
        false,
        "plate-lookup, chat",
        "how long a not-found answer is cached",
    ),
    var(
        "PLATE_CACHE_CAPACITY",
        Some("10000"),
        false,
        "plate-lookup, chat",
        "maximum cached plates per instance",
    ),
    var(
        "LLM_PROVIDER",
        Some("openai"),
        false,
        "chat",
        "preset: openai, scaleway, openrouter, gemini, ollama",
    ),
    var(
        "OPENAI_BASE_URL",
        Some("the preset's URL"),
        false,
        "chat",
        "OpenAI-compatible base URL (…/v1)",
    ),
    var(
        "OPENAI_API_KEY",
        None,
        true,
        "chat",
        "the provider's API key; unset = offline mode (built-in FAQ)",
    ),
    var(
        "OPENAI_MODEL",
        Some("gpt-4o-mini (openai preset)"),
        false,
        "chat",
        "default model",
    ),
    var(
        "LLM_MODELS_INCLUDE",
        Some("OPENAI_MODEL + fallbacks"),
        false,
        "chat",
        "models a request may ask for",
    ),
    var(
        "LLM_FALLBACK_MODELS",
        None,
        false,
        "chat",
        "models tried in order if the default fails before answering",
    ),
    var(
        "LLM_TOKEN_LIMIT_FIELD",
        Some("max_completion_tokens (openai), max_tokens (others)"),
        false,
        "chat",
        "which field caps output tokens",
    ),
    var(
        "LLM_STREAM_USAGE",
        Some("true"),
        false,
        "chat",
        "send stream_options.include_usage",
    ),
    var(
        "LLM_CONNECT_TIMEOUT_SECS",
        Some("5"),
        false,
        "chat",
        "connect timeout",
    ),
    var(
        "LLM_FIRST_TOKEN_TIMEOUT_SECS",
        Some("20"),
        false,
        "chat",
        "time to the first token",
    ),
    var(
        "LLM_IDLE_TIMEOUT_SECS",
        Some("30"),
        false,
        "chat",
        "longest silence inside a stream",
    ),
    var(
        "CHAT_TURN_TIMEOUT_SECS",
        Some("90"),
        false,
        "chat",
        "whole turn, tool rounds included",
    ),
    var(
        "LLM_MAX_RETRIES",
        Some("2"),
        false,
        "chat",
        "retries before the first token",
    ),
    var(
        "LLM_RETRY_MAX_DELAY_SECS",
        Some("8"),
        false,
        "chat",
        "cap on backoff and Retry-After",
    ),
    var(
        "CHAT_MAX_OUTPUT_TOKENS",
        Some("800"),
        false,
        "chat",
        "output-token cap per model call",
    ),
    var(
        "CHAT_DAILY_TOKEN_BUDGET",
        None,
        false,
        "chat",
        "tokens per day per instance before offline mode",
    ),
    var(
        "CHAT_SYSTEM_PROMPT_FILE",
        None,
        false,
        "chat",
        "file replacing the built-in system prompt",
    ),
    var(
        "CHAT_MAX_BODY_BYTES",
        Some("32768"),
        false,
        "chat",
        "request body limit",
    ),
    var(
        "CHAT_MAX_MESSAGE_CHARS",
        Some("2000"),
        false,
        "chat",
        "message length limit",
    ),
    var(
        "CHAT_MAX_HISTORY_TURNS",
        Some("20"),
        false,
        "chat",
        "history items limit",
    ),
    var(
        "CHAT_MAX_HISTORY_CHARS",
        Some("16000"),
        false,
        "chat",
        "history size limit",
    ),
    var(
        "CHAT_RATE_LIMIT_PER_MINUTE",
        Some("20"),
        false,
        "chat",
        "requests per client IP per minute",
    ),
    var(
        "CHAT_RATE_LIMIT_BURST",
        Some("5"),
        false,
        "chat",
        "burst allowance",
    ),
    var(
        "CHAT_TRUSTED_PROXY_HOPS",
        Some("1"),
        false,
        "chat",
        "right-most X-Forwarded-For entries added by trusted proxies",
    ),
    var(
        "OPENROUTER_REFERER",
        Some("https://elbatt.no"),
        false,
        "chat",
        "OpenRouter attribution (HTTP-Referer)",
    ),
    var(
        "OPENROUTER_TITLE",
        Some("Elbatt Chatbot"),
        false,
        "chat",
        "OpenRouter attribution (X-Title)",
    ),
];

/// The real enkeltoppslag endpoint (docs/upstreams/vegvesen.md#endpoint-and-key: the
/// `api.vegvesen.no/vehicles` of older deployment notes is a placeholder that does not exist).
pub const DEFAULT_VEGVESEN_ENDPOINT: &str =
    "https://akfell-datautlevering.atlas.vegvesen.no/enkeltoppslag/kjoretoydata";

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

    /// A secret, if set.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(|v| Secret::new(v.trim().to_owned()))
    }

    /// A comma-separated list, trimmed, empty items dropped.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
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
            host: env.parse_or("HOST", default_host)?,
            port: env.parse_or("PORT", default_port)?,
            shutdown_grace: env.secs_or("SHUTDOWN_GRACE_SECS", Duration::from_secs(10))?,
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
    pub const DEFAULT_ORIGINS: [&'static str; 2] = ["https://elbatt.no", "https://www.elbatt.no"];

    /// # Errors
    /// An origin that is not `scheme://host[:port]` (a trailing slash or path never matches a
    /// browser's `Origin`, so it is refused at start rather than silently never matching).
    pub fn from_env(env: &Env, allow_localhost: bool) -> Result<Self, ConfigError> {
        let origins = env.list("ALLOWED_ORIGINS").unwrap_or_else(|| {
            Self::DEFAULT_ORIGINS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
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

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../../README.md");
        for v in VARIABLES {
            assert!(
                readme.contains(&format!("`{}`", v.name)),
                "README lacks `{}`",
                v.name
            );
        }
    }
}
