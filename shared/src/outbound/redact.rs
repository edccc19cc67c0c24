//! Redaction of key-like text in what upstreams send back, before it is logged or kept.
//!
//! Providers echo parts of the key they were sent ("Incorrect API key provided:
//! sk-proj-****abcd"), proxies echo headers, and a body may carry anything. Every piece of
//! upstream text that reaches a log line or an error value goes through [`redact`] first.
//!
//! What is replaced by `[redacted]`:
//! - the configured secrets themselves (registered by the clients that send them, see
//!   [`register_secret`]), any 8 characters of one, and a word ending in one's last 4+
//!   characters (how providers show a masked key);
//! - the word after `Bearer`, `Basic` and `Apikey`, and the value after labels such as
//!   `api_key=`, `"token":` or `Authorization:`;
//! - words that look like keys: `sk-…`/`sk_…`, masked words (`****`, `…abcd`), UUIDs, and long
//!   runs of base64 or hex that mix letters and digits.
//!
//! Model names (`mistral-small-3.2-24b-instruct-2506`), status words and ordinary prose pass
//! unchanged: a word is key-like only if one dash- or underscore-separated part of it is long
//! and mixes letters and digits.

use std::sync::{OnceLock, RwLock};

/// What replaces a redacted word.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are placeholders (the local preset's `local`), not keys: matching
/// them would redact ordinary words.
const MIN_SECRET_CHARS: usize = 8;
/// Any window of this many characters of a secret counts as the secret.
const WINDOW_CHARS: usize = 8;
/// A masked key shows at least this many of its last characters.
const TAIL_CHARS: usize = 4;
/// One part of a word (between dashes or underscores) this long that mixes letters and digits
/// is a key, token or id.
const KEY_PART_CHARS: usize = 16;

/// Schemes after which the next word (after a space) is a credential: `Bearer x`, `Apikey x`.
const SCHEME_WORDS: [&str; 3] = ["bearer", "basic", "apikey"];
/// Labels whose value (after `:` or `=`) is a credential: `api_key=x`, `"token": "x"`,
/// `SVV-Authorization: Apikey x`. A label may carry a prefix (`x-api-key`, `svv-authorization`).
const LABEL_WORDS: [&str; 8] = [
    "key",
    "apikey",
    "api_key",
    "api-key",
    "token",
    "secret",
    "password",
    "authorization",
];

/// What the previous word says about the next one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// After a scheme word: the next word after a space is the credential.
    Scheme,
    /// After a label: the next word after `:` or `=` is the credential (or a scheme word).
    Label,
}

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remembers a configured secret (an API key) so [`redact`] removes it, and its fragments,
/// from upstream text. The clients that send a key register it when they are built; a
/// process-wide list because any upstream's text may echo any key. Short placeholders are
/// ignored.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_CHARS {
        return;
    }
    // A poisoned lock only means a panic elsewhere while registering: the list is still valid.
    let mut secrets = registry().write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// `text` with every registered secret and every key-like word replaced by `[redacted]`.
pub fn redact(text: &str) -> String {
    let secrets = registry().read().unwrap_or_else(|e| e.into_inner());
    redact_with(text, &secrets)
}

/// [`redact`] with an explicit list of secrets instead of the registered ones.
pub fn redact_with<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(|s| s.as_ref().trim())
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut expect = Expect::Nothing;
    let mut rest = text;
    while let Some(start) = rest.find(is_word_char) {
        let (gap, from) = rest.split_at(start);
        let end = from.find(|c: char| !is_word_char(c)).unwrap_or(from.len());
        let (word, after) = from.split_at(end);
        out.push_str(&scrub_gap(gap, &secrets));
        let follows = match expect {
            Expect::Scheme => gap.len() <= 3 && gap.chars().all(char::is_whitespace),
            Expect::Label => {
                gap.len() <= 6
                    && gap.contains([':', '='])
                    && gap
                        .chars()
                        .all(|c| c.is_whitespace() || matches!(c, ':' | '=' | '"' | '\''))
            }
            Expect::Nothing => false,
        };
        expect = Expect::Nothing;
        // `key=value` is one word here: split at the first `=` so the label is seen.
        match word.split_once('=') {
            Some((label, value)) if is_label(label) || is_scheme(label) => {
                out.push_str(label);
                out.push('=');
                if value.is_empty() {
                    expect = Expect::Label;
                } else {
                    out.push_str(REDACTED);
                }
            }
            _ if follows && is_scheme(word) => {
                out.push_str(word);
                expect = Expect::Scheme;
            }
            _ if follows || is_key_like(word, &secrets) => out.push_str(REDACTED),
            _ => {
                out.push_str(word);
                if is_scheme(word) {
                    expect = Expect::Scheme;
                } else if is_label(word) {
                    expect = Expect::Label;
                }
            }
        }
        rest = after;
    }
    out.push_str(&scrub_gap(rest, &secrets));
    out
}

/// Characters of a "word": what keys, tokens and masked keys are made of.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '*' | '.' | '+' | '/' | '=' | '~' | '…')
}

fn is_scheme(word: &str) -> bool {
    SCHEME_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w))
}

fn is_label(word: &str) -> bool {
    let word = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_lowercase();
    LABEL_WORDS.iter().any(|w| {
        word.strip_suffix(w)
            .is_some_and(|prefix| prefix.is_empty() || prefix.ends_with(['-', '_']))
    })
}

/// A secret can hide inside punctuation too (`key:"…"` with unusual quoting): remove whole
/// secrets from the text between words.
fn scrub_gap(gap: &str, secrets: &[&str]) -> String {
    let mut gap = gap.to_owned();
    for secret in secrets {
        if gap.contains(secret) {
            gap = gap.replace(secret, REDACTED);
        }
    }
    gap
}

fn is_key_like(word: &str, secrets: &[&str]) -> bool {
    let bare = word.trim_end_matches(['.', '=']).trim_start_matches('.');
    if bare.is_empty() {
        return false;
    }
    if secrets.iter().any(|s| names_secret(bare, s)) {
        return true;
    }
    let lower = bare.to_ascii_lowercase();
    // OpenAI-style keys (`sk-`, `sk-proj-`, `sk-or-v1-`) and masked keys.
    if (lower.starts_with("sk-") || lower.starts_with("sk_")) && bare.chars().count() >= 6 {
        return true;
    }
    if bare.contains("***") || (bare.contains("...") || bare.contains('…')) && has_digit(bare) {
        return true;
    }
    if is_uuid(bare) {
        return true;
    }
    // Long base64/hex-ish runs: one part (between separators) long and mixing letters and
    // digits. Model names and words have short parts or no digits.
    bare.split(['-', '_', '.'])
        .any(|part| part.chars().count() >= KEY_PART_CHARS && has_digit(part) && has_letter(part))
        || (bare.chars().count() >= 32
            && has_digit(bare)
            && has_letter(bare)
            && !bare.contains(['-', '_', '.']))
}

/// Whether `word` contains 8 characters of `secret` in a row, or ends in its last 4 or more
/// (a masked key).
fn names_secret(word: &str, secret: &str) -> bool {
    if word.contains(secret) {
        return true;
    }
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = chars[chars.len() - TAIL_CHARS..].iter().collect();
    if word.ends_with(&tail) && word.chars().count() >= TAIL_CHARS {
        return true;
    }
    chars
        .windows(WINDOW_CHARS)
        .any(|w| word.contains(&w.iter().collect::<String>()))
}

fn is_uuid(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn has_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

fn has_letter(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Split so that no key-shaped literal is tracked.
    const OPENAI: &str = concat!("sk", "-proj-Zq81nXv0aLm3Tt7rPq2w");
    const VEGVESEN: &str = "5f0c2a9e-77b1-4d2e-9c3a-1e8f6b4d0a7c";

    fn r(text: &str) -> String {
        redact_with(text, &[OPENAI, VEGVESEN])
    }

    #[test]
    fn openai_echo_of_a_masked_key_is_redacted() {
        let out = r(
            "Incorrect API key provided: sk-proj-****Pq2w. You can find your API key at https://platform.openai.com/account/api-keys.",
        );
        assert!(!out.contains("Pq2w"), "{out}");
        assert!(
            out.starts_with("Incorrect API key provided: [redacted]"),
            "{out}"
        );
        assert!(out.contains("platform.openai.com"), "{out}");
    }

    #[test]
    fn a_configured_secret_and_its_fragments_are_redacted_wherever_they_appear() {
        for text in [
            format!("key {OPENAI} refused"),
            format!("bad key \"{VEGVESEN}\""),
            format!("key ending in {}", &OPENAI[OPENAI.len() - 6..]),
            format!("prefix {}…", &VEGVESEN[..13]),
            format!("(x{OPENAI}x)"),
        ] {
            let out = r(&text);
            assert!(!out.contains("Pq2w") && !out.contains("Zq81nXv0"), "{out}");
            assert!(
                !out.contains("1e8f6b4d0a7c") && !out.contains("5f0c2a9e"),
                "{out}"
            );
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn credentials_after_their_label_are_redacted() {
        for (text, hidden) in [
            ("Authorization: Bearer abc.def.ghi", "abc.def"),
            ("SVV-Authorization: Apikey 1234abcd", "1234abcd"),
            ("https://x.example/v1?api_key=hunter22&x=1", "hunter22"),
            ("{\"token\": \"t0ps3cret\"}", "t0ps3cret"),
            ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ] {
            let out = r(text);
            assert!(!out.contains(hidden), "{text} -> {out}");
        }
    }

    #[test]
    fn key_like_words_are_redacted() {
        for word in [
            "sk-abcdef",
            "sk_live_51HxYz",
            "123e4567-e89b-12d3-a456-426614174000",
            concat!("AIza", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"), // split: no key-shaped literal
            "0123456789abcdef0123456789abcdef",
            "ghp_AbCdEf0123456789AbCdEf0123456789",
        ] {
            assert_eq!(
                r(&format!("got {word} here")),
                "got [redacted] here",
                "{word}"
            );
        }
    }

    #[test]
    fn ordinary_error_text_passes_unchanged() {
        for text in [
            "The model `mistral-small-3.2-24b-instruct-2506` does not exist.",
            "Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000.",
            "UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE",
            "502 Bad Gateway",
            "Resource has been exhausted (e.g. check quota).",
            "This model's maximum context length is 128000 tokens.",
        ] {
            assert_eq!(r(text), text);
        }
    }

    #[test]
    fn short_placeholders_are_not_secrets() {
        register_secret("local");
        assert_eq!(redact("a local server"), "a local server");
        assert_eq!(redact_with("a local server", &["local"]), "a local server");
    }

    #[test]
    fn registered_secrets_are_redacted_by_redact() {
        let secret = "registered-9f8e7d6c5b4a";
        register_secret(secret);
        register_secret(secret);
        let out = redact(&format!("echo: {secret} / …5b4a"));
        assert!(!out.contains("9f8e7d6c") && !out.contains("5b4a"), "{out}");
    }
}
