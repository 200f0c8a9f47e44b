//! The writer half of a connection: drains the client's bounded outbox onto the socket, framing what the server
//! sends itself (unmasked server frames are a few header bytes, so a snapshot body shared by many clients goes out in
//! one vectored write per client, never copied). It pings a silent peer and closes one that stays silent, never
//! blocks on a peer that stopped reading once a close is due, and ends every close with the close message, the close
//! frame and a FIN.

use std::future::Future;
use std::io::IoSlice;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

use super::frames::{frame_head, Opcode};
use super::{closing, LastHeard, Transport};
use crate::codec::{self, close_code};
use crate::config::Limits;
use crate::link::{close_with, CloseReason, DisconnectReason, OutboxReceiver, Outgoing};
use crate::protocol::ServerMessage;
use crate::recording::format::Direction;
use crate::recording::FrameLog;

/// Why a write did not complete.
enum WriteStop {
    /// The socket failed: nothing more can be written.
    Broken,
    /// A close was requested, or the peer went silent, while the write waited on a peer that is not reading.
    Interrupted,
}

/// Writes one frame whose payload is the concatenation of `parts`, with vectored writes and no copy.
async fn write_frame<S: Transport>(write: &mut WriteHalf<S>, opcode: Opcode, parts: &[&[u8]]) -> std::io::Result<()> {
    let len = parts.iter().map(|part| part.len()).sum();
    let (head, head_len) = frame_head(opcode, len, false);
    let mut slices = [IoSlice::new(&[]); 4];
    slices[0] = IoSlice::new(&head[..head_len]);
    for (slot, part) in slices[1..].iter_mut().zip(parts) {
        *slot = IoSlice::new(part);
    }
    let mut pending = &mut slices[..1 + parts.len().min(3)];
    IoSlice::advance_slices(&mut pending, 0);
    while !pending.is_empty() {
        match write.write_vectored(pending).await? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            written => IoSlice::advance_slices(&mut pending, written),
        }
    }
    Ok(())
}

/// A frame the writer is about to send.
enum Pending {
    Outgoing(Outgoing),
    Ping,
}

/// Logs a frame that went out (`--log-frames`), as it went: opcode and payload.
fn log_out(log: Option<&FrameLog>, opcode: Opcode, parts: &[&[u8]]) {
    if let Some(log) = log {
        log.record(Direction::Out, opcode as u8, true, parts);
    }
}

fn log_pending(log: Option<&FrameLog>, pending: &Pending) {
    match pending {
        Pending::Outgoing(Outgoing::Message(bytes)) => log_out(log, Opcode::Binary, &[bytes]),
        Pending::Outgoing(split @ Outgoing::Split { .. }) => {
            log_out(log, Opcode::Binary, &split.parts().unwrap_or_default())
        }
        Pending::Outgoing(Outgoing::Pong(payload)) => log_out(log, Opcode::Pong, &[payload]),
        Pending::Ping => log_out(log, Opcode::Ping, &[b"skirmish"]),
    }
}

async fn write_pending<S: Transport>(write: &mut WriteHalf<S>, pending: &Pending) -> std::io::Result<()> {
    match pending {
        Pending::Outgoing(Outgoing::Message(bytes)) => write_frame(write, Opcode::Binary, &[bytes]).await,
        Pending::Outgoing(split @ Outgoing::Split { .. }) => {
            write_frame(write, Opcode::Binary, &split.parts().unwrap_or_default()).await
        }
        Pending::Outgoing(Outgoing::Pong(payload)) => write_frame(write, Opcode::Pong, &[payload]).await,
        Pending::Ping => write_frame(write, Opcode::Ping, &[b"skirmish"]).await,
    }
}

/// The limits the writer applies: only these, so that its task (alive as long as the connection) stays small.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriterLimits {
    ping_interval: Duration,
    idle_timeout: Duration,
    shutdown_grace: Duration,
}

impl From<&Limits> for WriterLimits {
    fn from(limits: &Limits) -> WriterLimits {
        WriterLimits {
            ping_interval: limits.ping_interval,
            idle_timeout: limits.idle_timeout,
            shutdown_grace: limits.shutdown_grace,
        }
    }
}

pub(super) async fn write_loop<S: Transport>(
    mut write: WriteHalf<S>,
    mut outbox: OutboxReceiver,
    close_rx: watch::Receiver<Option<CloseReason>>,
    closer: Arc<watch::Sender<Option<CloseReason>>>,
    last_heard: Arc<LastHeard>,
    limits: WriterLimits,
    frame_log: Option<FrameLog>,
) {
    let idle_reason = || {
        let silent = limits.idle_timeout.as_secs_f64();
        CloseReason::new(DisconnectReason::IdleTimeout, format!("idle timeout: nothing received for {silent} s"))
    };
    let mut pinged_at: Option<Instant> = None;
    // Ping after each ping interval of silence (counted from the last message or the last ping); a peer that
    // answers moves `heard` and is never idle. One timer serves both checks: armed for the earliest either could be
    // due and re-armed only when it fires (`heard` only moves forward, so firing early just means looking again),
    // instead of two timers registered per frame.
    let due = |pinged_at: Option<Instant>| {
        let heard = last_heard.at();
        let (idle_at, ping_at) =
            (heard + limits.idle_timeout, pinged_at.map_or(heard, |at| at.max(heard)) + limits.ping_interval);
        (idle_at, ping_at, idle_at.min(ping_at))
    };
    let housekeeping = tokio::time::sleep_until(due(None).2);
    let closed = closing(close_rx.clone());
    tokio::pin!(housekeeping, closed);
    loop {
        let frame = tokio::select! {
            biased;
            _ = &mut closed => break,
            _ = &mut housekeeping => {
                let now = Instant::now();
                let (idle_at, ping_at, _) = due(pinged_at);
                if idle_at <= now {
                    close_with(&closer, idle_reason());
                    // `closed` resolves next.
                    continue;
                }
                let ping = ping_at <= now;
                if ping {
                    pinged_at = Some(now);
                }
                housekeeping.as_mut().reset(due(pinged_at).2);
                if !ping {
                    continue;
                }
                Pending::Ping
            }
            message = outbox.recv() => match message {
                Some(message) => Pending::Outgoing(message),
                None => break,
            },
        };
        match write_interruptibly(&mut write, &frame, closed.as_mut(), &last_heard, limits.idle_timeout).await {
            Ok(()) => log_pending(frame_log.as_ref(), &frame),
            Err(WriteStop::Broken) => return,
            Err(WriteStop::Interrupted) => {
                if close_rx.borrow().is_none() {
                    close_with(&closer, idle_reason());
                }
                // The peer is not reading: a close frame would only block again.
                return;
            }
        }
    }
    let reason = close_rx.borrow().clone().unwrap_or_else(|| CloseReason::new(DisconnectReason::PeerClosed, ""));
    let flush = async {
        if let Some(preface) = &reason.preface {
            write_frame(&mut write, Opcode::Binary, &[preface]).await?;
            log_out(frame_log.as_ref(), Opcode::Binary, &[preface]);
        }
        if !reason.echo && reason.code != close_code::NORMAL {
            let message =
                codec::encode_server(&ServerMessage::Close { code: reason.code, reason: reason.reason.clone() });
            write_frame(&mut write, Opcode::Binary, &[&message]).await?;
            log_out(frame_log.as_ref(), Opcode::Binary, &[&message]);
        }
        // A close frame's reason is at most 123 bytes (RFC 6455 section 5.5).
        let mut end = reason.reason.len().min(123);
        while !reason.reason.is_char_boundary(end) {
            end -= 1;
        }
        let close = [&reason.code.to_be_bytes()[..], &reason.reason.as_bytes()[..end]];
        write_frame(&mut write, Opcode::Close, &close).await?;
        log_out(frame_log.as_ref(), Opcode::Close, &close);
        // A FIN after the close frame: the peer's read ends cleanly once it has read everything.
        write.shutdown().await
    };
    // A peer that stopped reading cannot hold the writer past the grace period. Boxed: it runs once, at the end,
    // and inline it would be part of the writer's task for the connection's whole life.
    let _ = timeout(limits.shutdown_grace, Box::pin(flush)).await;
}

/// Writes one frame unless a close is requested, or the peer falls silent for the idle timeout, while the write
/// waits on a full socket. `closed` is the writer's pinned `closing` future; on `Interrupted` it may have resolved.
async fn write_interruptibly<S: Transport>(
    write: &mut WriteHalf<S>,
    frame: &Pending,
    mut closed: std::pin::Pin<&mut impl Future<Output = ()>>,
    last_heard: &LastHeard,
    idle_timeout: Duration,
) -> Result<(), WriteStop> {
    let writing = write_pending(write, frame);
    tokio::pin!(writing);
    // Nearly every write completes at once: only a write that waits needs the close and idle watch (and a timer).
    if let Poll::Ready(result) = std::future::poll_fn(|cx| Poll::Ready(writing.as_mut().poll(cx))).await {
        return result.map_err(|_| WriteStop::Broken);
    }
    loop {
        let idle_deadline = last_heard.at() + idle_timeout;
        tokio::select! {
            result = &mut writing => return result.map_err(|_| WriteStop::Broken),
            _ = closed.as_mut() => return Err(WriteStop::Interrupted),
            _ = tokio::time::sleep_until(idle_deadline) => {
                if last_heard.at() + idle_timeout <= Instant::now() {
                    return Err(WriteStop::Interrupted);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_heads_use_the_shortest_length_encoding() {
        // RFC 6455 section 5.2: 7-bit lengths up to 125, then 126 + u16, then 127 + u64; FIN set, no mask.
        assert_eq!(frame_head(Opcode::Binary, 0, false), ([0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(frame_head(Opcode::Pong, 125, false).0[..2], [0x8a, 125]);
        assert_eq!(frame_head(Opcode::Binary, 126, false), ([0x82, 126, 0, 126, 0, 0, 0, 0, 0, 0], 4));
        assert_eq!(frame_head(Opcode::Close, 65535, false), ([0x88, 126, 0xff, 0xff, 0, 0, 0, 0, 0, 0], 4));
        assert_eq!(frame_head(Opcode::Binary, 65536, false), ([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0], 10));
        // A client's frame (the crate's client) sets the mask bit over the same length encoding.
        assert_eq!(frame_head(Opcode::Binary, 5, true).0[..2], [0x82, 0x85]);
        assert_eq!(frame_head(Opcode::Close, 300, true), ([0x88, 0xfe, 1, 44, 0, 0, 0, 0, 0, 0], 4));
    }
}
