//! Seats that outlive a socket. A player whose connection drops without leaving keeps its seat for the resume
//! grace: its entity stays in the world, stands still and is flagged as disconnected, and a hello carrying the
//! seat's resume secret takes it back (same id, score, hp, position) over a new socket, continuing from the newest
//! snapshot the client still holds. The room only stores and compares secrets; the session layer draws them from
//! the OS, so the room stays pure.
//!
//! A resume looks the seat up by its whole secret and changes nothing before that lookup succeeds, so a wrong,
//! forged, spent or expired secret can neither end nor extend the grace of the seat it was meant for.

use std::sync::atomic::Ordering;

use tracing::debug;

use super::{Client, ClientKey, Part, Room};
use crate::link::{ClientLink, CloseReason, DisconnectReason};
use crate::protocol::{Role, SessionInfo};
use crate::recording::WireInput;

/// The secret half of a resume token: 160 bits from the OS, as 32 base32 characters. Never logged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResumeSecret(String);

impl ResumeSecret {
    const CHARS: usize = 32;

    /// A fresh secret from the OS's random source.
    pub fn generate() -> ResumeSecret {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut bytes = [0u8; 20];
        // Without the OS's random source no credential is safe to hand out; that is not a state to run in.
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let bits = u128::from_le_bytes(bytes[..16].try_into().expect("16 bytes"));
        let high = u32::from_le_bytes(bytes[16..].try_into().expect("4 bytes"));
        let secret = (0..Self::CHARS)
            .map(|i| {
                let index = if i < 25 { (bits >> (5 * i)) as usize } else { (high >> (5 * (i - 25))) as usize };
                ALPHABET[index & 31] as char
            })
            .collect();
        ResumeSecret(secret)
    }

    /// The token a client holds: the room's id, a dot, the secret. The id lets any front door find the room.
    pub fn token(&self, room_id: &str) -> String {
        format!("{room_id}.{}", self.0)
    }

    /// Splits a token into its room id and secret; `None` when it cannot be one of ours.
    pub fn parse(token: &str) -> Option<(&str, ResumeSecret)> {
        let (room, secret) = token.split_once('.')?;
        let well_formed =
            secret.len() == Self::CHARS && secret.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        (well_formed && !room.is_empty()).then(|| (room, ResumeSecret(secret.to_string())))
    }
}

impl std::fmt::Debug for ResumeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeSecret(<redacted>)")
    }
}

/// A seat taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    pub key: ClientKey,
    pub name: String,
    pub player_id: u32,
    /// The highest input seq received from this seat: the new connection's inputs must be greater.
    pub input_seq: u32,
    /// The baseline of the first snapshot the new connection gets (0: a full snapshot).
    pub baseline: u32,
}

/// Why a resume was refused. One wording for every bad secret: telling a spent secret from a forged one would
/// only help someone guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeRefused {
    #[error("resume refused: unknown, expired or already used token")]
    UnknownToken,
    #[error("resume refused: room {0} is gone")]
    RoomGone(String),
}

impl Room {
    /// The `session` element of a player's welcome: its way back, while resuming is on.
    pub(super) fn session_info(&self, client: &Client) -> Option<SessionInfo> {
        let secret = client.resume.as_ref().filter(|_| self.resume_grace_ticks > 0)?;
        Some(SessionInfo {
            resume_token: secret.token(&self.id),
            grace_ms: self.resume_grace_ms,
            input_seq: client.received_seq,
        })
    }

    /// The connection of `key` ended in a way that keeps its seat: a player's seat is held for the grace, a
    /// spectator simply leaves (it has nothing to get back).
    pub(super) fn detach(&mut self, key: ClientKey) {
        let grace = self.resume_grace_ticks;
        let expires = self.world.tick().wrapping_add(grace);
        // Already held (a second notice of the same drop): its grace is running and must not restart.
        let Some(client) = self.client_mut(key).filter(|c| c.link.is_some()) else { return };
        let Part::Player(player) = client.part else { return self.leave(key) };
        if grace == 0 || client.resume.is_none() {
            return self.leave(key);
        }
        client.link = None;
        client.inputs.clear();
        client.moving = false;
        client.detached_until = Some(expires);
        client.full_ticks = 0;
        self.journal.set_input(&mut self.world, player, WireInput::default());
        self.journal.set_disconnected(&mut self.world, player, true);
        self.detached += 1;
        self.stats.detached.fetch_add(1, Ordering::Relaxed);
        self.publish_occupancy();
        debug!(room = %self.id, player = player.wire_id(), "player disconnected; seat held");
    }

    /// Gives the seat `secret` names to a new connection, with a new secret. A seat still attached (its client
    /// found a new socket before the server noticed the old one fail) is taken from the old connection.
    pub(super) fn resume(
        &mut self,
        secret: &ResumeSecret,
        next_secret: ResumeSecret,
        last_tick: u32,
        link: ClientLink,
    ) -> Result<Resumed, ResumeRefused> {
        let Some(&slot) = self.seats.get(secret) else {
            self.stats.resumes_refused.fetch_add(1, Ordering::Relaxed);
            return Err(ResumeRefused::UnknownToken);
        };
        self.seats.remove(secret);
        self.seats.insert(next_secret.clone(), slot);
        let generation = self.next_generation;
        self.next_generation += 1;
        // The baseline must be a tick this seat was sent that the room still holds (and, with interest, whose view
        // it still remembers); a client holding anything else starts over from a full snapshot.
        let history_has = |tick: u32| self.history.get(tick).is_some();
        let client = &mut self.clients[slot];
        let Part::Player(player) = client.part else { unreachable!("only players hold resume secrets") };
        let known = last_tick != 0 && last_tick <= client.last_sent_tick && history_has(last_tick);
        let baseline =
            if known && (self.interest.is_none() || client.views.at(last_tick).is_some()) { last_tick } else { 0 };
        match client.link.replace(link) {
            Some(old) => {
                old.close(CloseReason::new(DisconnectReason::SessionTakenOver, "session resumed on another connection"))
            }
            None => self.detached -= 1,
        }
        client.generation = generation;
        client.resume = Some(next_secret);
        client.detached_until = None;
        client.inputs.clear();
        client.owed_repeats = 0;
        client.backlog_ticks = 0;
        client.full_ticks = 0;
        client.acked_tick = baseline;
        client.acked_recent = u64::from(baseline != 0);
        client.last_baseline = 0;
        client.attached_tick = self.world.tick();
        client.roster_due = false;
        self.journal.set_disconnected(&mut self.world, player, false);
        let resumed = Resumed {
            key: ClientKey { slot, generation, player: player.wire_id() },
            name: client.name.to_string(),
            player_id: player.wire_id(),
            input_seq: client.received_seq,
            baseline,
        };
        let client = &self.clients[slot];
        self.send_welcome(client, Role::Player);
        self.stats.resumes.fetch_add(1, Ordering::Relaxed);
        self.publish_occupancy();
        debug!(room = %self.id, player = resumed.player_id, baseline, "seat resumed");
        Ok(resumed)
    }

    /// Removes the players whose grace ran out this tick.
    pub(super) fn expire_detached(&mut self) {
        if self.detached == 0 {
            return;
        }
        let now = self.world.tick();
        let expired: Vec<ClientKey> = self
            .clients
            .iter()
            .filter(|(_, c)| c.detached_until.is_some_and(|until| until.wrapping_sub(now) as i32 <= 0))
            .map(|(slot, c)| {
                let player = if let Part::Player(player) = c.part { player.wire_id() } else { 0 };
                ClientKey { slot, generation: c.generation, player }
            })
            .collect();
        for key in expired {
            self.stats.resumes_expired.fetch_add(1, Ordering::Relaxed);
            self.leave(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_32_base32_characters_and_differ() {
        let a = ResumeSecret::generate();
        let b = ResumeSecret::generate();
        assert_ne!(a, b);
        let token = a.token("room1");
        let (room, parsed) = ResumeSecret::parse(&token).expect("a token parses back");
        assert_eq!((room, &parsed), ("room1", &a));
        assert_eq!(token.len(), "room1.".len() + 32);
        assert!(!format!("{a:?}").contains(&a.0), "the secret must not appear in debug output");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for token in ["", "abc", "room.", ".aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "room.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
        {
            assert!(ResumeSecret::parse(token).is_none(), "{token}");
        }
        assert!(ResumeSecret::parse("room.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_none(), "31 characters");
    }
}
