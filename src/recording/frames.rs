//! Frame logs (`--log-frames PEER_IP`): every WebSocket frame a watched peer's connection sends and receives, with
//! its time and direction, written through the background writer like a recording. The reader and the writer task
//! of the connection share one log; neither ever waits for it (see `writer`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::format::{encode_header, Direction, EndReason, FrameLogHeader, WireFrame, FORMAT_VERSION, FRAME_LOG_FORMAT};
use super::writer::FileSink;
use super::{unix_millis, Recorder, SERVER};

/// Frames queued between a connection and the writer (a connection sends about 60 a second).
const QUEUE: usize = 4096;

/// One connection's frame log; clones share it.
#[derive(Clone, Debug)]
pub struct FrameLog(Arc<Mutex<Log>>);

#[derive(Debug)]
struct Log {
    sink: FileSink,
    opened: Instant,
}

impl FrameLog {
    /// Opens the log of a connection from `peer`, if that peer is watched.
    pub(super) fn open(recorder: &Recorder, peer: SocketAddr) -> Option<FrameLog> {
        let config = recorder.config();
        let dir = config.frames_dir.as_ref()?;
        if !config.log_frames.contains(&peer.ip()) {
            return None;
        }
        let now = SystemTime::now();
        let header = FrameLogHeader {
            format: FRAME_LOG_FORMAT.into(),
            version: FORMAT_VERSION,
            server: SERVER.into(),
            peer: peer.to_string(),
            started_unix_ms: unix_millis(now),
        };
        // `:` is no character for a file name everywhere (IPv6 addresses are full of them).
        let peer_name = format!("{}-{}", peer.ip(), peer.port()).replace(':', "_");
        let path = dir.join(format!("frames-{peer_name}-{}.log", unix_millis(now) / 1000));
        let sink = recorder.archive().open(path, config.max_bytes, QUEUE, encode_header(&header))?;
        Some(FrameLog(Arc::new(Mutex::new(Log { sink, opened: Instant::now() }))))
    }

    /// Logs one frame whose payload is the concatenation of `parts` (as the writer sends them).
    pub fn record(&self, direction: Direction, opcode: u8, fin: bool, parts: &[&[u8]]) {
        let mut log = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !log.sink.is_open() {
            return;
        }
        let frame = WireFrame {
            micros: log.opened.elapsed().as_micros() as u64,
            direction,
            opcode,
            fin,
            payload: parts.concat(),
        };
        let mut bytes = Vec::with_capacity(frame.payload.len() + 16);
        frame.encode(&mut bytes);
        log.sink.push(bytes);
    }

    /// Ends the log: the connection is closed.
    pub fn close(&self) {
        let mut log = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        log.sink.end(EndReason::ConnectionClosed, String::new());
    }
}
