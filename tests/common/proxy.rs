//! A loopback TCP proxy for the tests that need a network that fails: it sits between a client (a browser) and
//! the server, and can cut every connection through it (both sockets dropped, no close frame reaches either side,
//! as when a player's Wi-Fi drops) and refuse new ones for a while.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A loopback TCP proxy in front of the server that can cut every connection through it and refuse new ones.
pub struct Proxy {
    pub addr: SocketAddr,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    /// While set, new connections are closed at once.
    pub refusing: Arc<AtomicBool>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(server: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (live_in, refusing_in) = (live.clone(), refusing.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if refusing_in.load(Ordering::Relaxed) {
                    continue; // dropped: the connection is closed at once
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(server).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                live_in.lock().unwrap().push(relay.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, live, refusing, accept }
    }

    /// Ends every connection through the proxy (both sockets dropped: no close frame reaches either side).
    pub fn cut(&self) {
        for relay in self.live.lock().unwrap().drain(..) {
            relay.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
