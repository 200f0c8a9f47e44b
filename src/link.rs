//! The mailbox between a socket and a room: the frames a room hands to a client's writer, the way either side asks
//! for the connection to close, and the typed reason it closed for. Both the network edge and the room import this;
//! neither imports the other through it.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, watch};

use crate::codec::close_code;

/// Why a connection ended, as a closed set: counted per kind, logged, and mapped to one close code each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The peer sent a close frame or ended the stream.
    PeerClosed,
    /// The socket failed (reset, broken frame stream).
    TransportError,
    /// The server is shutting down (1001).
    ServerShutdown,
    /// Nothing was heard from the peer, not even a pong, for the idle timeout (1001).
    IdleTimeout,
    /// The client's outbox stayed full for the slow-client timeout: it is not reading (1008).
    SlowClient,
    /// No hello within the hello timeout (1008).
    HelloTimeout,
    /// The HTTP request did not arrive within the handshake timeout (no WebSocket yet, so no close frame).
    HandshakeTimeout,
    /// A message that is not valid MessagePack of the protocol, or holds an invalid value (1007).
    MalformedMessage,
    /// A message or frame over the size limit (1009).
    MessageTooBig,
    /// A WebSocket framing error: unmasked frame, oversized control frame, bad continuation (1002).
    ProtocolError,
    /// A text frame (1003).
    UnsupportedData,
    /// More messages than the rate limit allows, sustained (1008).
    MessageFlood,
    /// A message out of place: not hello first, hello twice, a sequence number not increasing (1008).
    PolicyViolation,
    /// A hello with another protocol version (4000).
    VersionMismatch,
    /// The room asked for does not exist, or there is no room to spectate (4001).
    RoomNotFound,
    /// The room has no free player slot (4002).
    RoomFull,
    /// The room has no free spectator slot (4003).
    NoSpectatorSlot,
    /// The process is at its room limit, so no room can be created (4004).
    RoomLimit,
    /// Room options out of bounds (4005).
    BadRoomOptions,
    /// The address created its quota of rooms this minute (4006).
    CreationQuota,
    /// The client's room stopped unexpectedly (1011).
    RoomCrashed,
    /// More chat lines than the chat bucket allows (1008).
    ChatFlood,
    /// A resume token that names no held seat: unknown, forged, spent or expired (4007).
    ResumeRefused,
    /// The seat was resumed over another connection (4008).
    SessionTakenOver,
    /// Authentication is on and the hello carried no join token (4010).
    AuthRequired,
    /// A join token that is malformed, unsigned, wrongly signed or lacks claims (4011).
    AuthInvalid,
    /// A join token past its expiry (4012).
    AuthExpired,
    /// A valid join token whose claims do not allow this join (4013).
    AuthForbidden,
    /// The room is on another server process: a redirect message went first (4014).
    Redirected,
    /// A seat token (join kind 6) that is forged, expired, for another process, or spent (4015).
    SeatRefused,
}

impl DisconnectReason {
    /// Every reason, in the order of `index`.
    pub const ALL: [DisconnectReason; 30] = [
        DisconnectReason::PeerClosed,
        DisconnectReason::TransportError,
        DisconnectReason::ServerShutdown,
        DisconnectReason::IdleTimeout,
        DisconnectReason::SlowClient,
        DisconnectReason::HelloTimeout,
        DisconnectReason::HandshakeTimeout,
        DisconnectReason::MalformedMessage,
        DisconnectReason::MessageTooBig,
        DisconnectReason::ProtocolError,
        DisconnectReason::UnsupportedData,
        DisconnectReason::MessageFlood,
        DisconnectReason::PolicyViolation,
        DisconnectReason::VersionMismatch,
        DisconnectReason::RoomNotFound,
        DisconnectReason::RoomFull,
        DisconnectReason::NoSpectatorSlot,
        DisconnectReason::RoomLimit,
        DisconnectReason::BadRoomOptions,
        DisconnectReason::CreationQuota,
        DisconnectReason::RoomCrashed,
        DisconnectReason::ChatFlood,
        DisconnectReason::ResumeRefused,
        DisconnectReason::SessionTakenOver,
        DisconnectReason::AuthRequired,
        DisconnectReason::AuthInvalid,
        DisconnectReason::AuthExpired,
        DisconnectReason::AuthForbidden,
        DisconnectReason::Redirected,
        DisconnectReason::SeatRefused,
    ];

    /// Position in `ALL`, for counters kept in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The WebSocket close code this reason closes with.
    pub fn code(self) -> u16 {
        match self {
            DisconnectReason::PeerClosed | DisconnectReason::TransportError => close_code::NORMAL,
            DisconnectReason::ServerShutdown | DisconnectReason::IdleTimeout => close_code::GOING_AWAY,
            DisconnectReason::SlowClient
            | DisconnectReason::HelloTimeout
            | DisconnectReason::HandshakeTimeout
            | DisconnectReason::MessageFlood
            | DisconnectReason::ChatFlood
            | DisconnectReason::PolicyViolation => close_code::POLICY_VIOLATION,
            DisconnectReason::MalformedMessage => close_code::INVALID_PAYLOAD,
            DisconnectReason::MessageTooBig => close_code::MESSAGE_TOO_BIG,
            DisconnectReason::ProtocolError => close_code::PROTOCOL_ERROR,
            DisconnectReason::UnsupportedData => close_code::UNSUPPORTED_DATA,
            DisconnectReason::VersionMismatch => close_code::VERSION_MISMATCH,
            DisconnectReason::RoomNotFound => close_code::ROOM_NOT_FOUND,
            DisconnectReason::RoomFull => close_code::ROOM_FULL,
            DisconnectReason::NoSpectatorSlot => close_code::NO_SPECTATOR_SLOT,
            DisconnectReason::RoomLimit => close_code::ROOM_LIMIT,
            DisconnectReason::BadRoomOptions => close_code::BAD_ROOM_OPTIONS,
            DisconnectReason::CreationQuota => close_code::CREATION_QUOTA,
            DisconnectReason::RoomCrashed => close_code::INTERNAL_ERROR,
            DisconnectReason::ResumeRefused => close_code::RESUME_REFUSED,
            DisconnectReason::SessionTakenOver => close_code::SESSION_TAKEN_OVER,
            DisconnectReason::AuthRequired => close_code::AUTH_REQUIRED,
            DisconnectReason::AuthInvalid => close_code::AUTH_INVALID,
            DisconnectReason::AuthExpired => close_code::AUTH_EXPIRED,
            DisconnectReason::AuthForbidden => close_code::AUTH_FORBIDDEN,
            DisconnectReason::Redirected => close_code::REDIRECTED,
            DisconnectReason::SeatRefused => close_code::SEAT_REFUSED,
        }
    }

    /// A stable snake_case name, for `/healthz` and logs.
    pub fn name(self) -> &'static str {
        match self {
            DisconnectReason::PeerClosed => "peer_closed",
            DisconnectReason::TransportError => "transport_error",
            DisconnectReason::ServerShutdown => "server_shutdown",
            DisconnectReason::IdleTimeout => "idle_timeout",
            DisconnectReason::SlowClient => "slow_client",
            DisconnectReason::HelloTimeout => "hello_timeout",
            DisconnectReason::HandshakeTimeout => "handshake_timeout",
            DisconnectReason::MalformedMessage => "malformed_message",
            DisconnectReason::MessageTooBig => "message_too_big",
            DisconnectReason::ProtocolError => "protocol_error",
            DisconnectReason::UnsupportedData => "unsupported_data",
            DisconnectReason::MessageFlood => "message_flood",
            DisconnectReason::PolicyViolation => "policy_violation",
            DisconnectReason::VersionMismatch => "version_mismatch",
            DisconnectReason::RoomNotFound => "room_not_found",
            DisconnectReason::RoomFull => "room_full",
            DisconnectReason::NoSpectatorSlot => "no_spectator_slot",
            DisconnectReason::RoomLimit => "room_limit",
            DisconnectReason::BadRoomOptions => "bad_room_options",
            DisconnectReason::CreationQuota => "room_creation_quota",
            DisconnectReason::RoomCrashed => "room_crashed",
            DisconnectReason::ChatFlood => "chat_flood",
            DisconnectReason::ResumeRefused => "resume_refused",
            DisconnectReason::SessionTakenOver => "session_taken_over",
            DisconnectReason::AuthRequired => "auth_required",
            DisconnectReason::AuthInvalid => "auth_invalid",
            DisconnectReason::AuthExpired => "auth_expired",
            DisconnectReason::AuthForbidden => "auth_forbidden",
            DisconnectReason::Redirected => "redirected",
            DisconnectReason::SeatRefused => "seat_refused",
        }
    }

    /// Whether the client broke a rule (as opposed to leaving, failing, or being let go by the server).
    pub fn is_misbehaviour(self) -> bool {
        !matches!(
            self,
            DisconnectReason::PeerClosed
                | DisconnectReason::TransportError
                | DisconnectReason::ServerShutdown
                | DisconnectReason::RoomNotFound
                | DisconnectReason::RoomFull
                | DisconnectReason::NoSpectatorSlot
                | DisconnectReason::RoomLimit
                | DisconnectReason::BadRoomOptions
                | DisconnectReason::CreationQuota
                | DisconnectReason::RoomCrashed
                | DisconnectReason::ResumeRefused
                | DisconnectReason::SessionTakenOver
                | DisconnectReason::AuthRequired
                | DisconnectReason::AuthExpired
                | DisconnectReason::AuthForbidden
                | DisconnectReason::Redirected
                | DisconnectReason::SeatRefused
        )
    }
}

/// How and why a connection is being closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub kind: DisconnectReason,
    pub code: u16,
    /// Sent to the client in the close message and the close frame.
    pub reason: String,
    /// True when answering the peer's own close frame: then only the close frame is echoed, without a close message.
    pub echo: bool,
    /// A message the writer sends just before the close message (a redirect's `[7, url, join]`).
    pub preface: Option<Vec<u8>>,
}

impl CloseReason {
    pub fn new(kind: DisconnectReason, reason: impl Into<String>) -> CloseReason {
        CloseReason { kind, code: kind.code(), reason: reason.into(), echo: false, preface: None }
    }

    /// The answer to a peer's close frame.
    pub fn echo() -> CloseReason {
        CloseReason { echo: true, ..CloseReason::new(DisconnectReason::PeerClosed, "") }
    }
}

/// What a writer sends: an encoded message, or the answer to a WebSocket-level ping.
#[derive(Debug)]
pub enum Outgoing {
    Message(Vec<u8>),
    /// One message around a body many clients share: `own[..body_at]` (this client's head), the body, then
    /// `own[body_at..]` (this client's tail). The writer sends the three in one vectored write, so the shared body
    /// is never copied per client.
    Split {
        own: OwnBytes,
        body_at: usize,
        body: Bytes,
    },
    Pong(Vec<u8>),
}

/// Bytes of a frame kept inline up to this many: a snapshot's own head and tail (tick, baseline, input sequence, a
/// hit or two and the exact velocity) come to 10 to 30.
const OWN_INLINE: usize = 46;

/// A client's own bytes of a frame around a shared body. Kept inline, so the room's tick allocates nothing per
/// client for them; a longer one (a burst of hits) goes to the heap.
#[derive(Debug, Clone)]
pub enum OwnBytes {
    Inline { len: u8, bytes: [u8; OWN_INLINE] },
    Heap(Vec<u8>),
}

impl From<&[u8]> for OwnBytes {
    fn from(slice: &[u8]) -> OwnBytes {
        match slice.len() {
            len @ 0..=OWN_INLINE => {
                let mut bytes = [0; OWN_INLINE];
                bytes[..len].copy_from_slice(slice);
                OwnBytes::Inline { len: len as u8, bytes }
            }
            _ => OwnBytes::Heap(slice.to_vec()),
        }
    }
}

impl std::ops::Deref for OwnBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            OwnBytes::Inline { len, bytes } => &bytes[..usize::from(*len)],
            OwnBytes::Heap(bytes) => bytes,
        }
    }
}

impl Outgoing {
    /// The message in one piece, or `None` for a pong (tests and benches read frames through this).
    pub fn into_message(self) -> Option<Vec<u8>> {
        match self {
            Outgoing::Message(bytes) => Some(bytes),
            Outgoing::Split { .. } => self.parts().map(|parts| parts.concat()),
            Outgoing::Pong(_) => None,
        }
    }

    /// Payload bytes on the wire.
    pub fn len(&self) -> usize {
        match self {
            Outgoing::Message(bytes) | Outgoing::Pong(bytes) => bytes.len(),
            Outgoing::Split { own, body, .. } => own.len() + body.len(),
        }
    }

    /// A split message's three parts in wire order (`None` for the others).
    pub fn parts(&self) -> Option<[&[u8]; 3]> {
        match self {
            Outgoing::Split { own, body_at, body } => {
                let (head, tail) = own.split_at((*body_at).min(own.len()));
                Some([head, body, tail])
            }
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A client's bounded outbox of frames. Frames travel boxed: the channel allocates its slots 32 at a time and an
/// open connection holds two such blocks for its whole life, so a pointer-sized slot instead of a 64-byte frame
/// keeps every connection about 3.5 KiB smaller, for one small allocation per frame.
#[derive(Clone, Debug)]
pub struct Outbox(mpsc::Sender<Box<Outgoing>>);

impl Outbox {
    /// Queues a frame unless the outbox is full or its writer is gone (the frame comes back in the error).
    pub fn try_send(&self, frame: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        self.0.try_send(Box::new(frame)).map_err(|error| match error {
            TrySendError::Full(frame) => TrySendError::Full(*frame),
            TrySendError::Closed(frame) => TrySendError::Closed(*frame),
        })
    }
}

/// The writer's end of an [`Outbox`].
#[derive(Debug)]
pub struct OutboxReceiver(mpsc::Receiver<Box<Outgoing>>);

impl OutboxReceiver {
    /// The next frame; `None` once every link to this client is gone and the outbox is empty.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        self.0.recv().await.map(|frame| *frame)
    }

    pub fn try_recv(&mut self) -> Result<Outgoing, TryRecvError> {
        self.0.try_recv().map(|frame| *frame)
    }
}

/// The room's handle on a client: its bounded outbox and a way to close it.
#[derive(Clone, Debug)]
pub struct ClientLink {
    pub outbox: Outbox,
    pub(crate) closer: Arc<watch::Sender<Option<CloseReason>>>,
}

impl ClientLink {
    /// A link with an outbox of `capacity` frames; the receivers go to the writer.
    pub fn new(capacity: usize) -> (ClientLink, OutboxReceiver, watch::Receiver<Option<CloseReason>>) {
        let (outbox, outbox_rx) = mpsc::channel(capacity.max(1));
        let (closer, close_rx) = watch::channel(None);
        (ClientLink { outbox: Outbox(outbox), closer: Arc::new(closer) }, OutboxReceiver(outbox_rx), close_rx)
    }

    /// Asks the writer to close the connection; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        close_with(&self.closer, reason);
    }
}

/// Sets the close reason unless one is set already: the first reason given wins.
pub(crate) fn close_with(closer: &watch::Sender<Option<CloseReason>>, reason: CloseReason) {
    closer.send_if_modified(|current| current.is_none() && current.replace(reason).is_none());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_bytes_keep_short_heads_inline_and_long_ones_whole() {
        let short: Vec<u8> = (0..OWN_INLINE as u8).collect();
        let own = OwnBytes::from(&short[..]);
        assert!(matches!(own, OwnBytes::Inline { .. }));
        assert_eq!(&own[..], &short[..]);
        let long: Vec<u8> = (0..=OWN_INLINE as u8).collect();
        let own = OwnBytes::from(&long[..]);
        assert!(matches!(own, OwnBytes::Heap(_)));
        assert_eq!(&own[..], &long[..]);
        assert!(OwnBytes::from(&[][..]).is_empty());
    }

    #[test]
    fn a_split_message_reads_back_whole() {
        let split =
            Outgoing::Split { own: OwnBytes::from(&[1, 2, 6][..]), body_at: 2, body: Bytes::from_static(&[3, 4, 5]) };
        assert_eq!(split.len(), 6);
        assert_eq!(split.into_message(), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(Outgoing::Pong(vec![9]).into_message(), None);
    }

    #[test]
    fn reasons_are_listed_in_index_order_with_distinct_names() {
        for (i, reason) in DisconnectReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let mut names: Vec<_> = DisconnectReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DisconnectReason::ALL.len());
    }

    #[test]
    fn the_first_close_reason_wins() {
        let (link, _outbox, close_rx) = ClientLink::new(1);
        link.close(CloseReason::new(DisconnectReason::SlowClient, "client too slow"));
        link.close(CloseReason::new(DisconnectReason::IdleTimeout, "idle"));
        let reason = close_rx.borrow().clone().unwrap();
        assert_eq!(
            (reason.kind, reason.code, reason.reason.as_str()),
            (DisconnectReason::SlowClient, 1008, "client too slow")
        );
    }
}
