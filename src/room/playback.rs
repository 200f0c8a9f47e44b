//! A room that plays a recording back (`--replay FILE`, see `recording::playback`): the recording's calls drive
//! the world instead of players' inputs, spectators watch, and chat lines starting with `/` control the playback.
//! The room's answers and the playback's news come as chat lines from "replay" (player id 0).

use std::sync::Arc;

use super::Room;
use crate::codec;
use crate::link::Outgoing;
use crate::protocol::{ServerMessage, Snapshot};
use crate::recording::Playback;
use crate::snapshot::WorldSnapshot;

/// The name the room's own chat lines carry.
const NOTICE_NAME: &str = "replay";

impl Room {
    /// Makes this room play `playback` back: its world becomes the recording's starting world. Called before the
    /// first tick; the room should admit no players (`max_players` 0).
    pub fn play_back(&mut self, playback: Playback) {
        self.world = playback.world();
        self.playback = Some(playback);
    }

    /// The playback, in a room that plays one.
    pub fn playback(&self) -> Option<&Playback> {
        self.playback.as_ref()
    }

    /// Plays the recorded ticks due this room tick, each settled as a tick of the room's own (events, snapshot,
    /// history); returns the newest snapshot, `None` if nothing was played (paused, slow, or over).
    pub(super) fn advance_playback(&mut self) -> Option<Arc<WorldSnapshot>> {
        let due = self.playback.as_mut()?.due();
        let mut current = None;
        for _ in 0..due {
            let playback = self.playback.as_mut()?;
            if !playback.play_one(&mut self.world) {
                break;
            }
            current = Some(self.settle_tick());
        }
        let notices = self.playback.as_mut().map(Playback::take_notices).unwrap_or_default();
        for notice in notices {
            self.notice(notice);
        }
        if current.is_none() {
            self.catch_up_newcomers();
        }
        current
    }

    /// While nothing is played (paused, or over), a spectator who just joined still needs the world once: a full
    /// snapshot of the newest tick, to it alone (the others have that tick, and a second copy would be stale).
    fn catch_up_newcomers(&mut self) {
        let Some(latest) = self.history.latest().cloned() else { return };
        let mut encoded: Option<Vec<u8>> = None;
        for (_, client) in self.clients.iter_mut() {
            let Some(link) = &client.link else { continue };
            if client.last_sent_tick != 0 {
                continue;
            }
            let bytes = encoded.get_or_insert_with(|| {
                codec::encode_server(&ServerMessage::Snapshot(Snapshot {
                    tick: latest.tick,
                    created: latest.entities.clone(),
                    ..Snapshot::default()
                }))
            });
            if link.outbox.try_send(Outgoing::Message(bytes.clone())).is_ok() {
                client.last_sent_tick = latest.tick;
            }
        }
    }

    /// Runs a chat line as a playback command if it is one, and answers everyone.
    pub(super) fn playback_command(&mut self, who: &str, line: &str) {
        let Some(playback) = &mut self.playback else { return };
        if let Some(answer) = playback.command(who, line) {
            self.notice(answer);
        }
    }

    fn notice_bytes(&self, text: String) -> Vec<u8> {
        codec::encode_server(&ServerMessage::Chat { tick: self.world.tick(), from: 0, name: NOTICE_NAME.into(), text })
    }

    /// A chat line from the room to everyone in it (like chat, not worth waiting for: a full outbox misses it).
    fn notice(&self, text: String) {
        let bytes = self.notice_bytes(text);
        for (_, client) in self.clients.iter() {
            if let Some(link) = &client.link {
                let _ = link.outbox.try_send(Outgoing::Message(bytes.clone()));
            }
        }
    }

    /// A chat line from the room to the client in `slot`.
    pub(super) fn notice_to(&self, slot: usize, text: String) {
        if let Some(link) = self.clients.get(slot).and_then(|client| client.link.as_ref()) {
            let _ = link.outbox.try_send(Outgoing::Message(self.notice_bytes(text)));
        }
    }
}
