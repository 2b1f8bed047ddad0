//! One-way latency: how long datagrams took from the sender's clock to the
//! receiver's, summarised as a median (p50) and a maximum.
//!
//! Keeping every sample would grow without bound at 100,000 datagrams a
//! second, so samples go into a histogram of fixed size instead: exact below
//! 16 µs, and within 1/16 (about 6%) above, like HdrHistogram. That is far
//! finer than the noise of a shared machine.

/// Linear steps within each power of two: the histogram's precision.
const SUB_BUCKETS: u64 = 16;
/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 4;
/// Latencies are capped here (2^36 µs is about 19 hours): a datagram that
/// claims to be older comes from a clock that disagrees with ours, and more
/// buckets would only cost memory.
const MAX_MICROS: u64 = (1 << 36) - 1;
/// Buckets needed to cover 0..=[`MAX_MICROS`].
const BUCKETS: usize = (SUB_BUCKETS + (36 - SUB_BITS as u64) * SUB_BUCKETS) as usize;

/// A fixed-size latency histogram, in microseconds.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    /// Allocated on the first sample: senders of plain datagrams (nc) have no
    /// send time, and need no histogram.
    counts: Vec<u64>,
    samples: u64,
    max: u64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram::default()
    }

    /// Adds one latency, in microseconds.
    pub fn record(&mut self, micros: u64) {
        let micros = micros.min(MAX_MICROS);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[bucket_of(micros)] += 1;
        self.samples += 1;
        self.max = self.max.max(micros);
    }

    /// How many latencies were recorded.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The median, to within the histogram's precision; `None` if empty.
    pub fn p50(&self) -> Option<u64> {
        self.quantile(0.5)
    }

    /// The largest latency recorded, exactly; `None` if empty.
    pub fn max(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.max)
    }

    /// The value below which a fraction `q` of the samples fall.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.samples as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The middle of the bucket, but never above what was seen.
                return Some(middle_of(bucket).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// Which bucket a value falls in.
fn bucket_of(v: u64) -> usize {
    if v < SUB_BUCKETS {
        return v as usize;
    }
    let power = 63 - v.leading_zeros(); // floor(log2 v), at least SUB_BITS
    let shift = power - SUB_BITS;
    let sub = (v >> shift) - SUB_BUCKETS;
    (SUB_BUCKETS + (shift as u64) * SUB_BUCKETS + sub) as usize
}

/// The middle value of a bucket.
fn middle_of(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
    let sub = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
    let low = (SUB_BUCKETS + sub) << shift;
    let width = 1u64 << shift;
    low + width / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_figures() {
        let h = LatencyHistogram::new();
        assert_eq!((h.p50(), h.max(), h.samples()), (None, None, 0));
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = LatencyHistogram::new();
        for v in [3, 5, 7, 9, 11] {
            h.record(v);
        }
        assert_eq!(h.p50(), Some(7));
        assert_eq!(h.max(), Some(11));
    }

    #[test]
    fn large_values_are_within_one_sixteenth() {
        for v in [16, 17, 100, 1_000, 12_345, 999_999, 40_000_000] {
            let mut h = LatencyHistogram::new();
            h.record(v);
            h.record(v);
            let p50 = h.p50().unwrap();
            let error = p50.abs_diff(v) as f64 / v as f64;
            assert!(error <= 1.0 / 16.0, "{v} came back as {p50}");
            assert_eq!(h.max(), Some(v));
        }
    }

    #[test]
    fn every_value_has_a_bucket_in_range() {
        let mut v = 0u64;
        while v <= MAX_MICROS {
            assert!(bucket_of(v) < BUCKETS, "{v}");
            assert!(middle_of(bucket_of(v)).abs_diff(v) <= v / 16, "{v}");
            v = v * 3 / 2 + 1;
        }
        assert_eq!(bucket_of(MAX_MICROS), BUCKETS - 1);
    }

    #[test]
    fn the_median_ignores_outliers_and_the_max_keeps_them() {
        let mut h = LatencyHistogram::new();
        for _ in 0..99 {
            h.record(50);
        }
        h.record(u64::MAX);
        // 50 shares a bucket with 51 (buckets are 2 wide there).
        assert!(h.p50().unwrap().abs_diff(50) <= 1, "{:?}", h.p50());
        assert_eq!(h.max(), Some(MAX_MICROS));
    }
}
