//! A real `redis-server` for the tests of several processes behind one room directory (tests/cluster.rs and the
//! browser's redirect test): started on a free loopback port, killed when dropped. Without the Debian package
//! `redis-server` installed these tests fail, saying so.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use skirmish::config::ServerConfig;
use skirmish::directory::DirectoryConfig;

/// The cluster secret every test process shares.
pub const SECRET: &str = "a cluster secret of 32 bytes at least";
/// A short directory TTL, so that expiry is seen within a test.
pub const TTL: Duration = Duration::from_millis(900);

/// A redis-server on a free loopback port, stopped (SIGKILL) when dropped.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        Redis::on(port)
    }

    pub fn on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it (Debian: apt-get install redis-server)")
            });
        let redis = Redis { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not listen on {port} within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server in the directory `prefix` of `redis`, rooms of `max_players`.
pub fn member(redis: &Redis, prefix: &str, max_players: usize) -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.room.max_players = max_players;
    config.directory = Some(DirectoryConfig {
        redis_url: redis.url(),
        prefix: prefix.into(),
        public_url: String::new(),
        ttl: TTL,
        secret: SECRET.as_bytes().to_vec(),
        seat_ttl: Duration::from_secs(5),
    });
    config
}
