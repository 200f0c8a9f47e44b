//! A minimal MessagePack reader over a borrowed byte slice, for the client's hot path.
//!
//! A bot in a 500-player room decodes about 500 entity updates per tick; through serde's visitors and rmp-serde's
//! `Read`-based reader that was half of the bots' CPU. This reader knows only the few shapes snapshots use (arrays,
//! integers, strings), never allocates, and refuses anything else. Lengths are checked against the bytes that
//! remain before they are trusted.

use thiserror::Error;

use crate::codec::DecodeError;

/// Why a read failed. Kept to a few bytes so results travel in registers on the hot path.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("unexpected end of message")]
    End,
    #[error("expected {expected}, found marker {found:#04x}")]
    Marker { expected: &'static str, found: u8 },
    #[error("integer out of range")]
    OutOfRange,
    #[error("string is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Shape(&'static str),
}

impl From<ReadError> for DecodeError {
    fn from(error: ReadError) -> DecodeError {
        DecodeError::Malformed(error.to_string())
    }
}

/// A cursor over one MessagePack-encoded value sequence.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], ReadError> {
        if count > self.bytes.len() {
            return Err(ReadError::End);
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        let (&first, rest) = self.bytes.split_first().ok_or(ReadError::End)?;
        self.bytes = rest;
        Ok(first)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads an array header and returns its length.
    pub fn array_len(&mut self) -> Result<usize, ReadError> {
        let len = match self.byte()? {
            marker @ 0x90..=0x9f => usize::from(marker & 0x0f),
            0xdc => usize::from(u16::from_be_bytes(self.be()?)),
            0xdd => u32::from_be_bytes(self.be()?) as usize,
            found => return Err(ReadError::Marker { expected: "an array", found }),
        };
        // Every element takes at least one byte: a longer declared length cannot be honest.
        if len > self.bytes.len() {
            return Err(ReadError::Shape("array longer than the message"));
        }
        Ok(len)
    }

    /// Reads an array header that must declare exactly `expected` elements; `wrong` says what is wrong if not.
    pub fn array_of(&mut self, expected: usize, wrong: &'static str) -> Result<(), ReadError> {
        match self.array_len()? == expected {
            true => Ok(()),
            false => Err(ReadError::Shape(wrong)),
        }
    }

    /// Reads any integer (of any MessagePack width or signedness) whose value fits `T`.
    #[inline]
    pub fn int<T: TryFrom<i64> + TryFrom<u64>>(&mut self) -> Result<T, ReadError> {
        let marker = self.byte()?;
        let fits = match marker {
            0x00..=0x7f => return T::try_from(u64::from(marker)).map_err(|_| ReadError::OutOfRange),
            0xe0..=0xff => T::try_from(i64::from(marker as i8)).ok(),
            0xcc => T::try_from(u64::from(self.byte()?)).ok(),
            0xcd => T::try_from(u64::from(u16::from_be_bytes(self.be()?))).ok(),
            0xce => T::try_from(u64::from(u32::from_be_bytes(self.be()?))).ok(),
            0xcf => T::try_from(u64::from_be_bytes(self.be()?)).ok(),
            0xd0 => T::try_from(i64::from(self.byte()? as i8)).ok(),
            0xd1 => T::try_from(i64::from(i16::from_be_bytes(self.be()?))).ok(),
            0xd2 => T::try_from(i64::from(i32::from_be_bytes(self.be()?))).ok(),
            0xd3 => T::try_from(i64::from_be_bytes(self.be()?)).ok(),
            found => return Err(ReadError::Marker { expected: "an integer", found }),
        };
        fits.ok_or(ReadError::OutOfRange)
    }

    /// Reads a UTF-8 string, borrowed from the message.
    pub fn str(&mut self) -> Result<&'a str, ReadError> {
        let len = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => usize::from(self.byte()?),
            0xda => usize::from(u16::from_be_bytes(self.be()?)),
            0xdb => u32::from_be_bytes(self.be()?) as usize,
            found => return Err(ReadError::Marker { expected: "a string", found }),
        };
        std::str::from_utf8(self.take(len)?).map_err(|_| ReadError::NotUtf8)
    }

    /// Reads a bin (raw bytes), borrowed from the message.
    pub fn bin(&mut self) -> Result<&'a [u8], ReadError> {
        let len = match self.byte()? {
            0xc4 => usize::from(self.byte()?),
            0xc5 => usize::from(u16::from_be_bytes(self.be()?)),
            0xc6 => u32::from_be_bytes(self.be()?) as usize,
            found => return Err(ReadError::Marker { expected: "a bin", found }),
        };
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: serde::Serialize>(value: T) -> Vec<u8> {
        rmp_serde::to_vec(&value).unwrap()
    }

    #[test]
    fn integers_of_every_width_read_back_when_they_fit() {
        for value in [0i64, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129, -32768, -32769, i64::MIN] {
            let bytes = encoded(value);
            assert_eq!(Reader::new(&bytes).int::<i64>().unwrap(), value);
            let as_i32 = Reader::new(&bytes).int::<i32>();
            assert_eq!(as_i32.ok(), i32::try_from(value).ok(), "{value}");
            let as_u32 = Reader::new(&bytes).int::<u32>();
            assert_eq!(as_u32.ok(), u32::try_from(value).ok(), "{value}");
        }
        // The same value in a needlessly wide or signed encoding is still that value.
        assert_eq!(Reader::new(&[0xd2, 0, 0, 0, 5]).int::<u8>().unwrap(), 5);
        assert_eq!(Reader::new(&[0xcf, 0, 0, 0, 0, 0, 0, 1, 0]).int::<u16>().unwrap(), 256);
        assert!(Reader::new(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).int::<i64>().is_err());
    }

    #[test]
    fn wrong_types_and_short_input_are_refused() {
        assert!(Reader::new(&[0xca, 0, 0, 0, 0]).int::<u32>().is_err()); // a float
        assert!(Reader::new(&[0xc3]).int::<u32>().is_err()); // true
        assert!(Reader::new(&[0xcd, 0x01]).int::<u32>().is_err()); // truncated uint16
        assert!(Reader::new(&[0x91]).str().is_err());
        assert!(Reader::new(&[0xa3, b'a', b'b']).str().is_err()); // 3 declared, 2 present
        assert!(Reader::new(&[0xa1, 0xff]).str().is_err()); // not UTF-8
        assert!(Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]).array_len().is_err()); // 4 G elements in 1 byte
        assert!(Reader::new(&[0x80]).array_len().is_err()); // a map
    }

    #[test]
    fn strings_and_arrays_read_back() {
        let bytes = encoded(("héllo", [1u8, 2, 3]));
        let mut reader = Reader::new(&bytes);
        reader.array_of(2, "not a pair").unwrap();
        assert_eq!(reader.str().unwrap(), "héllo");
        assert_eq!(reader.array_len().unwrap(), 3);
        assert_eq!([reader.int::<u8>().unwrap(), reader.int().unwrap(), reader.int().unwrap()], [1, 2, 3]);
        assert_eq!(reader.remaining(), 0);
        let long = "x".repeat(300);
        assert_eq!(Reader::new(&encoded(&long)).str().unwrap(), long);
    }
}
