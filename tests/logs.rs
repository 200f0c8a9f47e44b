//! The server binary's logs: with `--log-format json` every line is one JSON object, and the warning for a
//! misbehaving client carries its connection's span (peer, room, role, player, name) and the close's kind, code
//! and reason.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde_json::Value;
use skirmish::client::GameClient;

/// The server process, killed when the test ends however it ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_connection_span_on_a_misbehaving_clients_warning() {
    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_skirmish"))
            .args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("server binary starts"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("address line");
    // Read stderr on a thread: lines arrive as the server logs them.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let url = format!("ws://{addr}/ws");
    let mut ana = common::within("connect", GameClient::connect(&url, "ana")).await.expect("joins");
    let (player, room) = (ana.player_id(), ana.welcome.room.id.clone());
    ana.send_bytes(vec![0xc1]).await.expect("garbage sent");
    let (code, _) = common::close_of(&mut ana).await;
    assert_eq!(code, 1007);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let warning = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no warning for the misbehaving client; lines so far:\n{}", seen.join("\n")));
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        seen.push(line);
        if value["fields"]["message"] == "closing misbehaving client" {
            break value;
        }
    };
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["fields"]["kind"], "malformed_message", "{warning}");
    assert_eq!(warning["fields"]["code"], 1007, "{warning}");
    let span = &warning["span"];
    assert_eq!(span["name"], "connection", "{warning}");
    assert_eq!(span["room"], room.as_str(), "{warning}");
    assert_eq!(span["role"], "player", "{warning}");
    assert_eq!(span["player"], player, "{warning}");
    assert_eq!(span["name"], "connection");
    assert!(span["peer"].as_str().is_some_and(|peer| peer.starts_with("127.0.0.1:")), "{warning}");
    // The room's own lines carry the room's span.
    let room_line = seen
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|value| value["fields"]["message"] == "room open")
        .expect("a room open line");
    assert_eq!(room_line["span"]["name"], "room", "{room_line}");
    assert_eq!(room_line["span"]["room"], room.as_str(), "{room_line}");
}
