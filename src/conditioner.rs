//! A link conditioner: makes a loopback connection behave like a real network path, for measuring play feel
//! (this kernel has no netem). Every chunk of bytes, in each direction, is held for a latency with jitter and
//! released in order (it is one TCP stream: a late chunk holds back the ones behind it); a stall holds a link's
//! traffic for a while and then releases the backlog at once.
//!
//! It sits under everything else: [`Conditioner::wrap`] turns a connected `TcpStream` into an in-memory stream
//! whose far end a pump task feeds to and from the socket, so the HTTP handshake, the WebSocket frames and the
//! close handshake are all delayed alike. The server applies it to accepted connections (`--link-*` flags), the
//! bots to the connections they open.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The `--link-*` flags, shared by the server and the bots.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LinkArgs {
    /// Link conditioner (for measuring play feel on loopback): delay every chunk of every conditioned connection
    /// by this many milliseconds each way (the round trip grows by twice this). Off (0) by default.
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub link_latency_ms: u64,
    /// Link conditioner: each chunk's delay is drawn from latency ± this many milliseconds, order kept.
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub link_jitter_ms: u64,
    /// Link conditioner: stall each conditioned link for --link-stall-ms every this many seconds (at a random
    /// phase per link), then release its backlog at once.
    #[arg(long, value_name = "SECS", requires = "link_stall_ms")]
    pub link_stall_every_secs: Option<f64>,
    /// Link conditioner: how long each stall lasts.
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub link_stall_ms: u64,
    /// Link conditioner: the fraction of connections conditioned, 0 to 1 (chosen at random per connection).
    #[arg(long, default_value_t = 1.0, value_name = "P")]
    pub link_share: f64,
}

impl LinkArgs {
    /// The profile the flags describe, `None` when they change nothing.
    pub fn profile(&self) -> Result<Option<LinkProfile>, String> {
        if !(0.0..=1.0).contains(&self.link_share) {
            return Err(format!("--link-share must be between 0 and 1, got {}", self.link_share));
        }
        let stall_every = match self.link_stall_every_secs {
            Some(secs) if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) => {
                return Err(format!("--link-stall-every-secs must be above 0 and at most 3600, got {secs}"))
            }
            Some(secs) if Duration::from_millis(self.link_stall_ms).as_secs_f64() >= secs => {
                return Err(format!(
                    "a {} ms stall every {secs} s would never let the link through",
                    self.link_stall_ms
                ))
            }
            Some(secs) => Some(Duration::from_secs_f64(secs)),
            None => None,
        };
        let profile = LinkProfile {
            latency: Duration::from_millis(self.link_latency_ms),
            jitter: Duration::from_millis(self.link_jitter_ms),
            stall_every,
            stall_for: Duration::from_millis(self.link_stall_ms),
            share: self.link_share,
        };
        Ok(profile.is_active().then_some(profile))
    }
}

/// Bytes a direction holds before it stops reading (the sender then waits, as on a real path with a full window).
const MAX_HELD_BYTES: usize = 4 << 20;
/// Capacity of the in-memory pipe between the connection and the pump.
const PIPE_BYTES: usize = 256 << 10;

/// What the link does to traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkProfile {
    /// Added to every chunk, each way (so the round trip grows by twice this).
    pub latency: Duration,
    /// Each chunk's delay is drawn uniformly from `latency ± jitter` (never below 0), then pushed back to keep order.
    pub jitter: Duration,
    /// A stall every this long (with a random phase per link); `None`: no stalls.
    pub stall_every: Option<Duration>,
    /// How long each stall holds the link's traffic.
    pub stall_for: Duration,
    /// The fraction of links conditioned (0..=1); the others pass untouched.
    pub share: f64,
}

impl LinkProfile {
    /// Whether this profile changes anything at all.
    pub fn is_active(&self) -> bool {
        self.share > 0.0 && (!self.latency.is_zero() || !self.jitter.is_zero() || self.stall_every.is_some())
    }

    /// One line for the logs and reports.
    pub fn describe(&self) -> String {
        let mut line = format!("{} ms ± {} ms each way", self.latency.as_millis(), self.jitter.as_millis());
        if let Some(every) = self.stall_every {
            line += &format!(", a {} ms stall every {:.1} s", self.stall_for.as_millis(), every.as_secs_f64());
        }
        if self.share < 1.0 {
            line += &format!(", on {:.0}% of the connections", self.share * 100.0);
        }
        line
    }
}

/// Hands out conditioned links, each with its own random draws.
#[derive(Debug)]
pub struct Conditioner {
    profile: LinkProfile,
    /// Seeds the links' generators (a counter mixed per link).
    next_seed: AtomicU64,
    /// Links conditioned so far.
    pub conditioned: AtomicU64,
}

/// A stream that is either the socket itself or the near end of a conditioned link.
pub enum LinkStream {
    Direct(TcpStream),
    Conditioned(DuplexStream),
}

impl Conditioner {
    pub fn new(profile: LinkProfile, seed: u64) -> Conditioner {
        Conditioner { profile, next_seed: AtomicU64::new(seed), conditioned: AtomicU64::new(0) }
    }

    pub fn profile(&self) -> &LinkProfile {
        &self.profile
    }

    /// Conditions `stream` (or not, by the profile's share): the returned stream is what the connection reads and
    /// writes. A pump task carries the bytes until either side closes.
    pub fn wrap(&self, stream: TcpStream) -> LinkStream {
        let mut rng = Rng(self.next_seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed));
        if !self.profile.is_active() || rng.unit() >= self.profile.share {
            return LinkStream::Direct(stream);
        }
        self.conditioned.fetch_add(1, Ordering::Relaxed);
        let (near, far) = tokio::io::duplex(PIPE_BYTES);
        let stalls = Stalls::new(&self.profile, &mut rng);
        let (socket_read, socket_write) = stream.into_split();
        let (far_read, far_write) = tokio::io::split(far);
        let (profile, inward_rng) = (self.profile.clone(), Rng(rng.next()));
        tokio::spawn(carry(socket_read, far_write, profile.clone(), inward_rng, stalls.clone()));
        tokio::spawn(carry(far_read, socket_write, profile, rng, stalls));
        LinkStream::Conditioned(near)
    }
}

/// When a link's stalls fall: windows of `stall_for` every `every`, shifted by the link's own phase.
#[derive(Clone, Debug)]
struct Stalls {
    start: Instant,
    every: Option<Duration>,
    stall_for: Duration,
}

impl Stalls {
    fn new(profile: &LinkProfile, rng: &mut Rng) -> Stalls {
        let phase = profile.stall_every.map_or(Duration::ZERO, |every| every.mul_f64(rng.unit()));
        Stalls { start: Instant::now() - phase, every: profile.stall_every, stall_for: profile.stall_for }
    }

    /// `release`, or the end of the stall it falls in.
    fn hold(&self, release: Instant) -> Instant {
        let Some(every) = self.every.filter(|every| !every.is_zero()) else { return release };
        let since = release.saturating_duration_since(self.start);
        let into = Duration::from_nanos((since.as_nanos() % every.as_nanos()) as u64);
        // Stalls sit at the end of each period, so a link is not stalled the moment it opens.
        let stall_starts = every.saturating_sub(self.stall_for);
        match into >= stall_starts {
            true => release + (every - into),
            false => release,
        }
    }
}

/// Carries one direction: reads chunks as they come, holds each until its release time, writes them in order.
async fn carry<R, W>(mut from: R, mut to: W, profile: LinkProfile, mut rng: Rng, stalls: Stalls)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held: VecDeque<(Instant, Bytes)> = VecDeque::new();
    let mut held_bytes = 0usize;
    let mut last_release = Instant::now();
    let mut buf = vec![0u8; 16 << 10];
    let mut open = true;
    loop {
        let next_release = held.front().map(|(at, _)| *at);
        tokio::select! {
            read = from.read(&mut buf), if open && held_bytes < MAX_HELD_BYTES => match read {
                Ok(0) | Err(_) => open = false,
                Ok(n) => {
                    let jitter = profile.jitter.as_secs_f64() * (2.0 * rng.unit() - 1.0);
                    let delay = Duration::from_secs_f64((profile.latency.as_secs_f64() + jitter).max(0.0));
                    let release = stalls.hold((Instant::now() + delay).max(last_release));
                    last_release = release;
                    held_bytes += n;
                    held.push_back((release, Bytes::copy_from_slice(&buf[..n])));
                }
            },
            _ = tokio::time::sleep_until(next_release.unwrap_or_else(Instant::now)), if next_release.is_some() => {
                // Everything due goes out in one go (a stall's backlog is released at once).
                let now = Instant::now();
                while let Some((_, chunk)) = held.front().filter(|(at, _)| *at <= now) {
                    if to.write_all(chunk).await.is_err() {
                        return;
                    }
                    held_bytes -= chunk.len();
                    held.pop_front();
                }
            }
        }
        if !open && held.is_empty() {
            let _ = to.shutdown().await;
            return;
        }
    }
}

/// SplitMix64, for the jitter and the stall phases (nothing here needs to be reproducible across runs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

macro_rules! delegate {
    ($self:ident, $stream:ident => $call:expr) => {
        match $self.get_mut() {
            LinkStream::Direct($stream) => {
                let $stream = std::pin::Pin::new($stream);
                $call
            }
            LinkStream::Conditioned($stream) => {
                let $stream = std::pin::Pin::new($stream);
                $call
            }
        }
    };
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            LinkStream::Direct(stream) => stream.is_write_vectored(),
            LinkStream::Conditioned(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(latency_ms: u64, jitter_ms: u64) -> LinkProfile {
        LinkProfile {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            stall_every: None,
            stall_for: Duration::ZERO,
            share: 1.0,
        }
    }

    /// A loopback pair: the client's socket and the server's, conditioned on the server's side.
    async fn pair(conditioner: &Conditioner) -> (TcpStream, LinkStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, conditioner.wrap(server))
    }

    #[tokio::test]
    async fn delays_each_way_and_keeps_order() {
        let conditioner = Conditioner::new(profile(40, 15), 1);
        let (mut client, mut server) = pair(&conditioner).await;
        assert!(matches!(server, LinkStream::Conditioned(_)));
        let started = std::time::Instant::now();
        for i in 0..20u8 {
            client.write_all(&[i]).await.expect("write");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut got = [0u8; 20];
        server.read_exact(&mut got).await.expect("read");
        let inbound = started.elapsed();
        assert_eq!(got.to_vec(), (0..20).collect::<Vec<u8>>(), "bytes arrive in order");
        assert!(inbound >= Duration::from_millis(25), "the last byte came after {inbound:?}");
        let started = std::time::Instant::now();
        server.write_all(b"pong").await.expect("write");
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.expect("read");
        assert_eq!(&reply, b"pong");
        assert!(started.elapsed() >= Duration::from_millis(25), "outbound took {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_stall_holds_then_releases_the_backlog() {
        let stalls = Stalls {
            start: Instant::now(),
            every: Some(Duration::from_millis(1000)),
            stall_for: Duration::from_millis(300),
        };
        let start = stalls.start;
        assert_eq!(stalls.hold(start + Duration::from_millis(100)), start + Duration::from_millis(100));
        // 800 ms is inside the stall at 700..1000: held to its end.
        assert_eq!(stalls.hold(start + Duration::from_millis(800)), start + Duration::from_millis(1000));
        assert_eq!(stalls.hold(start + Duration::from_millis(1200)), start + Duration::from_millis(1200));
    }

    #[tokio::test]
    async fn a_share_of_zero_or_a_flat_profile_passes_the_socket_through() {
        let none = Conditioner::new(LinkProfile { share: 0.0, ..profile(50, 0) }, 1);
        assert!(matches!(pair(&none).await.1, LinkStream::Direct(_)));
        let flat = Conditioner::new(profile(0, 0), 1);
        assert!(matches!(pair(&flat).await.1, LinkStream::Direct(_)));
        let half = Conditioner::new(LinkProfile { share: 0.5, ..profile(50, 0) }, 7);
        for _ in 0..40 {
            let _ = pair(&half).await;
        }
        let conditioned = half.conditioned.load(Ordering::Relaxed);
        assert!((8..=32).contains(&conditioned), "{conditioned} of 40 links conditioned at a share of 0.5");
    }
}
