//! A small log-linear histogram for latencies and durations, shared by the room's tick timing and the bots'
//! measurements: fixed memory, cheap to record, mergeable.

/// A log-linear histogram of microsecond values with 32 steps per power of two (about 3% resolution), small
/// enough to keep one per bot and merge.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    /// Sum of every recorded value (a Prometheus histogram reports it as `_sum`).
    sum: u64,
    pub max: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (2 * SUB + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; BUCKETS], total: 0, sum: 0, max: 0 }
    }
}

impl Histogram {
    fn index(value: u64) -> usize {
        if value < 2 * SUB {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros(); // >= SUB_BITS + 1
        let mantissa = value >> (exponent - SUB_BITS); // in SUB..2*SUB
        (2 * SUB + u64::from(exponent - SUB_BITS - 1) * SUB + (mantissa - SUB)) as usize
    }

    /// The smallest value that lands in bucket `index`.
    fn lower_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * SUB {
            return index;
        }
        let exponent = (index - 2 * SUB) / SUB + u64::from(SUB_BITS) + 1;
        let mantissa = (index - 2 * SUB) % SUB + SUB;
        mantissa << (exponent - u64::from(SUB_BITS))
    }

    pub fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.total += 1;
        self.sum = self.sum.saturating_add(value);
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// Sum of every recorded value (saturating).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// How many recorded values are certainly at most `bound`: the counts of the buckets that lie wholly at or
    /// below it. A bound inside a bucket leaves that bucket out, so the answer undercounts by at most the values
    /// within about 3% below the bound, and never counts a value above it (what a Prometheus `le` bucket means).
    pub fn count_at_most(&self, bound: u64) -> u64 {
        match bound.checked_add(1) {
            // Every bucket before the one holding `bound + 1` ends at or below `bound`.
            Some(above) => self.counts[..Self::index(above)].iter().sum(),
            None => self.total,
        }
    }

    /// The value at quantile `q` (0..=1), as the lower bound of its bucket (never above the true maximum).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::lower_bound(index).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_round_trip_within_three_percent() {
        for value in [0u64, 1, 63, 64, 65, 100, 1_000, 33_333, 1_000_000, 123_456_789, u64::MAX / 2] {
            let lower = Histogram::lower_bound(Histogram::index(value));
            assert!(lower <= value, "{value}: lower bound {lower}");
            assert!(value - lower <= value / 32, "{value}: lower bound {lower} too far");
        }
        assert!(Histogram::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 100);
        }
        let p50 = h.quantile(0.5);
        assert!((48_000..=50_000).contains(&p50), "p50 {p50}");
        let p99 = h.quantile(0.99);
        assert!((96_000..=99_000).contains(&p99), "p99 {p99}");
        assert_eq!(h.max, 100_000);
        let mut other = Histogram::default();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile(1.0), 5_000_000u64.min(Histogram::lower_bound(Histogram::index(5_000_000))));
        assert_eq!(h.sum(), (1..=1000u64).map(|v| v * 100).sum::<u64>() + 5_000_000);
    }

    #[test]
    fn counts_at_most_a_bound_never_include_a_larger_value() {
        let mut h = Histogram::default();
        for v in [10u64, 63, 64, 499, 500, 501, 1_000, 33_000, 40_000] {
            h.record(v);
        }
        // Exact below 64 (one value per bucket) and at a bucket's end; from 64 on, buckets are two values wide.
        assert_eq!(h.count_at_most(9), 0);
        assert_eq!(h.count_at_most(10), 1);
        assert_eq!(h.count_at_most(63), 2);
        assert_eq!(h.count_at_most(64), 2, "64 shares the bucket 64..=65");
        assert_eq!(h.count_at_most(65), 3);
        // 500 lies inside the bucket 496..=503: that bucket (499, 500, 501) is left out rather than counted whole.
        assert_eq!(h.count_at_most(500), 3);
        assert_eq!(h.count_at_most(503), 6);
        assert_eq!(h.count_at_most(1_000), 6, "1000 shares the bucket 992..=1007");
        assert_eq!(h.count_at_most(1_007), 7);
        assert_eq!(h.count_at_most(100_000), 9);
        assert_eq!(h.count_at_most(u64::MAX), 9);
        for bound in [0u64, 1, 100, 500, 999, 5_000, 33_000, 1 << 40] {
            let exact = [10u64, 63, 64, 499, 500, 501, 1_000, 33_000, 40_000].iter().filter(|&&v| v <= bound).count();
            assert!(h.count_at_most(bound) <= exact as u64, "bound {bound}");
        }
    }
}
