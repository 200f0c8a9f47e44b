//! A recording served as a room (`--replay FILE`): spectators watch the recorded match in the browser as it was
//! played, with the room's own snapshots, and control it from the chat box: `/pause`, `/play`, `/speed N`
//! (0.25 to 8), `/status`. Whoever is watching may use them; the room tells everyone who did what.
//!
//! The room's tick keeps its rate; the playback decides how many recorded ticks each room tick plays (at speed 2
//! two, at speed 0.5 one every other tick, none while paused), making the recorded calls on the room's world and
//! checking the recorded checksums on the way, as `skirmish replay` does. The room keeps every played tick's
//! snapshot (its history must stay contiguous for deltas) and sends the newest, only for a room tick that played
//! something: the ticks spectators see advance by the speed.

use std::sync::Arc;

use tracing::warn;

use crate::sim::{Map, Rules, World};

use super::format::{self, EndFrame, FileHeader, FormatError, Frame, Header, TickFrame};
use super::replay::{compare, Calls, Difference, Divergence, ReplayError};

/// Slowest and fastest playback.
const SPEEDS: std::ops::RangeInclusive<f64> = 0.25..=8.0;

/// A recording decoded whole, ready to be played any number of times.
#[derive(Debug)]
pub struct Recording {
    pub header: Header,
    /// Checked when loaded: the world can be built from them.
    pub map: Map,
    pub rules: Rules,
    /// Consecutive from tick 1.
    pub frames: Vec<TickFrame>,
    /// Its end frame, if it has one.
    pub end: Option<EndFrame>,
}

impl Recording {
    /// Decodes a recording; a file cut inside a frame plays up to that frame.
    pub fn load(bytes: &[u8]) -> Result<Recording, ReplayError> {
        let (header, frames) = format::open(bytes)?;
        let FileHeader::Recording(header) = header else { return Err(ReplayError::FrameLog) };
        if !(1..=240).contains(&header.tick_rate) {
            return Err(FormatError::Header(format!("tick rate {} out of range", header.tick_rate)).into());
        }
        let (map, rules) = (header.map()?, header.rules()?);
        let mut ticks = Vec::new();
        let mut end = None;
        for frame in frames {
            match frame {
                Ok(Frame::Tick(tick)) => {
                    let previous = ticks.last().map_or(0, |t: &TickFrame| t.tick);
                    if tick.tick != previous.wrapping_add(1) {
                        return Err(ReplayError::TickOrder { previous, found: tick.tick });
                    }
                    ticks.push(tick);
                }
                Ok(Frame::End(frame)) => {
                    end = Some(frame);
                    break;
                }
                Ok(Frame::Wire(_)) => {
                    return Err(FormatError::Header("a wire frame in a recording".into()).into());
                }
                Err(FormatError::Incomplete { .. }) => break,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(Recording { header: *header, map, rules, frames: ticks, end })
    }
}

/// One playing of a recording; see the module docs.
#[derive(Debug)]
pub struct Playback {
    recording: Arc<Recording>,
    /// Index of the next frame to play.
    next: usize,
    calls: Calls,
    paused: bool,
    speed: f64,
    /// Recorded ticks owed to the room: `speed` more each room tick, one less per tick played.
    credit: f64,
    /// The first difference from the recording, once seen (the playback goes on regardless).
    diverged: Option<Difference>,
    /// Lines for the room to pass on to its spectators.
    notices: Vec<String>,
}

impl Playback {
    pub fn new(recording: Arc<Recording>) -> Playback {
        Playback {
            recording,
            next: 0,
            calls: Calls::default(),
            paused: false,
            speed: 1.0,
            credit: 0.0,
            diverged: None,
            notices: Vec::new(),
        }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The world the recording starts from, for the room to play on.
    pub fn world(&self) -> World {
        World::new(self.recording.map.clone(), self.recording.rules.clone(), self.recording.header.seed)
    }

    /// The recorded tick played last (0 before the first).
    pub fn tick(&self) -> u32 {
        self.next.checked_sub(1).map_or(0, |i| self.recording.frames[i].tick)
    }

    fn last_tick(&self) -> u32 {
        self.recording.frames.last().map_or(0, |frame| frame.tick)
    }

    pub fn is_finished(&self) -> bool {
        self.next >= self.recording.frames.len()
    }

    /// The first difference from the recording's checksums, if the playback has seen one.
    pub fn divergence(&self) -> Option<&Difference> {
        self.diverged.as_ref()
    }

    /// How many recorded ticks to play this room tick: `speed` more are owed each room tick (none while paused).
    pub fn due(&mut self) -> u32 {
        if self.paused || self.is_finished() {
            return 0;
        }
        self.credit += self.speed;
        let due = self.credit.floor();
        self.credit -= due;
        due as u32
    }

    /// Plays the next recorded tick on `world`: its calls, the step, its checksum. False when there is none left.
    pub fn play_one(&mut self, world: &mut World) -> bool {
        let recording = self.recording.clone();
        let Some(frame) = recording.frames.get(self.next) else { return false };
        self.next += 1;
        let outcome = match self.calls.apply(world, &frame.ops) {
            Ok(()) => {
                world.step();
                match &frame.check {
                    Some(check) => compare(world, frame.tick, check),
                    None => Ok(None),
                }
            }
            Err(divergence) => {
                // The world must still reach the recorded tick: the next frame is for the tick after it.
                world.step();
                Ok(Some(divergence))
            }
        };
        self.note_outcome(frame.tick, outcome);
        if self.is_finished() {
            self.credit = 0.0;
            self.notices.push(format!("the replay ended at tick {}", frame.tick));
        }
        true
    }

    /// Tells the spectators (and the log) about the first difference from the recording.
    fn note_outcome(&mut self, tick: u32, outcome: Result<Option<Divergence>, ReplayError>) {
        if self.diverged.is_some() {
            return;
        }
        let divergence = match outcome {
            Ok(Some(divergence)) => divergence,
            Ok(_) => return,
            Err(error) => {
                warn!(tick, %error, "the recording is inconsistent");
                return;
            }
        };
        warn!(tick, %divergence, "the playback differs from the recording");
        self.notices.push(format!("the playback differs from the recording at tick {tick}: {divergence}"));
        self.diverged = Some(Difference { tick, divergence });
    }

    /// Runs a chat command (a line starting with `/`); returns the room's answer, `None` for an ordinary line.
    pub fn command(&mut self, who: &str, line: &str) -> Option<String> {
        let mut words = line.strip_prefix('/')?.split_whitespace();
        let command = words.next().unwrap_or_default().to_ascii_lowercase();
        Some(match command.as_str() {
            "pause" => {
                self.paused = true;
                format!("{who} paused the replay at tick {}", self.tick())
            }
            "play" | "resume" => {
                self.paused = false;
                format!("{who} resumed the replay at tick {} (speed {})", self.tick(), self.speed)
            }
            "speed" => {
                let wanted = words.next().map(|w| w.trim_end_matches(['x', 'X']).parse::<f64>());
                match wanted {
                    Some(Ok(speed)) if SPEEDS.contains(&speed) => {
                        self.speed = speed;
                        format!("{who} set the replay's speed to {speed}")
                    }
                    _ => format!("speed: a number from {} to {}, e.g. /speed 2", SPEEDS.start(), SPEEDS.end()),
                }
            }
            "status" => self.status(),
            _ => "replay commands: /pause, /play, /speed N (0.25 to 8), /status".to_string(),
        })
    }

    /// Where the playback stands, for `/status` and the first line a spectator sees.
    pub fn status(&self) -> String {
        let state = if self.is_finished() {
            "ended"
        } else if self.paused {
            "paused"
        } else {
            "playing"
        };
        let header = &self.recording.header;
        format!(
            "replay of room {} ({:?}): tick {} of {}, {state}, speed {}",
            header.room.id,
            header.room.name,
            self.tick(),
            self.last_tick(),
            self.speed
        )
    }

    /// The lines the room should pass on since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }
}
