//! Rooms on the room pool tick independently: a room whose every tick holds its pool thread for longer than its
//! slot does not delay the rooms beside it. Alone in its binary, so that no other test competes for the cores.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use skirmish::config::ServerConfig;
use skirmish::lobby::{Lobby, RoomEntry};
use skirmish::protocol::RoomOptions;
use tokio::sync::watch;

fn tick_of(room: &RoomEntry) -> u32 {
    room.stats.tick.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_tick_independently_and_a_slow_room_does_not_delay_another() {
    // A pool of two threads, as the server has on this machine.
    let pool = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    let (stop, stopping) = watch::channel(false);
    let lobby = &Lobby::new(&ServerConfig::for_tests(), pool.handle().clone(), stopping);
    let fast = lobby.create(&RoomOptions { tick_rate: Some(60), ..RoomOptions::default() }).unwrap();
    let normal = lobby.create(&RoomOptions::default()).unwrap();
    // A room whose every tick takes 50 ms of its pool thread (its slot is 33 ms): it overruns all the time.
    let mut slow = lobby.defaults().clone();
    slow.name = "slow".into();
    slow.min_tick_time = Duration::from_millis(50);
    let slow = lobby.create_from(slow).unwrap();

    let started = Instant::now();
    let first = [tick_of(&fast), tick_of(&normal), tick_of(&slow)];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ran = |room: &RoomEntry, first: u32| f64::from(tick_of(room) - first + 1);
    eprintln!(
        "in {elapsed:.2} s: the 60 Hz room ran {} ticks ({} overruns), the 30 Hz one {} ({}), the slow one {} ({})",
        ran(&fast, first[0]),
        fast.stats.overruns.load(Ordering::Relaxed),
        ran(&normal, first[1]),
        normal.stats.overruns.load(Ordering::Relaxed),
        ran(&slow, first[2]),
        slow.stats.overruns.load(Ordering::Relaxed)
    );
    assert!(
        ran(&fast, first[0]) >= 0.95 * 60.0 * elapsed,
        "the 60 Hz room ran {} ticks in {elapsed:.2} s",
        ran(&fast, first[0])
    );
    assert!(
        ran(&normal, first[1]) >= 0.95 * 30.0 * elapsed,
        "the 30 Hz room ran {} ticks in {elapsed:.2} s",
        ran(&normal, first[1])
    );
    // The slow room overran at every tick; the others did not (a busy machine may starve one of a few slots now and then).
    for room in [&fast, &normal] {
        let overruns = room.stats.overruns.load(Ordering::Relaxed);
        assert!(overruns <= 5, "room {} overran {overruns} times beside the slow one", room.name);
    }
    // The slow room fell behind its 30 Hz on its own, to 15 Hz (each 50 ms tick takes two of its 33 ms slots).
    assert!(slow.stats.overruns.load(Ordering::Relaxed) > 30, "the slow room overran");
    assert!(ran(&slow, first[2]) < 0.8 * 30.0 * elapsed, "the slow room was slow ({} ticks)", ran(&slow, first[2]));
    let _ = stop.send(true);
    pool.shutdown_background();
}
