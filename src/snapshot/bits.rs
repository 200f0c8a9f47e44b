//! The bit stream inside a snapshot's `changed` bin: values of any width up to 32 bits, least significant bit
//! first, packed from the first byte's lowest bit on (PROTOCOL.md 6.2). Zigzag turns small signed residuals into
//! small unsigned values so their width stays small.

/// Appends bit fields to a byte vector.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet flushed to `bytes`, lowest first.
    pending: u64,
    pending_bits: u32,
}

impl BitWriter {
    /// Starts over, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.pending = 0;
        self.pending_bits = 0;
    }

    /// Writes the low `width` bits of `value` (`width` <= 32; the bits above it must be 0).
    #[inline]
    pub fn write(&mut self, value: u32, width: u32) {
        self.run(0, |bits| bits.put(value, width));
    }

    #[inline]
    pub fn bit(&mut self, set: bool) {
        self.write(u32::from(set), 1);
    }

    /// Runs `fill` with a writer whose pending bits are locals (kept in registers, not written back to `self`
    /// after every value as `write` does), for a column's run of values; `reserve` bytes are reserved first.
    #[inline]
    pub fn run<R>(&mut self, reserve: usize, fill: impl FnOnce(&mut BitRun<'_>) -> R) -> R {
        self.bytes.reserve(reserve + 8);
        let mut run = BitRun { bytes: &mut self.bytes, pending: self.pending, bits: self.pending_bits };
        let result = fill(&mut run);
        (self.pending, self.pending_bits) = (run.pending, run.bits);
        result
    }

    /// The stream so far, its last byte padded with zero bits.
    pub fn finish(&mut self) -> &[u8] {
        let mut rest = self.pending;
        let mut bits = self.pending_bits;
        while bits > 0 {
            self.bytes.push(rest as u8);
            rest >>= 8;
            bits = bits.saturating_sub(8);
        }
        self.pending = 0;
        self.pending_bits = 0;
        &self.bytes
    }
}

/// A run of writes into a [`BitWriter`] (see [`BitWriter::run`]).
pub struct BitRun<'a> {
    bytes: &'a mut Vec<u8>,
    pending: u64,
    bits: u32,
}

impl BitRun<'_> {
    /// Writes the low `width` bits of `value` (`width` <= 32; the bits above it must be 0).
    #[inline(always)]
    pub fn put(&mut self, value: u32, width: u32) {
        debug_assert!(width <= 32 && (width == 32 || value >> width == 0));
        self.pending |= u64::from(value) << self.bits;
        self.bits += width;
        if self.bits >= 32 {
            self.bytes.extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.bits -= 32;
        }
    }
}

/// Reads bit fields written by [`BitWriter`]; reading past the end is an error, not zeros.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

/// The stream ended before a field did.
#[derive(Debug, PartialEq, Eq)]
pub struct Truncated;

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader { bytes, position: 0 }
    }

    /// The next `width` bits (`width` <= 32).
    #[inline]
    pub fn read(&mut self, width: u32) -> Result<u32, Truncated> {
        let end = self.position + width as usize;
        if end > self.bytes.len() * 8 {
            return Err(Truncated);
        }
        let mut value = 0u64;
        let (first, last) = (self.position / 8, end.div_ceil(8));
        for (i, byte) in self.bytes[first..last].iter().enumerate() {
            value |= u64::from(*byte) << (8 * i);
        }
        let value = (value >> (self.position % 8)) & ((1u64 << width) - 1);
        self.position = end;
        Ok(value as u32)
    }

    #[inline]
    pub fn bit(&mut self) -> Result<bool, Truncated> {
        Ok(self.read(1)? == 1)
    }

    /// Whether only the last byte's zero padding is left.
    pub fn at_end(&self) -> bool {
        let whole = self.bytes.len() * 8;
        whole - self.position < 8
            && (self.position == whole || self.bytes[self.position / 8] >> (self.position % 8) == 0)
    }
}

/// Maps signed to unsigned so that small magnitudes get small values: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ...
#[inline]
pub fn zigzag(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

#[inline]
pub fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// Bits needed to write `value` (0 for 0).
#[inline]
pub fn width(value: u32) -> u32 {
    32 - value.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_every_width_round_trip() {
        let values: Vec<(u32, u32)> =
            (0..=32).flat_map(|w| [(0, w), (if w == 0 { 0 } else { u32::MAX >> (32 - w) }, w)]).collect();
        let mut writer = BitWriter::default();
        for &(value, w) in &values {
            writer.write(value, w);
        }
        let bytes = writer.finish().to_vec();
        let mut reader = BitReader::new(&bytes);
        for &(value, w) in &values {
            assert_eq!(reader.read(w), Ok(value), "width {w}");
        }
        assert!(reader.at_end());
        assert_eq!(reader.read(8), Err(Truncated));
    }

    #[test]
    fn bits_go_lowest_first() {
        let mut writer = BitWriter::default();
        writer.bit(true);
        writer.write(0b10, 2);
        writer.write(0x1ff, 9);
        assert_eq!(writer.finish(), &[0b1111_1101, 0b0000_1111]);
    }

    #[test]
    fn zigzag_orders_by_magnitude() {
        let pairs = [(0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4), (i32::MAX, u32::MAX - 1), (i32::MIN, u32::MAX)];
        for (signed, unsigned) in pairs {
            assert_eq!(zigzag(signed), unsigned);
            assert_eq!(unzigzag(unsigned), signed);
        }
        assert_eq!((width(0), width(1), width(4), width(u32::MAX)), (0, 1, 3, 32));
    }

    #[test]
    fn a_non_zero_padding_or_a_spare_byte_is_not_the_end() {
        let mut reader = BitReader::new(&[0b0000_0001, 0]);
        reader.read(1).unwrap();
        assert!(!reader.at_end(), "a whole spare byte");
        let mut reader = BitReader::new(&[0b0000_0011]);
        reader.read(1).unwrap();
        assert!(!reader.at_end(), "a set padding bit");
    }
}
