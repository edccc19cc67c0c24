//! What every outbound call (Statens vegvesen, the LLM provider) shares: the HTTP client
//! (reqwest over rustls with the `ring` provider, built only when first needed so `health` and
//! cold starts never pay for TLS set-up), backoff with jitter ([`backoff`]), the server's
//! requested delay ([`retry_after`]), capped body reads ([`body`]), redaction of key-like text
//! in anything an upstream sends back ([`redact`]), error chains for logs, and the rule that
//! upstream URLs use HTTPS ([`check_upstream_url`]).

pub mod backoff;
pub mod body;
pub mod redact;
pub mod retry_after;

use std::net::IpAddr;
use std::sync::Once;
use std::time::Duration;

use crate::config::{ConfigError, Env, VarSpec, var};

/// Read with every upstream URL (`OPENAI_BASE_URL`, `VEGVESEN_ENDPOINT`); listed in
/// [`crate::vehicle::VARIABLES`], which every function with an upstream reads.
pub const ALLOW_PLAIN_HTTP_UPSTREAMS: VarSpec = var(
    "ALLOW_PLAIN_HTTP_UPSTREAMS",
    "0",
    "`1`: allow `http://` upstream URLs to hosts other than loopback (127.0.0.0/8, ::1, localhost); \
     keys and answers then cross the network unencrypted",
);

/// Checks an upstream URL read from `var`: `https://` anywhere, `http://` only to a loopback
/// host (a local model server, a test fake) unless `ALLOW_PLAIN_HTTP_UPSTREAMS` is true.
///
/// # Errors
/// Not an http(s) URL with a host, or plain HTTP to another host without the opt-in; the
/// error names `var` and, for plain HTTP, the opt-in variable.
pub fn check_upstream_url(env: &Env, var: &'static str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| ConfigError::new(var, "must be an http(s) URL"))?;
    if parsed.scheme() == "https" || is_loopback(&parsed) {
        return Ok(());
    }
    if plain_http_allowed(env)? {
        tracing::warn!(
            var,
            "plain HTTP to a host that is not loopback, allowed by ALLOW_PLAIN_HTTP_UPSTREAMS"
        );
        return Ok(());
    }
    Err(ConfigError::new(
        var,
        format!(
            "plain http:// is refused except to loopback (127.0.0.0/8, ::1, localhost): use \
             https://, or set {}=true to allow it",
            ALLOW_PLAIN_HTTP_UPSTREAMS.name
        ),
    ))
}

/// `ALLOW_PLAIN_HTTP_UPSTREAMS`: `1`/`true`/`yes` or `0`/`false`/`no`.
fn plain_http_allowed(env: &Env) -> Result<bool, ConfigError> {
    let var = &ALLOW_PLAIN_HTTP_UPSTREAMS;
    let raw = env.get(var.name).unwrap_or(var.default.describe());
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::new(var.name, "use 1/true or 0/false")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    // The URL parser has already normalised the host (`127.1` is `127.0.0.1`, IPv6 is
    // bracketed).
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

static PROVIDER: Once = Once::new();

/// A fresh pseudo-random number for retry jitter and ids that need spread, not secrecy: every
/// `RandomState` is keyed from per-process randomness and bumped per instance, so its hash of
/// the current instant differs each call. No `rand` crate needed.
pub fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::hash::RandomState::new().hash_one(std::time::Instant::now())
}

/// A client with the given connect timeout. Request timeouts are set per call by the caller,
/// since each upstream has its own budget.
///
/// Falls back to a default-configured client only if the builder fails, which with these
/// options happens only when the platform's root certificates cannot be loaded at all.
pub fn http_client(connect_timeout: Duration) -> reqwest::Client {
    PROVIDER.call_once(|| {
        // Already installed by someone else: theirs is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        // Never follow redirects: reqwest drops `Authorization` on a cross-host redirect but not
        // custom key headers such as `SVV-Authorization`, which would leak the key.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("elbatt-chatbot/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "HTTP client could not be configured; using defaults");
            reqwest::Client::new()
        })
}

/// An error with its causes, for logs: reqwest's own message ("error sending request") hides
/// them. Strip URLs that carry personal data (`reqwest::Error::without_url`) before calling.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, opt_in: Option<&str>) -> Result<(), ConfigError> {
        let env = match opt_in {
            Some(v) => Env::from_pairs([(ALLOW_PLAIN_HTTP_UPSTREAMS.name, v)]),
            None => Env::default(),
        };
        check_upstream_url(&env, "SOME_URL", url)
    }

    #[test]
    fn https_is_accepted_for_any_host() {
        assert_eq!(check("https://api.openai.com/v1", None), Ok(()));
        assert_eq!(check("https://10.0.0.5:8443/v1", None), Ok(()));
    }

    #[test]
    fn plain_http_to_loopback_is_accepted() {
        for url in [
            "http://localhost:11434/v1",
            "http://LOCALHOST/v1",
            "http://127.0.0.1:8080/enkeltoppslag/kjoretoydata",
            "http://127.9.8.7/",
            "http://[::1]:8000/v1",
        ] {
            assert_eq!(check(url, None), Ok(()), "{url}");
        }
    }

    #[test]
    fn plain_http_to_another_host_is_refused_naming_both_variables() {
        for url in [
            "http://api.openai.com/v1",
            "http://10.0.0.5/v1",
            "http://[::2]/v1",
            "http://localhost.evil.example/v1",
            "http://127.0.0.1.nip.io/v1",
        ] {
            let err = check(url, None).unwrap_err();
            assert_eq!(err.var, "SOME_URL", "{url}");
            assert!(
                err.to_string().contains("ALLOW_PLAIN_HTTP_UPSTREAMS"),
                "{url}: {err}"
            );
            assert_eq!(check(url, Some("false")).unwrap_err().var, "SOME_URL");
        }
    }

    #[test]
    fn plain_http_to_another_host_is_accepted_with_the_opt_in() {
        assert_eq!(
            check("http://ollama.internal:11434/v1", Some("true")),
            Ok(())
        );
        assert_eq!(check("http://192.168.1.20:11434/v1", Some("1")), Ok(()));
        assert_eq!(
            check("http://x.example/v1", Some("maybe")).unwrap_err().var,
            "ALLOW_PLAIN_HTTP_UPSTREAMS",
            "a malformed opt-in names itself"
        );
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        for url in [
            "ftp://example.com/x",
            "api.openai.com",
            "http://",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                check(url, Some("true")).unwrap_err().var,
                "SOME_URL",
                "{url}"
            );
        }
    }
}
