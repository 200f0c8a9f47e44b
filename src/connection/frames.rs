//! Reads WebSocket frames (RFC 6455 section 5.2) into a buffer sized for the messages this protocol carries. The
//! server reads client frames with it: client messages are tens of bytes, so the buffer starts at `SERVER_BUFFER`
//! bytes, grows only for a frame that needs it (up to the message size limit) and shrinks back once that frame is
//! read: an idle connection holds a few hundred bytes here instead of the fixed 8 KiB a general-purpose WebSocket
//! reader keeps per socket. The crate's client reads the server's frames with it too, with a larger floor, and both
//! ends build frame heads with `frame_head`.
//!
//! Reading is cancel-safe: everything received stays in the reader's buffer until a whole frame is there, so a read
//! dropped by a `select!` loses nothing and the next one carries on (fastwebsockets' reader is not, which under load
//! desynchronised clients that select between reading and a timer).
//!
//! Only the framing is checked here (reserved bits, opcodes, control frame rules, sizes); what a frame means
//! (masking, fragmentation, close codes) is the caller's to judge, since it decides how to close.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes the server's buffer for a client starts with and shrinks back to: a frame head and a typical client
/// message, with room for a few pipelined ones.
pub(crate) const SERVER_BUFFER: usize = 256;

/// RFC 6455 section 5.5: control frames carry at most 125 bytes.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// A frame's opcode (RFC 6455 section 5.2), read here and written by the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// The head of an unfragmented frame: FIN, the opcode and the payload length, with the mask bit set when `masked`
/// (a client's frame, whose 4-byte masking key follows the head). Returns the bytes and how many of them are used.
pub(crate) fn frame_head(opcode: Opcode, len: usize, masked: bool) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | opcode as u8;
    let used = match len {
        0..=125 => {
            head[1] = len as u8;
            2
        }
        126..=0xffff => {
            head[1] = 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            head[1] = 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    if masked {
        head[1] |= 0x80;
    }
    (head, used)
}

/// One frame as received, its payload already unmasked.
#[derive(Debug)]
pub(crate) struct ReadFrame<'a> {
    pub fin: bool,
    pub opcode: Opcode,
    /// Whether the frame carried a masking key (every client frame must, section 5.1).
    pub masked: bool,
    pub payload: &'a [u8],
}

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the stream ended")]
    Ended,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("reserved bits are not zero")]
    ReservedBits,
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    #[error("control frame must not be fragmented")]
    FragmentedControl,
    #[error("control frame over 125 bytes")]
    ControlTooLarge,
    /// The payload is over the limit; it is refused before it is read.
    #[error("frame of {size} bytes is over the limit")]
    TooLarge { size: u64 },
}

/// Reads frames from `read`, refusing payloads over `max_payload` bytes before reading them.
pub(crate) struct FrameReader<R> {
    read: R,
    /// Bytes read and not yet consumed are `buffer[start..]`.
    buffer: Vec<u8>,
    start: usize,
    max_payload: usize,
    /// The capacity the buffer starts with and is shrunk back to.
    floor: usize,
    /// Where the last frame's payload lies in `buffer`.
    payload: (usize, usize),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader whose buffer starts at, and shrinks back to, `floor` bytes.
    pub(crate) fn new(read: R, max_payload: usize, floor: usize) -> FrameReader<R> {
        FrameReader { read, buffer: Vec::with_capacity(floor), start: 0, max_payload, floor, payload: (0, 0) }
    }

    /// The payload of the frame `next_frame` returned last (empty before the first).
    pub(crate) fn last_payload(&self) -> &[u8] {
        &self.buffer[self.payload.0..self.payload.1]
    }

    /// The stream, with whatever was read past the last frame dropped (it is only drained after this).
    pub(crate) fn into_inner(self) -> R {
        self.read
    }

    /// The next frame. Its payload is valid until the next call.
    pub(crate) async fn next_frame(&mut self) -> Result<ReadFrame<'_>, FrameError> {
        self.reclaim();
        self.fill(2).await?;
        let [first, second] = [self.buffer[self.start], self.buffer[self.start + 1]];
        if first & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let opcode = Opcode::from_bits(first & 0x0F).ok_or(FrameError::UnknownOpcode(first & 0x0F))?;
        let fin = first & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(FrameError::FragmentedControl);
        }
        let masked = second & 0x80 != 0;
        let length_bytes = match second & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let head_len = 2 + length_bytes + if masked { 4 } else { 0 };
        self.fill(head_len).await?;
        let head = &self.buffer[self.start..self.start + head_len];
        let size = match length_bytes {
            0 => u64::from(second & 0x7F),
            2 => u64::from(u16::from_be_bytes([head[2], head[3]])),
            _ => u64::from_be_bytes([head[2], head[3], head[4], head[5], head[6], head[7], head[8], head[9]]),
        };
        if opcode.is_control() && size > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::ControlTooLarge);
        }
        let payload_len = match usize::try_from(size) {
            Ok(len) if len <= self.max_payload => len,
            _ => return Err(FrameError::TooLarge { size }),
        };
        let mask = masked.then(|| [head[head_len - 4], head[head_len - 3], head[head_len - 2], head[head_len - 1]]);
        self.fill(head_len + payload_len).await?;
        let payload_at = self.start + head_len;
        self.start = payload_at + payload_len;
        self.payload = (payload_at, self.start);
        let payload = &mut self.buffer[payload_at..self.start];
        if let Some(mask) = mask {
            for (index, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[index % 4];
            }
        }
        Ok(ReadFrame { fin, opcode, masked, payload })
    }

    /// Drops consumed bytes, and gives back the memory a large frame made the buffer grow by.
    fn reclaim(&mut self) {
        self.payload = (0, 0);
        let buffered = self.buffer.len() - self.start;
        if self.buffer.capacity() > self.floor && buffered <= self.floor {
            let mut smaller = Vec::with_capacity(self.floor);
            smaller.extend_from_slice(&self.buffer[self.start..]);
            self.buffer = smaller;
            self.start = 0;
        } else if self.start > 0 && buffered == 0 {
            self.buffer.clear();
            self.start = 0;
        }
    }

    /// Reads until at least `needed` unconsumed bytes are buffered.
    async fn fill(&mut self, needed: usize) -> Result<(), FrameError> {
        while self.buffer.len() - self.start < needed {
            if self.buffer.capacity() - self.start < needed {
                self.buffer.drain(..self.start);
                self.start = 0;
                self.buffer.reserve_exact(needed - self.buffer.len());
            }
            // Reads into the spare capacity only (it is never zero here), so the buffer never grows by itself.
            let spare = self.buffer.capacity() - self.buffer.len();
            let read = (&mut self.read).take(spare as u64).read_buf(&mut self.buffer).await?;
            if read == 0 {
                return Err(FrameError::Ended);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A masked client frame, as RFC 6455 section 5.2 lays it out.
    fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut frame = vec![first];
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            len @ 0..=125 => frame.push(mask_bit | len as u8),
            len @ 126..=0xFFFF => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        match mask {
            Some(mask) => {
                frame.extend_from_slice(&mask);
                frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
            }
            None => frame.extend_from_slice(payload),
        }
        frame
    }

    async fn reader_over(bytes: Vec<u8>, max_payload: usize) -> FrameReader<tokio::io::DuplexStream> {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        client.write_all(&bytes).await.unwrap();
        drop(client);
        FrameReader::new(server, max_payload, SERVER_BUFFER)
    }

    #[tokio::test]
    async fn frames_come_out_unmasked_in_order_whatever_their_length_encoding() {
        let mask = Some([0x37, 0xFA, 0x21, 0x3D]);
        let medium = vec![7u8; 300];
        let mut bytes = client_frame(0x82, b"hello", mask);
        bytes.extend(client_frame(0x02, &medium, mask));
        bytes.extend(client_frame(0x89, b"", mask));
        bytes.extend(client_frame(0x80, b"end", None));
        let mut reader = reader_over(bytes, 512).await;
        let frame = reader.next_frame().await.unwrap();
        assert_eq!((frame.fin, frame.opcode, frame.masked, frame.payload), (true, Opcode::Binary, true, &b"hello"[..]));
        let frame = reader.next_frame().await.unwrap();
        assert_eq!((frame.fin, frame.opcode, frame.payload.len()), (false, Opcode::Binary, 300));
        assert!(frame.payload.iter().all(|&byte| byte == 7));
        let frame = reader.next_frame().await.unwrap();
        assert_eq!((frame.opcode, frame.payload.len()), (Opcode::Ping, 0));
        let frame = reader.next_frame().await.unwrap();
        assert_eq!((frame.opcode, frame.masked, frame.payload), (Opcode::Continuation, false, &b"end"[..]));
        assert!(matches!(reader.next_frame().await, Err(FrameError::Ended)));
    }

    #[tokio::test]
    async fn the_buffer_grows_for_a_large_frame_and_shrinks_back_after_it() {
        let large = vec![1u8; 4000];
        let mut bytes = client_frame(0x82, &large, Some([1, 2, 3, 4]));
        bytes.extend(client_frame(0x82, b"small", Some([1, 2, 3, 4])));
        let mut reader = reader_over(bytes, 8192).await;
        assert_eq!(reader.buffer.capacity(), SERVER_BUFFER);
        assert_eq!(reader.next_frame().await.unwrap().payload, &large[..]);
        assert!(reader.buffer.capacity() >= 4000);
        assert_eq!(reader.next_frame().await.unwrap().payload, b"small");
        assert_eq!(reader.buffer.capacity(), SERVER_BUFFER);
    }

    #[tokio::test]
    async fn framing_errors_are_told_apart_before_any_payload_is_read() {
        let cases: [(Vec<u8>, &str); 5] = [
            (client_frame(0xC2, b"x", None), "reserved bits are not zero"),
            (client_frame(0x83, b"x", None), "unknown opcode 3"),
            (client_frame(0x09, b"", None), "control frame must not be fragmented"),
            (client_frame(0x8A, &[0; 126], None), "control frame over 125 bytes"),
            (client_frame(0x82, &[0; 513], None), "frame of 513 bytes is over the limit"),
        ];
        for (bytes, expected) in cases {
            let mut reader = reader_over(bytes, 512).await;
            assert_eq!(reader.next_frame().await.unwrap_err().to_string(), expected);
        }
        // A length no buffer could hold is refused from the head alone.
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&u64::MAX.to_be_bytes());
        head.extend_from_slice(&[1, 2, 3, 4]);
        let mut reader = reader_over(head, 512).await;
        assert!(matches!(reader.next_frame().await, Err(FrameError::TooLarge { size: u64::MAX })));
    }

    #[tokio::test]
    async fn a_frame_cut_short_ends_the_stream() {
        let mut bytes = client_frame(0x82, b"truncated", Some([9, 9, 9, 9]));
        bytes.truncate(8);
        let mut reader = reader_over(bytes, 512).await;
        assert!(matches!(reader.next_frame().await, Err(FrameError::Ended)));
    }

    #[tokio::test]
    async fn a_read_cancelled_halfway_through_a_frame_loses_nothing() {
        // An unmasked 3,000-byte frame (a server frame) arriving in three pieces, each read cancelled while the
        // frame is incomplete: the next read still returns it whole, and the frame after it.
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let mut bytes = client_frame(0x82, &payload, None);
        bytes.extend(client_frame(0x82, b"next", None));
        let (mut sender, receiver) = tokio::io::duplex(1 << 16);
        let mut reader = FrameReader::new(receiver, 1 << 16, SERVER_BUFFER);
        for piece in [&bytes[..1], &bytes[1..3], &bytes[3..1500]] {
            sender.write_all(piece).await.unwrap();
            let read = tokio::time::timeout(std::time::Duration::from_millis(20), reader.next_frame()).await;
            assert!(read.is_err(), "an incomplete frame must not be returned");
        }
        sender.write_all(&bytes[1500..]).await.unwrap();
        let frame = reader.next_frame().await.unwrap();
        assert_eq!((frame.opcode, frame.masked, frame.payload), (Opcode::Binary, false, &payload[..]));
        assert_eq!(reader.last_payload(), &payload[..]);
        assert_eq!(reader.next_frame().await.unwrap().payload, b"next");
    }
}
