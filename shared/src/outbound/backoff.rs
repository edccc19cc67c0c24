//! How long to wait before retrying an upstream call.

use std::time::Duration;

/// "Full jitter": a random wait between zero and `base × 2^attempt`, never above `cap`, so
/// instances that failed together do not retry together (the AWS Architecture Blog's
/// "Exponential Backoff And Jitter" compares the variants; full jitter spreads load best).
pub fn full_jitter(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(super::random_u64() % ceiling_nanos.saturating_add(1))
}

/// The server's own delay when it gave one (capped), else [`full_jitter`].
pub fn delay(requested: Option<Duration>, base: Duration, attempt: u32, cap: Duration) -> Duration {
    match requested {
        Some(d) => d.min(cap),
        None => full_jitter(base, attempt, cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_is_random_below_a_doubling_capped_ceiling() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(5);
        for attempt in 0..4 {
            let ceiling = base * 2u32.pow(attempt);
            let waits: Vec<Duration> = (0..50).map(|_| full_jitter(base, attempt, cap)).collect();
            assert!(
                waits.iter().all(|wait| *wait <= ceiling),
                "{attempt}: {waits:?}"
            );
            assert!(
                waits.iter().any(|wait| *wait != waits[0]),
                "jittered: {waits:?}"
            );
        }
        assert!(full_jitter(base, 40, cap) <= cap);
        assert!(full_jitter(Duration::MAX, u32::MAX, cap) <= cap);
        assert_eq!(full_jitter(Duration::ZERO, 3, cap), Duration::ZERO);
    }

    #[test]
    fn a_requested_delay_wins_but_is_capped() {
        let cap = Duration::from_secs(8);
        let base = Duration::from_millis(500);
        assert_eq!(
            delay(Some(Duration::from_secs(2)), base, 0, cap),
            Duration::from_secs(2)
        );
        assert_eq!(delay(Some(Duration::from_secs(60)), base, 0, cap), cap);
        assert!(delay(None, base, 1, cap) <= Duration::from_secs(1));
    }
}
