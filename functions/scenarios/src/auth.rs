//! Who may write scenarios: the admin token (`Authorization: Bearer …`) for every write, and the
//! edit token (`X-Edit-Token`) on top of it for a published scenario.
//!
//! Tokens are kept only as their SHA-256 digests, and a presented token is digested and compared
//! with [`constant_time_eq`] (the `subtle` crate's `ConstantTimeEq`): the time a comparison takes
//! depends neither on how many leading bytes match nor on the configured token's length (both
//! digests are 32 bytes). The sibling system compared its edit token with `===` and switched the
//! lock off when the token was unset; here an unset token never means "no lock": no admin token
//! refuses every write, no edit token leaves published scenarios unchangeable.

use elbatt::config::{ConfigError, Env, VarSpec, secret};
use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

pub const ADMIN_TOKEN: VarSpec = secret(
    "ADMIN_TOKEN",
    "bearer token every write to `/api/scenarios` needs (`Authorization: Bearer …`; at least 16 characters); unset: writes answer 403 `admin_disabled`, reads stay open",
);
pub const PUBLISHED_EDIT_TOKEN: VarSpec = secret(
    "PUBLISHED_EDIT_TOKEN",
    "`X-Edit-Token` that, with the admin token, lets `PUT`/`DELETE` change a scenario tagged `published` (at least 16 characters); unset: published scenarios cannot be changed at all",
);

/// Every variable this module reads.
pub const VARIABLES: &[VarSpec] = &[ADMIN_TOKEN, PUBLISHED_EDIT_TOKEN];

/// The shortest token accepted at start: a short token is guessable whatever the comparison.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Equality of two byte strings in time that depends only on their lengths, never on where
/// they differ. Callers compare fixed-length digests, so the length reveals nothing either.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A configured token, as its digest. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

impl Token {
    /// # Errors
    /// The variable is set but shorter than [`MIN_TOKEN_CHARS`].
    pub fn from_env(env: &Env, var: &VarSpec) -> Result<Option<Token>, ConfigError> {
        let Some(secret) = env.secret(var.name) else {
            return Ok(None);
        };
        if secret.expose().chars().count() < MIN_TOKEN_CHARS {
            return Err(ConfigError::new(
                var.name,
                format!("must be at least {MIN_TOKEN_CHARS} characters (or unset)"),
            ));
        }
        Ok(Some(Token::new(secret.expose().as_bytes())))
    }

    pub fn new(token: &[u8]) -> Token {
        Token {
            digest: sha256(token),
        }
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(&sha256(presented), &self.digest)
    }
}

/// The tokens, read once at start.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub admin: Option<Token>,
    pub edit: Option<Token>,
}

impl Tokens {
    /// # Errors
    /// A token is set but too short.
    pub fn from_env(env: &Env) -> Result<Tokens, ConfigError> {
        Ok(Tokens {
            admin: Token::from_env(env, &ADMIN_TOKEN)?,
            edit: Token::from_env(env, &PUBLISHED_EDIT_TOKEN)?,
        })
    }
}

/// Why a write was refused before it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `ADMIN_TOKEN` is unset: no writes at all (`403 admin_disabled`).
    Disabled,
    /// No bearer token (`401` with `WWW-Authenticate: Bearer`).
    Missing,
    /// A token that is not the admin token (`403`).
    Wrong,
}

/// Checks the `Authorization` header of a write.
///
/// # Errors
/// See [`Refusal`].
pub fn check_admin(tokens: &Tokens, authorization: Option<&[u8]>) -> Result<(), Refusal> {
    let Some(admin) = &tokens.admin else {
        return Err(Refusal::Disabled);
    };
    let presented = authorization
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, rest) = v.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
        })
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::Missing)?;
    if admin.matches(presented) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

/// Whether the `X-Edit-Token` header unlocks a published scenario (never, without a
/// configured edit token).
pub fn unlocks(tokens: &Tokens, edit_token: Option<&[u8]>) -> bool {
    match (&tokens.edit, edit_token.map(<[u8]>::trim_ascii)) {
        (Some(edit), Some(presented)) if !presented.is_empty() => edit.matches(presented),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::hint::black_box;
    use std::time::Instant;

    use super::*;

    const ADMIN: &str = "admin-token-0123456789";

    fn tokens(admin: Option<&str>, edit: Option<&str>) -> Tokens {
        Tokens {
            admin: admin.map(|t| Token::new(t.as_bytes())),
            edit: edit.map(|t| Token::new(t.as_bytes())),
        }
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        let t = Token::new(b"0123456789abcdef");
        assert!(t.matches(b"0123456789abcdef"));
        assert!(!t.matches(b"0123456789abcdeF"));
        assert!(!t.matches(b"0123456789abcdef "));
        assert!(!t.matches(b""));
    }

    #[test]
    fn the_admin_header_is_a_bearer_token() {
        let t = tokens(Some(ADMIN), None);
        let bearer = format!("Bearer {ADMIN}");
        assert_eq!(check_admin(&t, Some(bearer.as_bytes())), Ok(()));
        let lower = format!("bearer  {ADMIN} ");
        assert_eq!(check_admin(&t, Some(lower.as_bytes())), Ok(()));
        assert_eq!(check_admin(&t, None), Err(Refusal::Missing));
        assert_eq!(check_admin(&t, Some(b"Bearer ")), Err(Refusal::Missing));
        assert_eq!(
            check_admin(&t, Some(format!("Basic {ADMIN}").as_bytes())),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check_admin(&t, Some(b"Bearer admin-token-0123456788")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check_admin(&tokens(None, Some(ADMIN)), Some(bearer.as_bytes())),
            Err(Refusal::Disabled),
            "no admin token: no writes, whatever is sent"
        );
    }

    #[test]
    fn without_an_edit_token_nothing_unlocks() {
        let none = tokens(Some(ADMIN), None);
        assert!(!unlocks(&none, Some(b"")));
        assert!(!unlocks(&none, Some(b"anything")));
        assert!(!unlocks(&none, None));
        let set = tokens(Some(ADMIN), Some("edit-token-0123456789"));
        assert!(unlocks(&set, Some(b"edit-token-0123456789")));
        assert!(!unlocks(&set, Some(b"edit-token-012345678")));
        assert!(!unlocks(&set, None));
    }

    #[test]
    fn short_tokens_fail_at_start_naming_the_variable_and_debug_shows_none() {
        let env = Env::from_pairs([("ADMIN_TOKEN", "short")]);
        assert_eq!(Tokens::from_env(&env).unwrap_err().var, "ADMIN_TOKEN");
        let env = Env::from_pairs([("PUBLISHED_EDIT_TOKEN", "short")]);
        assert_eq!(
            Tokens::from_env(&env).unwrap_err().var,
            "PUBLISHED_EDIT_TOKEN"
        );
        let env = Env::from_pairs([("ADMIN_TOKEN", ""), ("PUBLISHED_EDIT_TOKEN", " ")]);
        let t = Tokens::from_env(&env).unwrap();
        assert!(t.admin.is_none() && t.edit.is_none(), "empty is unset");
        let env = Env::from_pairs([("ADMIN_TOKEN", ADMIN)]);
        let t = Tokens::from_env(&env).unwrap();
        assert!(!format!("{t:?}").contains("admin-token"), "{t:?}");
    }

    /// The time of `BATCH` calls of `f(a, b)`, in nanoseconds.
    fn sample_ns(f: fn(&[u8], &[u8]) -> bool, a: &[u8], b: &[u8]) -> f64 {
        const BATCH: usize = 8;
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f(black_box(a), black_box(b)));
        }
        start.elapsed().as_nanos() as f64
    }

    fn median(mut samples: Vec<f64>) -> f64 {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    }

    /// How much slower comparing two inputs that differ only in their last byte is than two that
    /// differ in their first: about 1 for a constant-time routine, large for an early exit.
    fn position_ratio(f: fn(&[u8], &[u8]) -> bool) -> f64 {
        const ROUNDS: usize = 101;
        let secret = vec![0x5a_u8; 32 * 1024];
        let mut first = secret.clone();
        first[0] ^= 1;
        let mut last = secret.clone();
        *last.last_mut().unwrap() ^= 1;
        // The two sides' samples alternate (in alternating order), so that a machine loaded by
        // other tests slows both alike instead of whichever side ran during the load; medians
        // drop bursts, and the best of three ratios is kept (noise only makes one side slower).
        (0..3)
            .map(|_| {
                let (mut early, mut late) = (Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    if round % 2 == 0 {
                        early.push(sample_ns(f, &secret, &first));
                        late.push(sample_ns(f, &secret, &last));
                    } else {
                        late.push(sample_ns(f, &secret, &last));
                        early.push(sample_ns(f, &secret, &first));
                    }
                }
                let (early, late) = (median(early), median(late));
                late.max(early) / late.min(early).max(1.0)
            })
            .fold(f64::INFINITY, f64::min)
    }

    fn early_exit_eq(a: &[u8], b: &[u8]) -> bool {
        a == b
    }

    #[test]
    fn comparison_time_does_not_depend_on_where_the_inputs_differ() {
        let ct = position_ratio(constant_time_eq);
        // The harness itself can fail: an ordinary `==` (memcmp, which stops at the first
        // difference) shows a ratio far above the bound.
        let naive = position_ratio(early_exit_eq);
        // Shown with `--nocapture`: the numbers behind the verdict.
        eprintln!(
            "timing ratio (last-byte vs first-byte difference): constant_time_eq {ct:.2}, early exit {naive:.1}"
        );
        assert!(
            naive > 4.0,
            "the timing harness cannot see an early exit (ratio {naive:.2}); it proves nothing"
        );
        assert!(
            ct < 2.0,
            "constant_time_eq took {ct:.2}× as long depending on where the inputs differ (an early exit shows {naive:.1}×)"
        );
    }
}
