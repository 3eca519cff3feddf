//! Order statistics for figures: the one definition of a percentile that every figure uses —
//! the inbox's insights (median first reply), the benchmarks of `index-builder` and of
//! `tests/` — so a p50 means the same thing wherever it is printed.

/// The `p` percentile (0–1) of sorted samples by nearest rank: the smallest sample with at
/// least `p` of the samples at or below it. Always an observed sample, never an interpolation;
/// the median of an even count is the lower of the middle pair. `None` for no samples.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = (sorted.len() as f64 * p.clamp(0.0, 1.0)).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 0.5), Some(5));
        assert_eq!(percentile(&ten, 0.95), Some(10));
        assert_eq!(percentile(&ten, 0.9), Some(9));
        assert_eq!(percentile(&ten, 0.0), Some(1));
        assert_eq!(percentile(&ten, 1.0), Some(10));
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile::<f64>(&[], 0.5), None);
        // 100 samples: p95 is the 95th, p99 the 99th.
        let hundred: Vec<u32> = (1..=100).collect();
        assert_eq!((percentile(&hundred, 0.95), percentile(&hundred, 0.99)), (Some(95), Some(99)));
    }
}
