//! Per-client rate limiting for `/chat` (governor's GCRA, keyed by client IP).
//!
//! Each serverless instance limits on its own (Scaleway runs up to 50): this guards a burst
//! from one client, not a global quota.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::RateLimit;

/// The limiter plus how to find the client's address.
#[derive(Debug)]
pub struct Limiter {
    limiter: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>,
    trusted_hops: usize,
    checks: AtomicU64,
}

impl Limiter {
    pub fn new(cfg: &RateLimit) -> Self {
        let per_minute = NonZeroU32::new(cfg.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        Limiter {
            limiter: RateLimiter::hashmap(Quota::per_minute(per_minute).allow_burst(burst)),
            trusted_hops: cfg.trusted_hops,
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok` if `ip` may send a request now, else the seconds to wait.
    ///
    /// # Errors
    /// The client is over its rate; the value is the `Retry-After` in whole seconds (≥ 1).
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        // Forget idle clients now and then so the map stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
            .map_err(|s| s.max(1))
    }

    /// The client's IP from `X-Forwarded-For`: the entry just left of the `trusted_hops`
    /// right-most ones (which our own ingress and proxies appended), clamped to the first.
    /// Left-most entries are whatever the client sent, so they are never trusted blindly.
    pub fn client_ip(&self, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let entries: Vec<&str> = forwarded_for?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let idx = entries.len().saturating_sub(1 + self.trusted_hops);
        entries.get(idx)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32, hops: usize) -> Limiter {
        Limiter::new(&RateLimit {
            per_minute,
            burst,
            trusted_hops: hops,
        })
    }

    #[test]
    fn a_burst_over_the_limit_is_refused_with_a_wait() {
        let l = limiter(6, 2, 0);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(l.check(ip).is_ok());
        assert!(l.check(ip).is_ok());
        let wait = l.check(ip).unwrap_err();
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(
            l.check("203.0.113.2".parse().unwrap()).is_ok(),
            "other clients are not affected"
        );
    }

    #[test]
    fn the_client_ip_skips_trusted_hops_and_ignores_spoofed_left_entries() {
        let l = limiter(1, 1, 1);
        // client-sent spoof, the client as seen by the ingress, the ingress as seen by us
        assert_eq!(
            l.client_ip(Some("1.2.3.4, 203.0.113.7, 10.0.0.1")),
            "203.0.113.7".parse().ok()
        );
        assert_eq!(l.client_ip(Some("127.0.0.1")), "127.0.0.1".parse().ok());
        assert_eq!(l.client_ip(Some("garbage")), None);
        assert_eq!(l.client_ip(None), None);
        let direct = limiter(1, 1, 0);
        assert_eq!(
            direct.client_ip(Some("1.2.3.4, 203.0.113.7")),
            "203.0.113.7".parse().ok()
        );
    }
}
