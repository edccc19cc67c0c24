//! Who the client is, and how often it may call: the per-client rate limit in front of the
//! costly functions (chat's model calls, plate-lookup's Statens vegvesen calls).
//!
//! The client is found in `X-Forwarded-For`: the entry just left of the `TRUSTED_PROXY_HOPS`
//! right-most ones (those our own ingress and proxies appended; everything further left is
//! whatever the client sent). The runner, the container and the Lambda adapter all append the
//! hop they saw, so the count means the same on every platform. Failing that, the limit fails
//! closed: every client whose address cannot be read shares one bucket.
//!
//! An IPv6 client owns a whole /64 (a home or phone network gets at least that), so IPv6 keys
//! are /64 prefixes; keyed per address, one client would have 2^64 buckets.
//!
//! Two lines of defence: governor's GCRA in process (a flood never reaches anything else), then,
//! where a store is configured, a fixed one-minute window every instance shares
//! ([`SharedWindow`], implemented by the store), so N instances do not give a client N limits.
//! When the store cannot answer, the instance's own limit still holds (see `docs/hardening.md`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use http::HeaderMap;

use crate::config::{ConfigError, Env, VarSpec, var};

pub const TRUSTED_PROXY_HOPS: VarSpec = var(
    "TRUSTED_PROXY_HOPS",
    "1",
    "right-most X-Forwarded-For entries added by trusted proxies (1: Scaleway's ingress or \
     nginx; 0: exposed directly); `CHAT_TRUSTED_PROXY_HOPS` is read when this is unset",
);
/// The earlier, chat-only name of [`TRUSTED_PROXY_HOPS`], still honoured.
const CHAT_TRUSTED_PROXY_HOPS: &str = "CHAT_TRUSTED_PROXY_HOPS";

/// What the client identity reads (chat and plate-lookup).
pub const VARIABLES: &[VarSpec] = &[TRUSTED_PROXY_HOPS];

/// The bucket a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    /// The /64 network of an IPv6 client (IPv4-mapped addresses count as IPv4).
    V6Net([u8; 8]),
    /// No usable address: all such clients share this one bucket.
    Unknown,
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.octets()),
                None => {
                    let mut net = [0u8; 8];
                    net.copy_from_slice(&v6.octets()[..8]);
                    ClientKey::V6Net(net)
                }
            },
        }
    }
}

/// How to find the client in a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIdentity {
    pub trusted_hops: usize,
}

impl ClientIdentity {
    /// # Errors
    /// `TRUSTED_PROXY_HOPS` (or the older `CHAT_TRUSTED_PROXY_HOPS`) is not a whole number.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let trusted_hops = match (
            env.get(TRUSTED_PROXY_HOPS.name),
            env.get(CHAT_TRUSTED_PROXY_HOPS),
        ) {
            (None, Some(_)) => env.parse_or(CHAT_TRUSTED_PROXY_HOPS, 1)?,
            _ => env.value(&TRUSTED_PROXY_HOPS)?,
        };
        Ok(ClientIdentity { trusted_hops })
    }

    /// The client's bucket: every `X-Forwarded-For` line, in order, as one list.
    pub fn key(&self, headers: &HeaderMap) -> ClientKey {
        let mut entries: Vec<&str> = Vec::new();
        for line in headers.get_all(crate::http::X_FORWARDED_FOR) {
            let Ok(line) = line.to_str() else {
                // A line that is not text hides how many hops it held: fail closed.
                return ClientKey::Unknown;
            };
            entries.extend(line.split(',').map(str::trim).filter(|s| !s.is_empty()));
        }
        let idx = entries.len().saturating_sub(1 + self.trusted_hops);
        let chosen = entries.get(idx).and_then(|e| parse_entry(e));
        // The shape only (never an address): operators check the hop count after a deploy.
        tracing::debug!(
            entries = entries.len(),
            trusted_hops = self.trusted_hops,
            chosen = idx,
            usable = chosen.is_some(),
            "x-forwarded-for chain"
        );
        chosen.map_or(ClientKey::Unknown, ClientKey::from)
    }
}

/// An address as proxies write it: bare, `[v6]`, or with a port (`1.2.3.4:5678`, `[v6]:5678`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// A per-minute count every instance shares (the store implements it).
pub trait SharedWindow: Send + Sync + std::fmt::Debug {
    /// Counts one request of `key` in the minute starting at `minute_ms` (Unix milliseconds):
    /// `Some(true)` when it fits under `cap`, `Some(false)` when the key is over it this minute
    /// (nothing counted), `None` when the shared store could not answer.
    fn hit<'a>(
        &'a self,
        key: &'a str,
        minute_ms: i64,
        cap: u32,
    ) -> crate::http::BoxFuture<'a, Option<bool>>;
}

/// Requests per minute with a burst, per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

/// A per-client limiter (governor's GCRA).
#[derive(Debug)]
pub struct Limiter {
    limiter: RateLimiter<ClientKey, HashMapStateStore<ClientKey>, DefaultClock>,
    checks: AtomicU64,
    /// The shared window: its name (e.g. `chat`), its per-minute cap and where it lives.
    shared: Option<(&'static str, u32, std::sync::Arc<dyn SharedWindow>)>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Self {
        let per_minute = NonZeroU32::new(rate.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Limiter {
            limiter: RateLimiter::hashmap(Quota::per_minute(per_minute).allow_burst(burst)),
            checks: AtomicU64::new(0),
            shared: None,
        }
    }

    /// Also counts every request in `window` under `name`, at most `rate.per_minute` a client a
    /// minute across all instances.
    #[must_use]
    pub fn with_shared(
        mut self,
        name: &'static str,
        rate: Rate,
        window: Option<std::sync::Arc<dyn SharedWindow>>,
    ) -> Self {
        self.shared = window.map(|w| (name, rate.per_minute.max(1), w));
        self
    }

    /// [`Limiter::check`], then the shared window when there is one.
    ///
    /// # Errors
    /// The client is over its rate here or across instances; the value is the `Retry-After`
    /// in whole seconds (≥ 1).
    pub async fn check_everywhere(&self, client: ClientKey) -> Result<(), u64> {
        self.check(client)?;
        let Some((name, cap, window)) = &self.shared else {
            return Ok(());
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let minute_ms = now_ms - now_ms.rem_euclid(60_000);
        match window.hit(&shared_key(name, client), minute_ms, *cap).await {
            Some(false) => {
                let left_ms = minute_ms + 60_000 - now_ms;
                Err(u64::try_from(left_ms).unwrap_or(60).div_ceil(1000).max(1))
            }
            // Over nothing, or the store is away: the instance's own limit stands alone (the
            // store logs its outage once, not per request).
            Some(true) | None => Ok(()),
        }
    }

    /// `Ok` if `client` may go on now.
    ///
    /// # Errors
    /// The client is over its rate; the value is the `Retry-After` in whole seconds (≥ 1).
    pub fn check(&self, client: ClientKey) -> Result<(), u64> {
        // Forget idle clients now and then so the map stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// The shared counter's key: the limit's name and a hash of the client, so the store keeps no
/// address (the rows are also swept two minutes after their window).
fn shared_key(name: &str, client: ClientKey) -> String {
    use std::hash::{Hash, Hasher};
    // A fixed-key hash: every instance must derive the same key for the same client.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client.hash(&mut h);
    format!("rl:{name}:{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn key(hops: usize, lines: &[&str]) -> ClientKey {
        ClientIdentity { trusted_hops: hops }.key(&headers(lines))
    }

    fn ip(s: &str) -> ClientKey {
        ClientKey::from(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn the_client_is_left_of_the_trusted_hops_and_spoofed_entries_are_ignored() {
        // client-sent spoof, the client as seen by the ingress, the ingress as seen by us
        assert_eq!(
            key(1, &["1.2.3.4, 203.0.113.7, 10.0.0.1"]),
            ip("203.0.113.7")
        );
        assert_eq!(key(0, &["1.2.3.4, 203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            key(1, &["127.0.0.1"]),
            ip("127.0.0.1"),
            "clamped to the first"
        );
    }

    #[test]
    fn every_header_line_counts_as_one_list() {
        // With only the first line read, the client would be keyed by the spoofed entry.
        assert_eq!(
            key(1, &["6.6.6.6", "203.0.113.7, 10.0.0.1"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn an_unusable_entry_fails_closed_into_one_shared_bucket() {
        assert_eq!(key(1, &["garbage, 10.0.0.1"]), ClientKey::Unknown);
        assert_eq!(key(1, &[]), ClientKey::Unknown);
        let limiter = Limiter::new(Rate {
            per_minute: 1,
            burst: 1,
        });
        assert!(limiter.check(key(1, &["junk-a, 10.0.0.1"])).is_ok());
        assert!(
            limiter.check(key(1, &["junk-b, 10.0.0.1"])).is_err(),
            "two unreadable clients share the bucket"
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(key(1, &["[2001:db8::1]:443, 10.0.0.1"]), ip("2001:db8::5"));
        assert_eq!(key(1, &["203.0.113.7:5000, 10.0.0.1"]), ip("203.0.113.7"));
    }

    #[test]
    fn a_burst_over_the_limit_is_refused_with_a_wait_and_others_go_on() {
        let l = Limiter::new(Rate {
            per_minute: 6,
            burst: 2,
        });
        let a = ip("203.0.113.1");
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        let wait = l.check(a).unwrap_err();
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(l.check(ip("203.0.113.2")).is_ok());
    }

    #[test]
    fn the_hop_count_comes_from_the_new_name_or_the_old_one() {
        let hops = |pairs: &[(&str, &str)]| {
            ClientIdentity::from_env(&Env::from_pairs(pairs.iter().copied()))
                .unwrap()
                .trusted_hops
        };
        assert_eq!(hops(&[]), 1);
        assert_eq!(hops(&[("CHAT_TRUSTED_PROXY_HOPS", "0")]), 0);
        assert_eq!(
            hops(&[
                ("TRUSTED_PROXY_HOPS", "2"),
                ("CHAT_TRUSTED_PROXY_HOPS", "0")
            ]),
            2
        );
    }

    /// A store stand-in: one count per key and minute, shared by whoever holds it.
    #[derive(Debug, Default)]
    struct Window(
        std::sync::Mutex<std::collections::HashMap<(String, i64), u32>>,
        bool,
    );

    impl SharedWindow for Window {
        fn hit<'a>(
            &'a self,
            key: &'a str,
            minute_ms: i64,
            cap: u32,
        ) -> crate::http::BoxFuture<'a, Option<bool>> {
            Box::pin(async move {
                if self.1 {
                    return None; // the store is away
                }
                let mut counts = self.0.lock().unwrap();
                let n = counts.entry((key.to_owned(), minute_ms)).or_default();
                if *n >= cap {
                    return Some(false);
                }
                *n += 1;
                Some(true)
            })
        }
    }

    #[tokio::test]
    async fn instances_sharing_a_window_keep_one_limit_and_fall_back_to_their_own() {
        let rate = Rate {
            per_minute: 3,
            burst: 3,
        };
        let window: std::sync::Arc<dyn SharedWindow> = std::sync::Arc::new(Window::default());
        let one = Limiter::new(rate).with_shared("t", rate, Some(std::sync::Arc::clone(&window)));
        let two = Limiter::new(rate).with_shared("t", rate, Some(window));
        let client = ip("203.0.113.5");
        assert!(one.check_everywhere(client).await.is_ok());
        assert!(two.check_everywhere(client).await.is_ok());
        assert!(one.check_everywhere(client).await.is_ok());
        let wait = two.check_everywhere(client).await.unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(
            two.check_everywhere(ip("203.0.113.6")).await.is_ok(),
            "others go on"
        );
        // The store away: each instance's own limit still holds, and only it.
        let away: std::sync::Arc<dyn SharedWindow> =
            std::sync::Arc::new(Window(Default::default(), true));
        let alone = Limiter::new(rate).with_shared("t", rate, Some(away));
        for _ in 0..3 {
            assert!(alone.check_everywhere(client).await.is_ok());
        }
        assert!(alone.check_everywhere(client).await.is_err());
    }

    #[test]
    fn the_shared_key_names_no_address() {
        let key = shared_key("chat", ip("203.0.113.5"));
        assert!(key.starts_with("rl:chat:") && !key.contains("203"), "{key}");
        assert_eq!(
            key,
            shared_key("chat", ip("203.0.113.5")),
            "the same on every instance"
        );
    }
}
