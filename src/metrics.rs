//! A small log-linear histogram for latencies and durations, shared by the room's tick timing and the bots'
//! measurements: fixed memory, cheap to record, mergeable.

/// A log-linear histogram of microsecond values with 32 steps per power of two (about 3% resolution), small
/// enough to keep one per bot and merge.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    pub max: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (2 * SUB + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; BUCKETS], total: 0, max: 0 }
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
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
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
    }
}
