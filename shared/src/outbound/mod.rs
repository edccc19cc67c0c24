//! What every outbound call (Statens vegvesen, the LLM provider) shares: the HTTP client
//! (reqwest over rustls with the `ring` provider, built only when first needed so `health` and
//! cold starts never pay for TLS set-up), backoff with jitter ([`backoff`]), the server's
//! requested delay ([`retry_after`]), capped body reads ([`body`]) and error chains for logs.

pub mod backoff;
pub mod body;
pub mod retry_after;

use std::sync::Once;
use std::time::Duration;

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
