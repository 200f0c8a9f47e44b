//! The background writer: one thread per server that owns every open recording and frame log, buffers them and
//! writes them to disk, so that no room tick and no socket task ever waits on a disk.
//!
//! Each file is fed through its own bounded queue (`FileSink`, held by the room or the connection that produces
//! it). A producer only ever `try_send`s: when a file's queue is full the writer has fallen behind, and that file is
//! ended with a truncation marker rather than anybody waiting (a recording with a hole in it could not be replayed
//! anyway). The same happens when a file reaches its size bound, counted by the producer, which reserves room for
//! the marker. The thread wakes every `POLL`, drains every queue into a buffered file, flushes every `FLUSH_EVERY`,
//! and finishes a file (flushed, closed) once its producer is done with it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{error, info, warn};

use super::format::{EndFrame, EndReason, Frame};

/// How often the writer looks at its queues.
const POLL: Duration = Duration::from_millis(50);
/// How often buffered bytes go to the file, at the latest.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long `close` waits for producers still holding a file (connections still closing) before cutting them off.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Bytes kept free below a file's bound for its end frame.
const END_RESERVE: u64 = 256;
/// Bytes of buffer per open file.
const FILE_BUFFER: usize = 64 * 1024;

/// What the writer has done, for logs, /healthz and tests.
#[derive(Debug, Default, Serialize)]
pub struct ArchiveStats {
    pub files_opened: AtomicU64,
    pub files_finished: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Files ended early at their size bound.
    pub truncated_size: AtomicU64,
    /// Files ended early because their queue was full (the writer fell behind).
    pub truncated_behind: AtomicU64,
    /// Files that could not be created or written (each logged).
    pub write_errors: AtomicU64,
}

/// What a producer hands the writer.
enum Entry {
    Frame(Vec<u8>),
    /// The file's last frame (its end marker).
    Last(Vec<u8>),
}

/// A new file for the writer to own.
struct Open {
    path: PathBuf,
    entries: Receiver<Entry>,
}

/// The writer thread and its registration queue. Dropping it (or `close`) lets the thread finish every file and end.
pub struct Archive {
    control: Mutex<Option<mpsc::Sender<Open>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<ArchiveStats>,
}

impl Archive {
    /// Starts the writer thread.
    pub fn start() -> std::io::Result<Arc<Archive>> {
        let (control, registrations) = mpsc::channel();
        let stats = Arc::new(ArchiveStats::default());
        let thread = std::thread::Builder::new().name("recorder".into()).spawn({
            let stats = stats.clone();
            move || run(registrations, &stats)
        })?;
        Ok(Arc::new(Archive { control: Mutex::new(Some(control)), thread: Mutex::new(Some(thread)), stats }))
    }

    pub fn stats(&self) -> &Arc<ArchiveStats> {
        &self.stats
    }

    /// Opens a file at `path` (created, or truncated, by the writer thread) of at most `max_bytes`, with room for
    /// `queue` frames between producer and writer, starting with `first` (its header). `None` once closed.
    pub fn open(&self, path: PathBuf, max_bytes: u64, queue: usize, first: Vec<u8>) -> Option<FileSink> {
        let (sender, entries) = mpsc::sync_channel(queue.max(2));
        let control = self.control.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        control.as_ref()?.send(Open { path: path.clone(), entries }).ok()?;
        self.stats.files_opened.fetch_add(1, Ordering::Relaxed);
        let mut sink = FileSink {
            sender,
            path,
            written: 0,
            max_bytes: max_bytes.max(END_RESERVE * 2),
            state: SinkState::Open,
            stats: self.stats.clone(),
        };
        sink.push(first);
        Some(sink)
    }

    /// Stops taking new files and waits (off the async threads) until the writer has finished every file: those
    /// whose producer is done at once, the others within `CLOSE_GRACE`.
    pub async fn close(&self) {
        self.control.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Where a sink stands.
#[derive(Debug)]
enum SinkState {
    Open,
    /// The file is over; its end frame still has to reach the queue (which was full).
    Ending(Vec<u8>),
    /// The end frame is queued (or the writer is gone): nothing more goes in.
    Ended,
}

/// A producer's end of one file. Never blocks: see the module docs.
#[derive(Debug)]
pub struct FileSink {
    sender: SyncSender<Entry>,
    path: PathBuf,
    /// Bytes handed to the writer so far.
    written: u64,
    max_bytes: u64,
    state: SinkState,
    stats: Arc<ArchiveStats>,
}

impl FileSink {
    /// Whether frames are still being taken.
    pub fn is_open(&self) -> bool {
        matches!(self.state, SinkState::Open)
    }

    /// Bytes handed to the writer so far (the file's size once written).
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one encoded frame; false if it was not taken (the file has ended, or ends now: see the module docs).
    pub fn push(&mut self, frame: Vec<u8>) -> bool {
        match self.state {
            SinkState::Open => {}
            SinkState::Ending(_) => {
                self.deliver_end();
                return false;
            }
            SinkState::Ended => return false,
        }
        let len = frame.len() as u64;
        if self.written + len + END_RESERVE > self.max_bytes {
            self.stats.truncated_size.fetch_add(1, Ordering::Relaxed);
            warn!(path = %self.path.display(), max_bytes = self.max_bytes, "file reached its size bound; ends here");
            self.end(EndReason::SizeLimit, format!("the file reached its bound of {} bytes", self.max_bytes));
            return false;
        }
        match self.sender.try_send(Entry::Frame(frame)) {
            Ok(()) => {
                self.written += len;
                true
            }
            Err(TrySendError::Full(_)) => {
                self.stats.truncated_behind.fetch_add(1, Ordering::Relaxed);
                warn!(path = %self.path.display(), "the writer fell behind; the file ends here");
                self.end(EndReason::WriterBehind, "the writer fell behind and frames were lost".into());
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer gave up on this file (and logged why).
                self.state = SinkState::Ended;
                false
            }
        }
    }

    /// Ends the file with `reason` (if it is still open) and hands over its end frame as soon as the queue has room.
    pub fn end(&mut self, reason: EndReason, detail: String) {
        if let SinkState::Open = self.state {
            let mut detail = detail;
            // The reserve must hold the whole end frame.
            while detail.len() > 200 {
                detail.pop();
            }
            self.state = SinkState::Ending(Frame::End(EndFrame { reason, detail }).to_bytes());
        }
        self.deliver_end();
    }

    fn deliver_end(&mut self) {
        let SinkState::Ending(end) = std::mem::replace(&mut self.state, SinkState::Ended) else { return };
        let len = end.len() as u64;
        match self.sender.try_send(Entry::Last(end)) {
            Ok(()) => self.written += len,
            Err(TrySendError::Full(Entry::Last(end))) => self.state = SinkState::Ending(end),
            // The writer is gone, or (Full of a frame) cannot happen: `Last` went in.
            Err(_) => {}
        }
    }
}

/// A sink whose file is a queue in memory, for tests of its producers.
#[cfg(test)]
pub(crate) fn memory_sink(queue: usize, max_bytes: u64) -> (FileSink, MemoryFile) {
    let (sender, entries) = mpsc::sync_channel(queue);
    let sink = FileSink {
        sender,
        path: "memory".into(),
        written: 0,
        max_bytes,
        state: SinkState::Open,
        stats: Arc::new(ArchiveStats::default()),
    };
    (sink, MemoryFile { entries, bytes: Vec::new() })
}

/// The other end of `memory_sink`.
#[cfg(test)]
pub(crate) struct MemoryFile {
    entries: Receiver<Entry>,
    bytes: Vec<u8>,
}

#[cfg(test)]
impl MemoryFile {
    /// Everything written so far (the writer thread's part).
    pub(crate) fn bytes(&mut self) -> &[u8] {
        for entry in self.entries.try_iter() {
            match entry {
                Entry::Frame(bytes) | Entry::Last(bytes) => self.bytes.extend_from_slice(&bytes),
            }
        }
        &self.bytes
    }
}

/// One file the writer owns.
struct OpenFile {
    path: PathBuf,
    entries: Receiver<Entry>,
    out: BufWriter<File>,
    /// Its end frame was written.
    ended: bool,
}

impl OpenFile {
    /// Writes what is queued; false once the file is finished (or failed) and should be dropped.
    fn drain(&mut self, stats: &ArchiveStats) -> bool {
        loop {
            match self.entries.try_recv() {
                Ok(Entry::Frame(bytes)) => {
                    if !self.write(&bytes, stats) {
                        return false;
                    }
                }
                Ok(Entry::Last(bytes)) => {
                    // Written or not, nothing follows the end frame.
                    let _ = self.write(&bytes, stats);
                    self.ended = true;
                    self.finish(stats);
                    return false;
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => {
                    self.finish(stats);
                    return false;
                }
            }
        }
    }

    fn write(&mut self, bytes: &[u8], stats: &ArchiveStats) -> bool {
        match self.out.write_all(bytes) {
            Ok(()) => {
                stats.bytes_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                true
            }
            Err(e) => {
                stats.write_errors.fetch_add(1, Ordering::Relaxed);
                error!(path = %self.path.display(), error = %e, "cannot write; giving the file up");
                false
            }
        }
    }

    /// Ends the file (with an `Aborted` marker if its producer never ended it) and flushes it; the file is done.
    fn finish(&mut self, stats: &ArchiveStats) {
        if !self.ended {
            let end = Frame::End(EndFrame {
                reason: EndReason::Aborted,
                detail: "the producer stopped without ending the file".into(),
            });
            self.ended = true;
            let _ = self.write(&end.to_bytes(), stats);
        }
        if let Err(e) = self.out.flush() {
            stats.write_errors.fetch_add(1, Ordering::Relaxed);
            error!(path = %self.path.display(), error = %e, "cannot flush");
        }
        stats.files_finished.fetch_add(1, Ordering::Relaxed);
    }
}

fn create(open: Open, stats: &ArchiveStats) -> Option<OpenFile> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Frame logs hold join and resume tokens: readable by the server's user only (recordings alike, to keep it simple).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&open.path) {
        Ok(file) => {
            info!(path = %open.path.display(), "recording to file");
            Some(OpenFile {
                path: open.path,
                entries: open.entries,
                out: BufWriter::with_capacity(FILE_BUFFER, file),
                ended: false,
            })
        }
        Err(e) => {
            stats.write_errors.fetch_add(1, Ordering::Relaxed);
            error!(path = %open.path.display(), error = %e, "cannot create the file; not recording it");
            None
        }
    }
}

/// The writer thread.
fn run(registrations: Receiver<Open>, stats: &ArchiveStats) {
    let mut files: Vec<OpenFile> = Vec::new();
    let mut closing: Option<Instant> = None;
    let mut flushed = Instant::now();
    loop {
        // Waiting for a new file doubles as the pause between two rounds.
        if closing.is_none() {
            match registrations.recv_timeout(POLL) {
                Ok(open) => files.extend(create(open, stats)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closing = Some(Instant::now()),
            }
            while let Ok(open) = registrations.try_recv() {
                files.extend(create(open, stats));
            }
        } else {
            std::thread::sleep(POLL.min(Duration::from_millis(10)));
        }
        files.retain_mut(|file| file.drain(stats));
        if flushed.elapsed() >= FLUSH_EVERY {
            flushed = Instant::now();
            for file in &mut files {
                if let Err(e) = file.out.flush() {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    error!(path = %file.path.display(), error = %e, "cannot flush");
                }
            }
        }
        if let Some(since) = closing {
            if files.is_empty() {
                return;
            }
            if since.elapsed() >= CLOSE_GRACE {
                for file in &mut files {
                    file.finish(stats);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::format::{open, FileHeader, FrameReader};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("skirmish-writer-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn end_of(path: &Path) -> EndFrame {
        let bytes = std::fs::read(path).unwrap();
        let frames: Vec<Frame> = open(&bytes).unwrap().1.map(|f| f.unwrap()).collect();
        match frames.last() {
            Some(Frame::End(end)) => end.clone(),
            other => panic!("the file ends with {other:?}"),
        }
    }

    fn tick(n: u32) -> Vec<u8> {
        Frame::Tick(crate::recording::format::TickFrame { tick: n, ..Default::default() }).to_bytes()
    }

    #[test]
    fn a_full_queue_ends_the_file_without_blocking() {
        let (sender, entries) = mpsc::sync_channel(4);
        let stats = Arc::new(ArchiveStats::default());
        let mut sink = FileSink {
            sender,
            path: "test".into(),
            written: 0,
            max_bytes: 1 << 20,
            state: SinkState::Open,
            stats: stats.clone(),
        };
        // Nobody drains: four frames fit, the fifth is refused at once and the file is over.
        let started = Instant::now();
        let taken = (1..=100).filter(|&n| sink.push(tick(n))).count();
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(taken, 4);
        assert!(!sink.is_open());
        assert_eq!(stats.truncated_behind.load(Ordering::Relaxed), 1, "counted once");
        // Once the writer catches up the end frame goes in, and nothing after it.
        let queued: Vec<Entry> = entries.try_iter().collect();
        assert!(queued.iter().all(|e| matches!(e, Entry::Frame(_))));
        assert!(!sink.push(tick(101)));
        match entries.try_recv() {
            Ok(Entry::Last(bytes)) => {
                let end = FrameReader::new(&bytes, 0).next_frame().unwrap().unwrap();
                assert!(matches!(end, Frame::End(EndFrame { reason: EndReason::WriterBehind, .. })), "{end:?}");
            }
            _ => panic!("expected the end frame"),
        }
        assert!(!sink.push(tick(102)));
        assert!(entries.try_recv().is_err());
    }

    #[test]
    fn files_are_bounded_and_finished_on_close() {
        let dir = temp_dir("bounded");
        let archive = Archive::start().unwrap();
        let header = crate::recording::format::encode_header(&crate::recording::format::FrameLogHeader {
            format: crate::recording::format::FRAME_LOG_FORMAT.into(),
            version: 1,
            server: "test".into(),
            peer: "1.2.3.4:5".into(),
            started_unix_ms: 0,
        });
        let bounded = dir.join("bounded.log");
        let mut sink = archive.open(bounded.clone(), 1000, 1000, header.clone()).unwrap();
        let mut taken = 0;
        for n in 1..1000 {
            taken += usize::from(sink.push(tick(n)));
        }
        assert!(taken > 50 && taken < 1000, "{taken}");
        // A file whose producer disappears without ending it gets an `Aborted` marker.
        let abandoned = dir.join("abandoned.log");
        let mut other = archive.open(abandoned.clone(), 1 << 20, 1000, header).unwrap();
        other.push(tick(1));
        drop(other);
        drop(sink);
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(archive.close());
        let size = std::fs::metadata(&bounded).unwrap().len();
        assert!(size <= 1000, "{size} bytes");
        assert_eq!(end_of(&bounded).reason, EndReason::SizeLimit);
        assert_eq!(end_of(&abandoned).reason, EndReason::Aborted);
        let bytes = std::fs::read(&abandoned).unwrap();
        assert!(matches!(open(&bytes).unwrap().0, FileHeader::FrameLog(_)));
        assert_eq!(archive.stats().truncated_size.load(Ordering::Relaxed), 1);
        assert_eq!(archive.stats().files_finished.load(Ordering::Relaxed), 2);
        assert!(archive.open(dir.join("late.log"), 1000, 10, vec![]).is_none(), "closed");
        let _ = std::fs::remove_dir_all(dir);
    }
}
