//! The client's end of a game WebSocket once the handshake is done: the server's frames read with the crate's own
//! frame reader, the client's frames written masked (RFC 6455 section 5.3), pings answered and a close echoed.
//!
//! Both directions are cancel-safe, because the bots and tests read inside `select!`s with timers: a read dropped
//! halfway through a frame leaves what arrived in the reader's buffer, and a frame dropped halfway through its write
//! stays queued and goes out, whole, before anything else. (fastwebsockets, which still does the handshake, loses a
//! half-read frame when its read is cancelled, and the stream then reads as garbage: "reserved bits are not zero".)

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

use crate::connection::frames::{frame_head, FrameError, FrameReader, Opcode};

type Stream = TokioIo<Upgraded>;

/// Bytes the frame buffer keeps between frames: a delta of a few hundred entities, so it does not grow and shrink
/// with every snapshot.
const READ_BUFFER_FLOOR: usize = 16 * 1024;

/// What the server sent, other than pings and pongs.
pub(crate) enum Received {
    /// A binary message; its payload is `Socket::payload` until the next read.
    Binary,
    /// A close frame (already echoed): its code (1005 when it had none) and reason.
    Close(u16, String),
    /// A frame this protocol never sends to a client (text, fragments): what it was.
    Unexpected(&'static str),
}

pub(crate) struct Socket {
    read: FrameReader<ReadHalf<Stream>>,
    write: WriteHalf<Stream>,
    /// Frames queued and not yet written: `out[written..]`.
    out: Vec<u8>,
    written: usize,
    /// Xorshift state for the masking keys (RFC 6455 wants them unpredictable to the page's script; here they only
    /// have to vary).
    mask_state: u64,
}

impl Socket {
    /// Takes over a socket fastwebsockets just opened, before it read anything (whatever it had buffered would be
    /// lost).
    pub(crate) fn new(stream: Stream, max_message: usize) -> Socket {
        let (read, write) = tokio::io::split(stream);
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Socket {
            read: FrameReader::new(read, max_message, READ_BUFFER_FLOOR),
            write,
            out: Vec::new(),
            written: 0,
            mask_state: u64::from_le_bytes(seed) | 1,
        }
    }

    /// The payload of the binary message `next` reported last.
    pub(crate) fn payload(&self) -> &[u8] {
        self.read.last_payload()
    }

    /// Sends one binary message.
    pub(crate) async fn send_binary(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.queue(Opcode::Binary, payload);
        self.flush().await
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes of it).
    pub(crate) async fn send_close(&mut self, code: u16, reason: &[u8]) -> std::io::Result<()> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(&reason[..reason.len().min(123)]);
        self.queue(Opcode::Close, &payload);
        self.flush().await
    }

    /// Reads until a binary message or a close arrives, answering pings; returns it and the payload bytes read.
    pub(crate) async fn next(&mut self) -> Result<(Received, u64), FrameError> {
        let mut bytes_in = 0;
        loop {
            // A pong or close echo a cancelled call queued goes out first.
            self.flush().await?;
            let frame = self.read.next_frame().await?;
            bytes_in += frame.payload.len() as u64;
            match (frame.opcode, frame.fin) {
                (Opcode::Binary, true) => return Ok((Received::Binary, bytes_in)),
                (Opcode::Ping, _) => {
                    let payload = frame.payload.to_vec();
                    self.queue(Opcode::Pong, &payload);
                }
                (Opcode::Pong, _) => {}
                (Opcode::Close, _) => {
                    let (code, reason) = super::parse_close(frame.payload);
                    let echo = if frame.payload.len() >= 2 { code.to_be_bytes().to_vec() } else { Vec::new() };
                    self.queue(Opcode::Close, &echo);
                    // The echo is a courtesy: a server that already closed its socket cannot take it.
                    let _ = self.flush().await;
                    return Ok((Received::Close(code, reason), bytes_in));
                }
                (Opcode::Text, _) => return Ok((Received::Unexpected("a text message"), bytes_in)),
                (_, _) => return Ok((Received::Unexpected("a fragmented message"), bytes_in)),
            }
        }
    }

    /// The stream back in one piece, for ending it without a close frame.
    pub(crate) fn into_inner(self) -> Stream {
        self.read.into_inner().unsplit(self.write)
    }

    /// Appends a masked frame to the queue.
    fn queue(&mut self, opcode: Opcode, payload: &[u8]) {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        let (head, used) = frame_head(opcode, payload.len(), true);
        self.out.extend_from_slice(&head[..used]);
        self.mask_state ^= self.mask_state << 13;
        self.mask_state ^= self.mask_state >> 7;
        self.mask_state ^= self.mask_state << 17;
        let mask = (self.mask_state as u32).to_be_bytes();
        self.out.extend_from_slice(&mask);
        self.out.extend(payload.iter().enumerate().map(|(index, byte)| byte ^ mask[index % 4]));
    }

    /// Writes the queue out; cancelled, it keeps what is left for the next call.
    async fn flush(&mut self) -> std::io::Result<()> {
        while self.written < self.out.len() {
            let written = self.write.write(&self.out[self.written..]).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.written += written;
        }
        Ok(())
    }
}
