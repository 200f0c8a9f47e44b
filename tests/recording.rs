//! Recording and replay against a real server: bots play in two rooms of a server started with `--record`, and
//! after shutdown each room's file replays with every checksum equal (through the library and `skirmish replay`);
//! a copy with one recorded input altered is caught at that tick, with the entity and the field; a small size bound
//! ends a file with its marker while the room plays on; a watched peer's frame log shows what went over the wire;
//! `skirmish inspect` prints JSON lines for both; a recording served with `--replay` is watched by a spectator as
//! it was recorded, paused and sped up from the chat. The tests print the recording's size per minute and the
//! replay's speed (a 50-player room in its own test).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skirmish::client::{GameClient, ServerEvent};
use skirmish::config::ServerConfig;
use skirmish::protocol::{ClientMessage, Join};
use skirmish::recording::format::{self, EndReason, EntityRecord, FileHeader, Frame, Op, TickFrame};
use skirmish::recording::replay::{Divergence, EntityDifference, Replayer};
use skirmish::recording::{replay, Recording, RecordingConfig, ReplayReport};
use skirmish::swarm::{self, Progress, RoomsConfig};
use tokio::sync::watch;

/// The bot runs take turns: each is a room's load for a debug build on a shared machine.
static PLAYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh directory under target/ for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("recording-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

fn recording_server(dir: &Path) -> ServerConfig {
    let mut config = ServerConfig::for_tests();
    config.recording = RecordingConfig {
        dir: Some(dir.to_path_buf()),
        max_bytes: 64 << 20,
        checksum_every: 30,
        state_every: 1,
        log_frames: Vec::new(),
        frames_dir: None,
    };
    config
}

/// The files in `dir` whose name ends with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Runs the server binary with `args`; returns its exit code and stdout.
fn skirmish(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_skirmish")).args(args).output().expect("run skirmish");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `skirmish inspect FILE`, every line parsed as JSON.
fn inspect(path: &Path) -> Vec<serde_json::Value> {
    let (code, stdout) = skirmish(&["inspect", &path.to_string_lossy()]);
    assert_eq!(code, 0, "inspect {}", path.display());
    stdout.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))).collect()
}

/// What a room's recording weighs per minute of play, and how fast it replayed.
fn measure(what: &str, path: &Path, report: &ReplayReport, players: usize) {
    let bytes = std::fs::metadata(path).expect("the recording").len();
    let minutes = report.ticks as f64 / f64::from(report.header.tick_rate) / 60.0;
    eprintln!(
        "{what}: {players} players, {} ticks ({:.1} s) in {bytes} bytes: {:.0} KB per minute; replayed at {:.0} \
         ticks/s (debug build)",
        report.ticks,
        minutes * 60.0,
        bytes as f64 / minutes / 1000.0,
        report.ticks_per_second(),
    );
}

/// The frames of a recording re-encoded, `change` given each tick frame until it says it changed one.
fn altered(bytes: &[u8], mut change: impl FnMut(&mut TickFrame) -> bool) -> Vec<u8> {
    let (_, frames) = format::open(bytes).expect("a recording");
    let mut out = bytes[..frames.offset()].to_vec();
    let mut changed = false;
    for frame in frames {
        let mut frame = frame.expect("a frame");
        if let Frame::Tick(tick) = &mut frame {
            changed = changed || change(tick);
        }
        frame.encode(&mut out);
    }
    assert!(changed, "nothing was altered");
    out
}

/// The first checksum tick from `from` on at which a player alive the tick before has a recorded input, with that
/// player's id.
fn live_input_at_a_check(bytes: &[u8], from: u32) -> (u32, u32) {
    let (FileHeader::Recording(header), frames) = format::open(bytes).expect("a recording") else {
        panic!("not a recording")
    };
    let mut replayer = Replayer::new(&header).expect("a valid header");
    for frame in frames {
        let Frame::Tick(tick) = frame.expect("a frame") else { break };
        if tick.tick >= from && tick.check.is_some() {
            let alive: Vec<u32> = replayer.world().players().filter(|p| p.is_alive()).map(|p| p.id.wire_id()).collect();
            let live = tick.ops.iter().find_map(|op| match op {
                Op::Input { id, .. } if alive.contains(id) => Some(*id),
                _ => None,
            });
            if let Some(id) = live {
                return (tick.tick, id);
            }
        }
        assert_eq!(replayer.apply(&tick).expect("replays"), None, "the original replays");
    }
    panic!("no checksum tick from {from} on with an input of a live player")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_in_two_rooms_are_recorded_and_replay_with_every_checksum_equal() {
    let _turn = PLAYING.lock().await;
    let dir = temp_dir("two-rooms");
    let server = start(recording_server(&dir)).await;
    let lobby = server.lobby.clone();
    let (_stop_tx, stop) = watch::channel(false);
    let mut bots = swarm_config(url(&server), 12, 5.0);
    bots.rooms = Some(RoomsConfig::new(2));
    // Some bots drop their connection and resume their seat: held seats and resumes are recorded too.
    bots.churn_per_minute = 6.0;
    let report = within("swarm", swarm::run(bots, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    assert_eq!(report.connected, 12, "{}", report.render());
    let mut rooms: Vec<String> = lobby.all().iter().map(|room| room.id.clone()).collect();
    rooms.sort();
    assert_eq!(rooms.len(), 2);
    server.shutdown().await;
    let stats = lobby.recorder().expect("recording is on").stats();
    assert_eq!(stats.files_finished.load(Ordering::Relaxed), 2);
    assert_eq!(stats.truncated_behind.load(Ordering::Relaxed) + stats.truncated_size.load(Ordering::Relaxed), 0);

    let recordings = files(&dir, ".skrec");
    let names: Vec<String> = recordings.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for (name, room) in names.iter().zip(&rooms) {
        let (id, time) = name.trim_end_matches(".skrec").split_once('-').expect("<room id>-<start unix time>");
        assert_eq!(id, room);
        assert!(time.parse::<u64>().is_ok_and(|t| t > 1_700_000_000), "{name}");
    }
    for path in &recordings {
        let bytes = std::fs::read(path).expect("read the recording");
        let report = replay(&bytes).expect("the recording replays");
        assert_eq!(report.difference, None, "{report}");
        assert!(report.ticks >= 120 && report.checks >= 4, "{report}");
        assert_eq!(report.checks, report.states);
        assert_eq!(report.end.as_ref().map(|end| end.reason), Some(EndReason::Shutdown), "{report}");
        measure("room of 6 bots", path, &report, 6);
        let (code, stdout) = skirmish(&["replay", &path.to_string_lossy()]);
        assert_eq!(code, 0, "{stdout}");
        assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
        assert!(stdout.contains("ticks/s"), "{stdout}");

        // Inspect: the header, one line per tick, the end.
        let lines = inspect(path);
        assert_eq!(lines[0]["header"]["format"], "skirmish-recording");
        assert_eq!(lines[0]["header"]["map"]["width"], 2400, "the map itself is in the header");
        assert_eq!(lines.len() as u64, 1 + report.ticks + 1);
        assert_eq!(lines[1]["tick"], 1);
        let joins =
            lines.iter().flat_map(|l| l["ops"].as_array().cloned().unwrap_or_default()).filter(|op| op["op"] == "join");
        assert!(joins.count() >= 6, "six bots joined each room");
        assert!(lines.iter().any(|l| l["checksum"]["state"].as_array().is_some_and(|s| !s.is_empty())));
        assert_eq!(lines.last().unwrap()["end"], "server shutdown");
    }

    // One input altered in a copy: the replay stops at that tick, on that player, at its aim.
    let original = std::fs::read(&recordings[0]).unwrap();
    let (tick, player) = live_input_at_a_check(&original, 60);
    let mut recorded_aim = 0;
    let copy = altered(&original, |frame| {
        if frame.tick != tick {
            return false;
        }
        for op in &mut frame.ops {
            if let Op::Input { id, input } = op {
                if *id == player {
                    recorded_aim = input.aim;
                    input.aim = input.aim.wrapping_add(20_000);
                    return true;
                }
            }
        }
        false
    });
    assert_eq!(copy.len(), original.len(), "the same bytes but for the aim (same width)");
    let report = replay(&copy).expect("the altered copy replays");
    let difference = report.difference.clone().expect("the alteration is caught");
    assert_eq!(difference.tick, tick, "{report}");
    let expected = EntityDifference::Field {
        field: "aim",
        // Compared as snapshots carry it, in 256 steps.
        recorded: skirmish::snapshot::wire_aim(recorded_aim),
        replayed: skirmish::snapshot::wire_aim(recorded_aim.wrapping_add(20_000)),
    };
    match difference.divergence {
        Divergence::Entity { id, difference, .. } => assert_eq!((id, difference), (player, expected), "{report}"),
        other => panic!("{other:?}"),
    }
    let altered_path = dir.join("altered.skrec");
    std::fs::write(&altered_path, &copy).unwrap();
    let (code, stdout) = skirmish(&["replay", &altered_path.to_string_lossy()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(&format!("DIFFERENT at tick {tick}: player {player} field aim")), "{stdout}");

    // A file that is not a recording is a bad file.
    let junk = dir.join("junk.skrec");
    std::fs::write(&junk, b"\x93\x01\x02\x03").unwrap();
    assert_eq!(skirmish(&["replay", &junk.to_string_lossy()]).0, 2);
    assert_eq!(skirmish(&["inspect", &junk.to_string_lossy()]).0, 2);
    assert_eq!(skirmish(&["replay", &dir.join("missing.skrec").to_string_lossy()]).0, 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_past_its_bound_ends_with_a_marker_and_the_room_plays_on() {
    let _turn = PLAYING.lock().await;
    let dir = temp_dir("bounded");
    let mut config = recording_server(&dir);
    config.recording.max_bytes = 4096;
    let server = start(config).await;
    let lobby = server.lobby.clone();
    let clients = [connect(&server, "one").await, connect(&server, "two").await, connect(&server, "three").await];
    let counts = futures_join(clients.map(|client| play_for(client, Duration::from_secs(4)))).await;
    for count in &counts {
        count.assert_nearly_every_tick("a player", 60, 80);
    }
    let stats = lobby.recorder().expect("recording is on").stats();
    assert_eq!(stats.truncated_size.load(Ordering::Relaxed), 1);
    // The operator sees it too: on /metrics and /healthz.
    let (_, metrics) = http(server.local_addr, "GET", "/metrics", "").await;
    assert!(metrics.contains("skirmish_recordings_truncated_total{reason=\"size\"} 1"), "{metrics}");
    assert!(metrics.contains("skirmish_recordings_opened_total 1"), "{metrics}");
    let (_, health) = http_json(server.local_addr, "GET", "/healthz", "").await;
    assert_eq!(health["recording"]["truncated_size"], 1, "{health}");
    assert!(health["recording"]["bytes_written"].as_u64().unwrap_or(0) > 3000, "{health}");
    server.shutdown().await;
    let [path] = files(&dir, ".skrec").try_into().expect("one recording");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 4096 && size > 3500, "{size} bytes");
    let report = replay(&std::fs::read(&path).unwrap()).expect("a truncated recording replays");
    assert_eq!(report.difference, None, "{report}");
    assert_eq!(report.end.as_ref().map(|end| end.reason), Some(EndReason::SizeLimit), "{report}");
    assert!(report.to_string().contains("truncated (size limit)"), "{report}");
    assert!(u64::from(counts[0].last) > report.ticks + 30, "the room played on past the recording");
    let (code, stdout) = skirmish(&["replay", &path.to_string_lossy()]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(inspect(&path).last().unwrap()["end"], "size limit");
    let _ = std::fs::remove_dir_all(dir);
}

/// Awaits every future of an array (the tests' clients play side by side).
async fn futures_join<F: std::future::Future>(futures: [F; 3]) -> [F::Output; 3] {
    let [a, b, c] = futures;
    let (a, b, c) = tokio::join!(a, b, c);
    [a, b, c]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_peer_s_frames_are_logged_and_inspected_as_json_lines() {
    let _turn = PLAYING.lock().await;
    let dir = temp_dir("frames");
    let mut config = ServerConfig::for_tests();
    config.recording = RecordingConfig {
        dir: None,
        max_bytes: 1 << 20,
        checksum_every: 30,
        state_every: 1,
        log_frames: vec!["127.0.0.1".parse().unwrap()],
        frames_dir: Some(dir.clone()),
    };
    let server = start(config).await;
    let mut client = connect(&server, "watched").await;
    next_snapshot(&mut client).await;
    client.send_input(10, -10, 1234, true).await.unwrap();
    client.send(&ClientMessage::Chat { text: "hello there".into() }).await.unwrap();
    next_snapshot(&mut client).await;
    // Garbage: the server closes with 1007, and the log shows the frame that did it.
    client.send_bytes(vec![0xc1, 0x00, 0xff]).await.unwrap();
    within("the close", async { while client.next_event().await.is_ok() {} }).await;
    until("the connection is gone", || players(&server) == 0).await;
    server.shutdown().await;

    let [path] = files(&dir, ".log").try_into().expect("one frame log");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("frames-127.0.0.1-"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "frame logs hold tokens");
    }
    let lines = inspect(&path);
    assert_eq!(lines[0]["header"]["format"], "skirmish-frames");
    let messages = |dir: &str, kind: &str| {
        lines.iter().filter(|l| l["dir"] == dir && l["message"]["type"] == kind).cloned().collect::<Vec<_>>()
    };
    let hello = &messages("in", "hello")[0];
    assert_eq!(hello["message"]["name"], "watched");
    assert_eq!(messages("out", "welcome").len(), 1);
    assert!(messages("out", "welcome")[0]["message"]["session"]["resume_token"]
        .as_str()
        .is_some_and(|token| token.starts_with("<redacted")));
    assert!(messages("out", "snapshot").len() >= 2);
    let input = &messages("in", "input")[0]["message"];
    assert_eq!(
        (input["move_x"].as_i64(), input["aim"].as_i64(), input["buttons"].as_i64()),
        (Some(10), Some(1234), Some(1))
    );
    assert_eq!(messages("in", "chat")[0]["message"]["text"], "hello there");
    assert_eq!(messages("out", "chat")[0]["message"]["text"], "hello there");
    let garbage = lines.iter().find(|l| l["dir"] == "in" && l["error"].is_string()).expect("the garbage frame");
    assert_eq!(garbage["hex"], "c100ff");
    let close = lines.iter().find(|l| l["dir"] == "out" && l["opcode"] == "close").expect("the close frame");
    assert_eq!(close["close"]["code"], 1007);
    // Times run forward from the connection's start.
    let times: Vec<f64> = lines.iter().filter_map(|l| l["t"].as_f64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && times[0] < 5.0, "{times:?}");
    assert_eq!(lines.last().unwrap()["end"], "connection closed");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_player_room_s_recording_size_and_replay_speed() {
    let _turn = PLAYING.lock().await;
    let dir = temp_dir("fifty");
    let server = start(recording_server(&dir)).await;
    let (_stop_tx, stop) = watch::channel(false);
    let report = within("swarm", swarm::run(swarm_config(url(&server), 50, 10.0), Arc::new(Progress::default()), stop))
        .await
        .expect("swarm runs");
    assert_eq!(report.connected, 50, "{}", report.render());
    server.shutdown().await;
    let [path] = files(&dir, ".skrec").try_into().expect("one recording");
    let replayed = replay(&std::fs::read(&path).unwrap()).expect("replays");
    assert_eq!(replayed.difference, None, "{replayed}");
    measure("room of 50 bots", &path, &replayed, 50);
    let _ = std::fs::remove_dir_all(dir);
}

/// The next chat line from the room itself (name "replay"), skipping everything else.
async fn next_notice(client: &mut GameClient) -> String {
    within("a notice from the replay room", async {
        loop {
            if let ServerEvent::Chat { from: 0, name, text, .. } = client.next_event().await.expect("a message") {
                if name == "replay" {
                    return text;
                }
            }
        }
    })
    .await
}

/// The tick of the next snapshot within `wait`, if one comes.
async fn snapshot_within(client: &mut GameClient, wait: Duration) -> Option<u32> {
    tokio::time::timeout(wait, async {
        loop {
            if let ServerEvent::Snapshot { tick, .. } = client.next_event().await.expect("a message") {
                return tick;
            }
        }
    })
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_plays_back_as_a_room_that_spectators_watch_and_control() {
    let _turn = PLAYING.lock().await;
    let dir = temp_dir("playback");
    let server = start(recording_server(&dir)).await;
    let (_stop_tx, stop) = watch::channel(false);
    let bots = swarm_config(url(&server), 4, 4.0);
    within("swarm", swarm::run(bots, Arc::new(Progress::default()), stop)).await.expect("swarm runs");
    server.shutdown().await;
    let [path] = files(&dir, ".skrec").try_into().expect("one recording");
    let recording = Arc::new(Recording::load(&std::fs::read(&path).unwrap()).expect("loads"));
    let states: HashMap<u32, Vec<EntityRecord>> =
        recording.frames.iter().filter_map(|frame| Some((frame.tick, frame.check.as_ref()?.state.clone()?))).collect();
    let last_tick = recording.frames.last().unwrap().tick;

    let mut config = ServerConfig::for_tests();
    config.replay = Some(recording.clone());
    let server = start(config).await;
    let room = the_room(&server);
    assert_eq!(room.max_players, 0, "no seats in a replay");
    assert!(room.name.starts_with("replay "), "{}", room.name);
    let join = Join::Spectate { room: Some(room.id.clone()) };
    let mut watcher = within("spectate", GameClient::connect_as(&url(&server), "watcher", join)).await.unwrap();
    let greeting = next_notice(&mut watcher).await;
    assert!(greeting.contains("/pause") && greeting.contains(&format!("of {last_tick}")), "{greeting}");
    // A player cannot join it.
    let player = GameClient::connect_as(&url(&server), "player", Join::Room { id: room.id.clone() }).await;
    assert!(player.is_err());

    // What the spectator sees is the recorded match: at each recorded state, entity for entity.
    let mut compared = 0;
    while compared < 2 {
        let tick = next_snapshot(&mut watcher).await;
        let Some(state) = states.get(&tick) else { continue };
        let (seen, entities) = watcher.world().expect("a world");
        assert_eq!(seen, tick);
        let entities: Vec<(u32, Vec<i32>)> =
            entities.iter().map(|e| (e.id, e.fields[..e.kind.field_count()].to_vec())).collect();
        let recorded: Vec<(u32, Vec<i32>)> = state.iter().map(|e| (e.id, e.fields.clone())).collect();
        assert_eq!(entities, recorded, "tick {tick}");
        compared += 1;
    }

    // Paused: no more snapshots.
    watcher.send(&ClientMessage::Chat { text: "/pause".into() }).await.unwrap();
    let notice = next_notice(&mut watcher).await;
    assert!(notice.starts_with("watcher paused the replay at tick"), "{notice}");
    assert_eq!(snapshot_within(&mut watcher, Duration::from_millis(500)).await, None, "paused");
    // Who joins a paused replay still sees where it stands.
    let join = Join::Spectate { room: Some(room.id.clone()) };
    let mut late = within("spectate", GameClient::connect_as(&url(&server), "late", join)).await.unwrap();
    assert_eq!(snapshot_within(&mut late, Duration::from_secs(2)).await, Some(watcher.newest_tick()));

    // Four times as fast: each snapshot is four recorded ticks on, and the replay ends at the recording's end.
    watcher.send(&ClientMessage::Chat { text: "/speed 4".into() }).await.unwrap();
    assert_eq!(next_notice(&mut watcher).await, "watcher set the replay's speed to 4");
    watcher.send(&ClientMessage::Chat { text: "/play".into() }).await.unwrap();
    assert!(next_notice(&mut watcher).await.contains("resumed the replay"));
    let first = next_snapshot(&mut watcher).await;
    let second = next_snapshot(&mut watcher).await;
    assert_eq!(second - first, 4, "speed 4");
    let ended = next_notice(&mut watcher).await;
    assert_eq!(ended, format!("the replay ended at tick {last_tick}"));
    watcher.send(&ClientMessage::Chat { text: "/status".into() }).await.unwrap();
    let status = next_notice(&mut watcher).await;
    assert!(status.contains(&format!("tick {last_tick} of {last_tick}, ended")), "{status}");
    assert_eq!(late.stats.desyncs, 0);
    late.close().await;
    watcher.close().await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
