//! The delay an upstream asks for before the next call: `Retry-After` (RFC 9110 §10.2.3) and
//! the `retry-after-ms` header some LLM providers add.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// `retry-after-ms` (milliseconds, possibly fractional) first, then `retry-after` as seconds
/// (fractional seconds tolerated: some providers send them) or an HTTP-date in any of the three
/// forms RFC 9110 makes recipients accept. A date in the past means "now". Negative,
/// non-finite and unparseable values are ignored, so a bad header never turns into a wait.
pub fn requested_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if let Some(delay) = header("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| seconds(ms / 1000.0))
    {
        return Some(delay);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A delay as `Retry-After` delay-seconds for our own clients: whole seconds, rounded up so a
/// client never comes back early.
pub fn header_value(delay: Duration) -> String {
    let whole = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    whole.to_string()
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs >= 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        map
    }

    fn delay(pairs: &[(&'static str, &str)]) -> Option<Duration> {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        requested_delay(&headers(pairs), now)
    }

    #[test]
    fn delay_seconds_may_be_whole_or_fractional() {
        assert_eq!(delay(&[("retry-after", "0")]), Some(Duration::ZERO));
        assert_eq!(
            delay(&[("retry-after", " 120 ")]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            delay(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn retry_after_ms_wins_and_a_bad_one_falls_back() {
        assert_eq!(
            delay(&[("retry-after-ms", "250.5"), ("retry-after", "9")]),
            Some(Duration::from_micros(250_500))
        );
        assert_eq!(
            delay(&[("retry-after-ms", "soon"), ("retry-after", "9")]),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            delay(&[("retry-after-ms", "-1"), ("retry-after", "9")]),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn http_dates_in_all_three_forms_are_measured_from_now() {
        for date in [
            "Sun, 06 Nov 1994 08:50:37 GMT",
            "Sunday, 06-Nov-94 08:50:37 GMT",
            "Sun Nov  6 08:50:37 1994",
        ] {
            assert_eq!(
                delay(&[("retry-after", date)]),
                Some(Duration::from_secs(60)),
                "{date}"
            );
        }
        assert_eq!(
            delay(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            Some(Duration::ZERO),
            "a past date means now"
        );
    }

    #[test]
    fn nonsense_is_ignored() {
        for bad in [
            "",
            "-5",
            "tomorrow",
            "inf",
            "NaN",
            "1e400",
            "Sun, 06 Nov 1994 08:49:37 CET",
        ] {
            assert_eq!(delay(&[("retry-after", bad)]), None, "{bad:?}");
        }
        assert_eq!(delay(&[]), None);
    }

    #[test]
    fn our_header_rounds_up_to_whole_seconds() {
        assert_eq!(header_value(Duration::ZERO), "0");
        assert_eq!(header_value(Duration::from_secs(3600)), "3600");
        assert_eq!(header_value(Duration::from_millis(1001)), "2");
    }
}
