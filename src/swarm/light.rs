//! Light bots, the load mode of a swarm: a bot that reads only each snapshot's head, acknowledges its tick and
//! walks a seeded circle, so one process can load a server with a thousand players in view (a full bot decodes and
//! rebuilds every entity of every snapshot, which at that size takes more than a core). What the server does for
//! it is exactly what it does for a playing client: the same inputs at the same rate, the same acknowledgements,
//! the same deltas. A sample of the swarm still decodes everything and plays (`SwarmConfig::decode_every`), so
//! desyncs and play feel are still measured; the report says which bots were light.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::report::BotOutcome;
use super::{reason_of, Progress, Reported, SwarmConfig};
use crate::client::{GameClient, ServerEvent};
use crate::sim::radians_to_aim;

/// Radians the walk turns per input: a circle every 2π / 0.1 = 63 inputs, about 2 s at 30 inputs a second (the
/// floor's load client walks the same way).
const TURN_PER_INPUT: f32 = 0.1;

/// Runs one light bot (connected and counted by `play`, which also finishes it) until the swarm ends or its
/// connection does.
pub(super) async fn play_light(
    client: &mut GameClient,
    outcome: &mut BotOutcome,
    config: &SwarmConfig,
    progress: &Progress,
    end: &mut watch::Receiver<bool>,
) {
    let joined = Instant::now();
    let period = (config.input_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.input_rate));
    let mut next_input = joined + period.unwrap_or_default();
    // Where on the circle this bot starts, from the seed: bots do not walk in step.
    let phase = (config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ outcome.index as u64) % 628;
    let mut last_arrival: Option<Instant> = None;
    let mut reported = Reported::default();
    loop {
        let event = tokio::select! {
            biased;
            _ = end.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep_until(next_input), if period.is_some() => None,
            event = client.next_head() => Some(event),
        };
        let now = Instant::now();
        match event {
            None => {
                next_input = (next_input + period.unwrap_or_default()).max(now);
                let angle = (client.next_input_seq() as f32 + phase as f32 / 100.0) * TURN_PER_INPUT;
                let (move_x, move_y) = ((angle.cos() * 127.0) as i8, (angle.sin() * 127.0) as i8);
                if let Err(error) = client.send_input(move_x, move_y, radians_to_aim(angle), false).await {
                    outcome.failure = Some(reason_of(&error));
                    break;
                }
            }
            Some(Ok(ServerEvent::Snapshot { .. })) => {
                outcome.traffic.snapshots += 1;
                progress.snapshots.fetch_add(1, Ordering::Relaxed);
                if let Some(last) = last_arrival {
                    outcome.traffic.interarrival.record((now - last).as_micros() as u64);
                }
                last_arrival = Some(now);
                // Without inputs (an idle load) the acknowledgement goes on its own.
                if period.is_none() {
                    if let Err(error) = client.send_ack().await {
                        outcome.failure = Some(reason_of(&error));
                        break;
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                outcome.failure = Some(reason_of(&error));
                break;
            }
        }
        reported.publish(progress, &client.stats);
    }
}
