//! The delta coding of protocol version 7 (PROTOCOL.md 6.2): every entity of the baseline is first *predicted* to the
//! new tick (a player moved on by its velocity, its respawn countdown run down), and only what differs from the
//! prediction is sent, as residuals laid out field by field: one change bit per baseline entity, then per field a
//! full width, a short width and the marked entities' zigzag residuals in the short width, the few that do not fit
//! escaped to the full one. Steady motion costs one bit; a turning player a few bits per axis; one player bumping
//! into a wall no longer widens the column for everyone else.

use super::bits::{unzigzag, width, zigzag, BitReader, BitRun, BitWriter, Truncated};
use crate::protocol::{player_field, EntityKind, MAX_FIELDS};

/// A player's fields, the columns of `changed` in this order.
pub const COLUMNS: usize = 9;
/// Aim on the wire: 256 steps per turn.
pub const AIM_STEPS: i32 = 256;
/// The width field of a column.
const WIDTH_BITS: u32 = 6;

/// One entity's zigzag residuals, by column.
pub type Residuals = [u32; COLUMNS];

/// `fields` of an entity of `kind` advanced `ticks` ticks by the prediction both sides run when nothing else is
/// known: a player moved on at its velocity, its respawn countdown run down; a bullet as it was.
#[inline]
pub fn predict(kind: EntityKind, fields: &mut [i32; MAX_FIELDS], ticks: u32, tick_rate: u32) {
    use player_field::*;
    if kind == EntityKind::Player {
        let (vx, vy) = (fields[VX], fields[VY]);
        fields[X] = fields[X].wrapping_add(displacement(vx, vx, ticks, tick_rate));
        fields[Y] = fields[Y].wrapping_add(displacement(vy, vy, ticks, tick_rate));
        fields[RESPAWN] = countdown(fields[RESPAWN], ticks);
    }
}

/// A respawn countdown `ticks` ticks on: `max(respawn - ticks, 0)`, exact.
#[inline]
fn countdown(respawn: i32, ticks: u32) -> i32 {
    (i64::from(respawn) - i64::from(ticks)).max(0) as i32
}

/// How far (1/16 units) a player moves in `ticks` ticks whose velocity went from `from` to `to` (1/16 units/s,
/// multiples of `tick_rate`), taking the change as even over the ticks: each tick moves the player by the velocity
/// after it, so one tick moves it by exactly `to`, and a steady velocity by exactly `ticks * to`.
#[inline]
pub fn displacement(from: i32, to: i32, ticks: u32, tick_rate: u32) -> i32 {
    let rate = tick_rate.max(1) as i32;
    // The common case, a steady velocity on the wire's grid, without a division.
    if from == to && from % rate == 0 && ticks <= 1 << 16 {
        return (from / rate).wrapping_mul(ticks as i32);
    }
    // Anything a game produces fits i64 exactly (velocities far below 2^24, gaps below 2^16 ticks).
    if from.unsigned_abs() < 1 << 24 && to.unsigned_abs() < 1 << 24 && ticks < 1 << 16 {
        let (from, to, ticks, rate) = (i64::from(from), i64::from(to), i64::from(ticks), i64::from(rate));
        return (2 * ticks * from + (to - from) * (ticks + 1) + rate).div_euclid(2 * rate) as i32;
    }
    // Exact (in i128) whatever a stream holds, then wrapped to 32 bits like every field.
    let (from, to, ticks, rate) = (i128::from(from), i128::from(to), i128::from(ticks), i128::from(tick_rate.max(1)));
    (2 * ticks * from + (to - from) * (ticks + 1) + rate).div_euclid(2 * rate) as i32
}

/// Player `base` `ticks` ticks later with `residuals` added: the velocity first (the residual counts steps of the
/// tick rate), then the position moved by [`displacement`] from the old velocity to the new one plus its residual,
/// the aim wrapped in its 256 steps, the respawn counted down, the rest plain.
#[inline]
pub fn advance(base: &[i32; MAX_FIELDS], residuals: &[i32; COLUMNS], ticks: u32, tick_rate: u32) -> [i32; MAX_FIELDS] {
    use player_field::*;
    let mut out = *base;
    let rate = tick_rate.max(1) as i32;
    out[VX] = base[VX].wrapping_add(residuals[VX].wrapping_mul(rate));
    out[VY] = base[VY].wrapping_add(residuals[VY].wrapping_mul(rate));
    out[X] = base[X].wrapping_add(displacement(base[VX], out[VX], ticks, tick_rate)).wrapping_add(residuals[X]);
    out[Y] = base[Y].wrapping_add(displacement(base[VY], out[VY], ticks, tick_rate)).wrapping_add(residuals[Y]);
    out[AIM] = base[AIM].wrapping_add(residuals[AIM]) & (AIM_STEPS - 1);
    out[RESPAWN] = countdown(base[RESPAWN], ticks).wrapping_add(residuals[RESPAWN]);
    for field in [HP, SCORE, FLAGS] {
        out[field] = base[field].wrapping_add(residuals[field]);
    }
    out
}

/// The zigzag residuals that take player `base` to `new` in `ticks` ticks under [`advance`]; `None` when there are
/// none (the prediction holds).
#[inline]
pub fn residuals(base: &[i32; MAX_FIELDS], new: &[i32; MAX_FIELDS], ticks: u32, tick_rate: u32) -> Option<Residuals> {
    use player_field::*;
    let rate = tick_rate.max(1) as i32;
    debug_assert!(new[VX] % rate == 0 && new[VY] % rate == 0, "snapshot velocities are multiples of the tick rate");
    let mut signed = [0i32; COLUMNS];
    signed[VX] = new[VX].wrapping_sub(base[VX]) / rate;
    signed[VY] = new[VY].wrapping_sub(base[VY]) / rate;
    signed[X] = new[X].wrapping_sub(base[X]).wrapping_sub(displacement(base[VX], new[VX], ticks, tick_rate));
    signed[Y] = new[Y].wrapping_sub(base[Y]).wrapping_sub(displacement(base[VY], new[VY], ticks, tick_rate));
    signed[AIM] = ((new[AIM] - base[AIM] + AIM_STEPS / 2) & (AIM_STEPS - 1)) - AIM_STEPS / 2;
    signed[RESPAWN] = new[RESPAWN].wrapping_sub(countdown(base[RESPAWN], ticks));
    for field in [HP, SCORE, FLAGS] {
        signed[field] = new[field].wrapping_sub(base[field]);
    }
    let out = signed.map(zigzag);
    (out.iter().any(|&value| value != 0)).then_some(out)
}

/// Builds a `changed` bit stream: [`ChangeEncoder::entity`] once per baseline entity in id order, then `finish`.
#[derive(Debug)]
pub struct ChangeEncoder {
    bits: BitWriter,
    rows: Vec<Residuals>,
    /// Over the rows so far, per column: every value OR-ed together (its bit length is the full width), and how
    /// many values `v` have each bit length of `v + 1` (1 to 33): `v` escapes a short width `s` exactly when that
    /// length exceeds `s` (`v >= 2^s - 1`), so one count per value prices every short width.
    all: [u32; COLUMNS],
    escape_lengths: [[u32; 34]; COLUMNS],
}

impl Default for ChangeEncoder {
    fn default() -> ChangeEncoder {
        ChangeEncoder {
            bits: BitWriter::default(),
            rows: Vec::new(),
            all: [0; COLUMNS],
            escape_lengths: [[0; 34]; COLUMNS],
        }
    }
}

/// How a column is written: its full width, its short width (escapes below the full one), sparse or dense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ColumnLayout {
    full: u32,
    short: u32,
    sparse: bool,
}

impl ColumnLayout {
    /// The cheapest layout for a column whose values OR to `all`, with `escape_lengths` as `ChangeEncoder` counts
    /// them: fewest bits, and of equal ones the widest short width, dense before sparse (PROTOCOL.md 6.2, "the
    /// server's choices").
    fn cheapest(all: u32, escape_lengths: &[u32; 34]) -> ColumnLayout {
        let full = width(all);
        let rows: u32 = escape_lengths.iter().sum();
        // A value of 0 is the one whose `v + 1` is 1 bit long.
        let (zeros, nonzero) = (escape_lengths[1], rows - escape_lengths[1]);
        let mut best = ColumnLayout { full, short: full, sparse: false };
        let mut best_bits = u64::from(rows * full);
        if rows + nonzero * full < rows * full {
            (best, best_bits) = (ColumnLayout { full, short: full, sparse: true }, u64::from(rows + nonzero * full));
        }
        // The values escaping the short width: a running sum from the top.
        let mut escaped: u64 = escape_lengths[full as usize + 1..].iter().map(|&n| u64::from(n)).sum();
        let (rows, nonzero, wide) = (u64::from(rows), u64::from(nonzero), u64::from(full));
        for short in (0..full).rev() {
            escaped += u64::from(escape_lengths[short as usize + 1]);
            // With a short width of 0 every value, a zero too, is the (empty) escape; sparse writes no zeros.
            let escaped_present = escaped - if short == 0 { u64::from(zeros) } else { 0 };
            let narrow = u64::from(short);
            let dense = rows * narrow + escaped * wide;
            let sparse = rows + nonzero * narrow + escaped_present * wide;
            if dense < best_bits {
                (best, best_bits) = (ColumnLayout { full, short, sparse: false }, dense);
            }
            if sparse < best_bits {
                (best, best_bits) = (ColumnLayout { full, short, sparse: true }, sparse);
            }
        }
        best
    }

    /// Writes one present value: in the short width, or as the escape and then in the full width.
    #[inline(always)]
    fn write(self, bits: &mut BitRun<'_>, value: u32) {
        let escape = ((1u64 << self.short) - 1) as u32;
        if self.short == self.full || value < escape && self.short != 0 {
            bits.put(value, self.short);
        } else {
            bits.put(escape, self.short);
            bits.put(value, self.full);
        }
    }
}

impl ChangeEncoder {
    pub fn begin(&mut self) {
        self.bits.clear();
        self.rows.clear();
        self.all = [0; COLUMNS];
        self.escape_lengths = [[0; 34]; COLUMNS];
    }

    /// The next baseline entity: its residuals, or `None` when it equals its prediction (or is removed, replaced,
    /// or a bullet).
    #[inline]
    pub fn entity(&mut self, residuals: Option<Residuals>) {
        self.bits.bit(residuals.is_some());
        if let Some(row) = residuals {
            for ((all, lengths), value) in self.all.iter_mut().zip(&mut self.escape_lengths).zip(row) {
                *all |= value;
                lengths[(64 - (u64::from(value) + 1).leading_zeros()) as usize] += 1;
            }
            self.rows.push(row);
        }
    }

    /// The stream: empty when no entity was marked.
    pub fn finish(&mut self) -> &[u8] {
        if self.rows.is_empty() {
            self.bits.clear();
            return self.bits.finish();
        }
        for column in 0..COLUMNS {
            let layout = ColumnLayout::cheapest(self.all[column], &self.escape_lengths[column]);
            self.bits.write(layout.full, WIDTH_BITS);
            if layout.full == 0 {
                continue;
            }
            self.bits.bit(layout.sparse);
            self.bits.write(layout.short, WIDTH_BITS);
            let (rows, sparse) = (&self.rows, layout.sparse);
            let reserve = (rows.len() * (layout.short + 1) as usize).div_ceil(8);
            self.bits.run(reserve, |bits| {
                for row in rows {
                    let value = row[column];
                    if sparse {
                        bits.put(u32::from(value != 0), 1);
                        if value == 0 {
                            continue;
                        }
                    }
                    layout.write(bits, value);
                }
            });
        }
        self.bits.finish()
    }
}

/// Why a `changed` stream could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ChangeError {
    Truncated,
    /// A column's full width above 32.
    Width(u32),
    /// A column's short width above its full width `.1`.
    ShortWidth(u32, u32),
    /// A byte or a set bit after the last column, or a non-empty stream marking nothing.
    Malformed,
}

impl From<Truncated> for ChangeError {
    fn from(_: Truncated) -> ChangeError {
        ChangeError::Truncated
    }
}

/// Reads a `changed` stream over `count` baseline entities: pushes `(baseline index, residuals)` per marked entity.
pub fn decode_changes(bytes: &[u8], count: usize, out: &mut Vec<(u32, [i32; COLUMNS])>) -> Result<(), ChangeError> {
    out.clear();
    if bytes.is_empty() {
        return Ok(());
    }
    let mut reader = BitReader::new(bytes);
    for index in 0..count {
        if reader.bit()? {
            out.push((index as u32, [0; COLUMNS]));
        }
    }
    if out.is_empty() {
        return Err(ChangeError::Malformed);
    }
    for column in 0..COLUMNS {
        let w = reader.read(WIDTH_BITS)?;
        if w > 32 {
            return Err(ChangeError::Width(w));
        }
        if w == 0 {
            continue;
        }
        let sparse = reader.bit()?;
        let short = reader.read(WIDTH_BITS)?;
        if short > w {
            return Err(ChangeError::ShortWidth(short, w));
        }
        let escape = ((1u64 << short) - 1) as u32;
        for (_, row) in out.iter_mut() {
            if sparse && !reader.bit()? {
                continue;
            }
            let mut value = reader.read(short)?;
            if short < w && value == escape {
                value = reader.read(w)?;
            }
            row[column] = unzigzag(value);
        }
    }
    match reader.at_end() {
        true => Ok(()),
        false => Err(ChangeError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(x: i32, y: i32, vx: i32, vy: i32, aim: i32) -> [i32; MAX_FIELDS] {
        [x, y, vx, vy, aim, 100, 0, 0, 0]
    }

    #[test]
    fn steady_motion_is_predicted_exactly() {
        let base = player(1600, 1600, 960, -480, 3);
        let mut now = base;
        predict(EntityKind::Player, &mut now, 3, 30);
        assert_eq!((now[0], now[1]), (1600 + 32 * 3, 1600 - 16 * 3));
        assert_eq!(residuals(&base, &now, 3, 30), None);
    }

    #[test]
    fn a_velocity_change_moves_the_prediction_along() {
        // One tick moves by the new velocity; several by the mean of the two, rounded.
        assert_eq!(displacement(960, 300, 1, 30), 10);
        assert_eq!(displacement(960, 300, 3, 30), (2 * 3 * 960 + (300 - 960) * 4 + 30_i32).div_euclid(60));
        assert_eq!(displacement(-960, -960, 5, 30), -160);
        let base = player(0, 0, 960, 0, 0);
        let mut turned = base;
        turned[player_field::VX] = 300;
        turned[player_field::X] = 10;
        let r = residuals(&base, &turned, 1, 30).expect("the velocity changed");
        assert_eq!((r[player_field::X], r[player_field::VX]), (0, zigzag(-22)), "the position follows the velocity");
    }

    #[test]
    fn respawn_counts_down_to_zero() {
        let mut dead = player(0, 0, 0, 0, 0);
        dead[player_field::RESPAWN] = 2;
        predict(EntityKind::Player, &mut dead, 5, 30);
        assert_eq!(dead[player_field::RESPAWN], 0);
    }

    #[test]
    fn residuals_round_trip_through_the_stream() {
        let rate = 30;
        let bases = [player(100, 200, 30, 0, 250), player(-5, 7, 0, 60, 0), player(0, 0, 0, 0, 0)];
        let mut news = bases;
        news[0][player_field::AIM] = 2; // wraps forward past 255
        news[0][player_field::VX] = -90;
        news[1][player_field::X] = i32::MIN;
        news[1][player_field::SCORE] = 3;
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        for (base, new) in bases.iter().zip(&news) {
            encoder.entity(residuals(base, new, 2, rate));
        }
        let bytes = encoder.finish().to_vec();
        let mut decoded = Vec::new();
        decode_changes(&bytes, bases.len(), &mut decoded).unwrap();
        assert_eq!(decoded.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1]);
        for (index, row) in &decoded {
            assert_eq!(advance(&bases[*index as usize], row, 2, rate), news[*index as usize]);
        }
    }

    #[test]
    fn nothing_changed_is_an_empty_stream() {
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        encoder.entity(None);
        encoder.entity(None);
        assert!(encoder.finish().is_empty());
        let mut out = Vec::new();
        assert_eq!(decode_changes(&[], 2, &mut out), Ok(()));
        assert!(out.is_empty());
        assert_eq!(decode_changes(&[0], 2, &mut out), Err(ChangeError::Malformed), "a stream that marks nothing");
    }

    #[test]
    fn corrupt_streams_are_refused() {
        let mut out = Vec::new();
        // One entity marked, then a first column width of 33.
        let mut bits = BitWriter::default();
        bits.bit(true);
        bits.write(33, WIDTH_BITS);
        assert_eq!(decode_changes(bits.finish(), 1, &mut out), Err(ChangeError::Width(33)));
        // Marked, then the stream ends inside the columns.
        assert_eq!(decode_changes(&[1], 1, &mut out), Err(ChangeError::Truncated));
        // A valid stream with a spare byte.
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        encoder.entity(residuals(&player(0, 0, 0, 0, 0), &player(1, 0, 0, 0, 0), 1, 30));
        let mut bytes = encoder.finish().to_vec();
        decode_changes(&bytes, 1, &mut out).unwrap();
        bytes.push(0);
        assert_eq!(decode_changes(&bytes, 1, &mut out), Err(ChangeError::Malformed));
    }

    #[test]
    fn an_outlier_is_escaped_instead_of_widening_its_column() {
        let base = player(0, 0, 0, 0, 0);
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        let mut news = Vec::new();
        for i in 0..32 {
            let mut new = base;
            // Thirty-one players off by one unit (zigzag 2, 2 bits); one bumped 500 units (zigzag 1000, 10 bits).
            new[player_field::X] = if i == 7 { 500 } else { 1 };
            news.push(new);
            encoder.entity(residuals(&base, &new, 1, 30));
        }
        // x: full width 10, dense, short width 2: 31 values of 2 bits, one escape (11) and its 10 bits.
        let expected_bits = 32 + (6 + 1 + 6 + 32 * 2 + 10) + 8 * 6;
        let bytes = encoder.finish().to_vec();
        assert_eq!(bytes.len(), (expected_bits as usize).div_ceil(8));
        let mut decoded = Vec::new();
        decode_changes(&bytes, 32, &mut decoded).unwrap();
        for (index, row) in &decoded {
            assert_eq!(advance(&base, row, 1, 30), news[*index as usize]);
        }
    }

    #[test]
    fn values_equal_to_the_escape_are_escaped_and_read_back() {
        // Zigzag 3 is all ones in 2 bits: with the short width of 2 this column gets, it must go escaped.
        let values = [3u32, 1, 1, 1, 1, 1, 1, 1, 40];
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        let base = player(0, 0, 0, 0, 0);
        let mut news = Vec::new();
        for &value in &values {
            let mut new = base;
            new[player_field::X] = unzigzag(value);
            news.push(new);
            encoder.entity(residuals(&base, &new, 1, 30));
        }
        let x = player_field::X;
        let layout = ColumnLayout::cheapest(encoder.all[x], &encoder.escape_lengths[x]);
        assert_eq!(layout, ColumnLayout { full: 6, short: 2, sparse: false }, "9 x 2 bits + 2 escapes x 6");
        let bytes = encoder.finish().to_vec();
        let mut decoded = Vec::new();
        decode_changes(&bytes, values.len(), &mut decoded).unwrap();
        assert_eq!(decoded.len(), values.len());
        for (index, row) in &decoded {
            assert_eq!(advance(&base, row, 1, 30), news[*index as usize], "value {}", values[*index as usize]);
        }
    }

    #[test]
    fn the_chosen_layout_is_the_cheapest_of_all() {
        // The histogram's prices against every layout priced by hand, on columns of mixed small and large values.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..500 {
            let count = 1 + round % 40;
            let values: Vec<u32> = (0..count)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    match seed % 10 {
                        0..=3 => 0,
                        4..=7 => (seed >> 8) as u32 % 8,
                        8 => (seed >> 8) as u32 % 600,
                        _ => (seed >> 8) as u32,
                    }
                })
                .collect();
            let mut encoder = ChangeEncoder::default();
            encoder.begin();
            for &value in &values {
                let mut row = [0u32; COLUMNS];
                row[player_field::SCORE] = value;
                encoder.entity(Some(row));
            }
            let column = player_field::SCORE;
            let full = width(values.iter().fold(0, |all, &v| all | v));
            let price = |short: u32, sparse: bool| -> u64 {
                values
                    .iter()
                    .map(|&v| {
                        let presence = u64::from(sparse);
                        if sparse && v == 0 {
                            return presence;
                        }
                        let escapes = short < full && u64::from(v) >= (1u64 << short) - 1;
                        presence + u64::from(short) + if escapes { u64::from(full) } else { 0 }
                    })
                    .sum()
            };
            let mut best = (u64::MAX, ColumnLayout { full, short: full, sparse: false });
            for short in (0..=full).rev() {
                for sparse in [false, true] {
                    if price(short, sparse) < best.0 {
                        best = (price(short, sparse), ColumnLayout { full, short, sparse });
                    }
                }
            }
            let chosen = ColumnLayout::cheapest(encoder.all[column], &encoder.escape_lengths[column]);
            assert_eq!(chosen, best.1, "values {values:?}");
        }
    }

    #[test]
    fn every_layout_reads_back_what_was_written() {
        // Each short width and both forms for one column, written by hand, decoded by the reader.
        let values = [0u32, 1, 2, 3, 7, 8, 200, 0, 5];
        let full = width(200);
        for short in 0..=full {
            for sparse in [false, true] {
                let layout = ColumnLayout { full, short, sparse };
                let mut bits = BitWriter::default();
                for _ in &values {
                    bits.bit(true);
                }
                bits.write(full, WIDTH_BITS);
                bits.bit(sparse);
                bits.write(short, WIDTH_BITS);
                for &value in &values {
                    if sparse {
                        bits.bit(value != 0);
                        if value == 0 {
                            continue;
                        }
                    }
                    bits.run(0, |run| layout.write(run, value));
                }
                for _ in 1..COLUMNS {
                    bits.write(0, WIDTH_BITS);
                }
                let mut decoded = Vec::new();
                decode_changes(bits.finish(), values.len(), &mut decoded).unwrap();
                let xs: Vec<u32> = decoded.iter().map(|(_, row)| zigzag(row[player_field::X])).collect();
                assert_eq!(xs, values, "short {short} sparse {sparse}");
            }
        }
    }

    #[test]
    fn a_short_width_above_the_full_one_is_corrupt() {
        let mut bits = BitWriter::default();
        bits.bit(true);
        bits.write(3, WIDTH_BITS);
        bits.bit(false);
        bits.write(4, WIDTH_BITS);
        let mut out = Vec::new();
        assert_eq!(decode_changes(bits.finish(), 1, &mut out), Err(ChangeError::ShortWidth(4, 3)));
    }

    #[test]
    fn a_sparse_column_is_chosen_when_few_values_are_set() {
        let base = player(0, 0, 0, 0, 0);
        let mut encoder = ChangeEncoder::default();
        encoder.begin();
        for i in 0..64 {
            let mut new = base;
            new[player_field::X] = 1;
            if i == 0 {
                new[player_field::HP] = -100_000;
            }
            encoder.entity(residuals(&base, &new, 1, 30));
        }
        // 64 change bits, x dense at 2 bits, hp sparse: 64 presence bits and one 18-bit value, not 64 x 18.
        let expected_bits = 64 + (6 + 1 + 6 + 64 * 2) + (6 + 1 + 6 + 64 + 18) + 7 * 6;
        assert_eq!(encoder.finish().len(), (expected_bits as usize).div_ceil(8));
    }
}
