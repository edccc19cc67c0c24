//! Summaries of repeated measurements: median and spread (p10/p90, min/max) for a handful of runs,
//! p50/p99 for many requests.

/// Order statistics of a set of samples (any unit; the caller knows which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// `None` for no samples; NaNs are dropped (a measurement that produced none is not a zero).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(Summary {
            n,
            min: v[0],
            p10: quantile(&v, 0.10),
            p50: quantile(&v, 0.50),
            p90: quantile(&v, 0.90),
            p99: quantile(&v, 0.99),
            max: v[n - 1],
            mean: v.iter().sum::<f64>() / n as f64,
        })
    }

    /// `key=value` pairs with `prefix_` in front of each key, for the scripts to read.
    pub fn kv(&self, prefix: &str) -> String {
        format!(
            "{prefix}_n={} {prefix}_min={:.3} {prefix}_p10={:.3} {prefix}_p50={:.3} \
             {prefix}_p90={:.3} {prefix}_p99={:.3} {prefix}_max={:.3} {prefix}_mean={:.3}",
            self.n, self.min, self.p10, self.p50, self.p90, self.p99, self.max, self.mean
        )
    }
}

/// Linear interpolation between closest ranks (the median of an even count is the mean of the
/// middle two, which is what people expect of "median").
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_sample() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.min, s.p50, s.max, s.n), (1.0, 3.0, 5.0, 3));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().p50, 2.5);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let samples: Vec<f64> = (0..=100).map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!((s.p10, s.p90, s.p99), (10.0, 90.0, 99.0));
        let s = Summary::of(&[0.0, 10.0]).unwrap();
        assert!((s.p10 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_samples_or_only_nans_give_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        assert_eq!(Summary::of(&[f64::NAN, 2.0]).unwrap().n, 1);
    }

    #[test]
    fn key_values_carry_the_prefix() {
        let kv = Summary::of(&[1.0, 2.0]).unwrap().kv("cold_ms");
        assert!(kv.starts_with("cold_ms_n=2 cold_ms_min=1.000"));
        assert!(kv.contains("cold_ms_p50=1.500"));
    }
}
