//! `skirmish inspect`: a recording or a frame log as JSON lines, one per frame, for reading, `grep` and `jq`.
//!
//! A frame log's payloads are decoded as the server would decode them: what a client sent with
//! `codec::decode_client`, what the server sent with `codec::decode_server`. A payload that does not decode is
//! shown as its error and its bytes in hex: that is usually the frame a developer is looking for. Messages split
//! over several WebSocket frames are decoded on their last frame. Credentials (join tokens, resume tokens) are
//! shown as their length only; the file itself holds them, so it is kept private (mode 0600).

use std::io::Write;

use serde_json::{json, Map as JsonMap, Value};

use crate::codec;
use crate::protocol::{ClientMessage, EntityKind, EntityState, Event, Join, Role, ServerMessage};

use super::format::{self, Direction, FileHeader, FormatError, Frame, Op, TickFrame, WireFrame};
use super::replay::field_name;

/// Writes `bytes` (a whole file) to `out` as JSON lines: the header, then one line per frame. A file cut inside a
/// frame ends with a line saying so; any other error stops the output and is returned.
pub fn inspect(bytes: &[u8], out: &mut impl Write) -> Result<(), InspectError> {
    let (header, frames) = format::open(bytes)?;
    let header_json = match &header {
        FileHeader::Recording(header) => json!({ "header": header }),
        FileHeader::FrameLog(header) => json!({ "header": header }),
    };
    writeln!(out, "{header_json}")?;
    let mut assembling: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for frame in frames {
        let line = match frame {
            Ok(Frame::Tick(tick)) => tick_json(&tick),
            Ok(Frame::Wire(wire)) => wire_json(&wire, &mut assembling),
            Ok(Frame::End(end)) => json!({ "end": end.reason.name(), "detail": end.detail }),
            Err(FormatError::Incomplete { offset }) => {
                json!({ "incomplete": format!("the file ends inside a frame at byte {offset}") })
            }
            Err(error) => return Err(error.into()),
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// Why inspecting failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn tick_json(tick: &TickFrame) -> Value {
    let ops: Vec<Value> = tick
        .ops
        .iter()
        .map(|op| match op {
            Op::Join { id, generation, name } => {
                json!({ "op": "join", "id": id, "generation": generation, "name": name })
            }
            Op::Leave { id } => json!({ "op": "leave", "id": id }),
            Op::Input { id, input } => json!({
                "op": "input", "id": id, "move_x": input.move_x, "move_y": input.move_y, "aim": input.aim,
                "fire": input.fire,
            }),
            Op::Flag { id, disconnected } => json!({ "op": "disconnected", "id": id, "value": disconnected }),
        })
        .collect();
    let mut line = json!({ "tick": tick.tick, "ops": ops });
    if let Some(check) = &tick.check {
        let mut checksum = json!({ "hash": format!("{:016x}", check.hash) });
        if let Some(state) = &check.state {
            checksum["state"] = state
                .iter()
                .map(|entity| {
                    let mut object = JsonMap::new();
                    object.insert("id".into(), entity.id.into());
                    object.insert("kind".into(), kind_name(entity.kind).into());
                    for (index, value) in entity.fields.iter().enumerate() {
                        object.insert(field_name(entity.kind, index).into(), (*value).into());
                    }
                    Value::Object(object)
                })
                .collect();
        }
        line["checksum"] = checksum;
    }
    line
}

fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        0 => "continuation",
        1 => "text",
        2 => "binary",
        8 => "close",
        9 => "ping",
        10 => "pong",
        _ => "reserved",
    }
}

fn wire_json(wire: &WireFrame, assembling: &mut [Vec<u8>; 2]) -> Value {
    let direction = match wire.direction {
        Direction::In => "in",
        Direction::Out => "out",
    };
    let mut line = json!({
        "t": wire.micros as f64 / 1e6,
        "dir": direction,
        "opcode": opcode_name(wire.opcode),
        "fin": wire.fin,
        "bytes": wire.payload.len(),
    });
    let buffer = &mut assembling[wire.direction as usize];
    match wire.opcode {
        0 | 2 => {
            if wire.opcode == 2 {
                buffer.clear();
            }
            buffer.extend_from_slice(&wire.payload);
            if !wire.fin {
                return line;
            }
            let message = std::mem::take(buffer);
            let decoded = match wire.direction {
                Direction::In => codec::decode_client(&message, usize::MAX).map(|m| client_json(&m)),
                Direction::Out => codec::decode_server(&message).map(|m| server_json(&m)),
            };
            match decoded {
                Ok(json) => line["message"] = json,
                Err(error) => {
                    line["error"] = error.to_string().into();
                    line["hex"] = hex(&message).into();
                }
            }
        }
        8 => {
            if let [high, low, reason @ ..] = wire.payload.as_slice() {
                line["close"] = json!({
                    "code": u16::from_be_bytes([*high, *low]),
                    "reason": String::from_utf8_lossy(reason),
                });
            }
        }
        _ => line["hex"] = hex(&wire.payload).into(),
    }
    line
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Player => "player",
        EntityKind::Bullet => "bullet",
    }
}

fn redacted(secret: &str) -> String {
    format!("<redacted, {} bytes>", secret.len())
}

/// A hello's join (or a redirect's), secrets redacted.
fn join_json(join: &Join) -> Value {
    match join {
        Join::QuickPlay { map } => json!({ "quick_play": { "map": map } }),
        Join::Room { id } => json!({ "room": { "id": id } }),
        Join::Create(options) => json!({ "create": options }),
        Join::Spectate { room } => json!({ "spectate": { "room": room } }),
        Join::Resume { token, last_tick } => json!({ "resume": { "token": redacted(token), "last_tick": last_tick } }),
        Join::Seat { token } => json!({ "seat": { "token": redacted(token) } }),
    }
}

/// A client message, its fields named as in PROTOCOL.md.
pub fn client_json(message: &ClientMessage) -> Value {
    match message {
        ClientMessage::Hello { version, name, join, auth } => {
            let join = join.as_ref().map(join_json);
            json!({
                "type": "hello", "version": version, "name": name, "join": join,
                "auth": auth.as_deref().map(redacted),
            })
        }
        ClientMessage::Input(input) => json!({
            "type": "input", "seq": input.seq, "move_x": input.move_x, "move_y": input.move_y, "aim": input.aim,
            "buttons": input.buttons, "ack_tick": input.ack_tick, "view_delay_ms": input.view_delay_ms,
        }),
        ClientMessage::Ack { tick } => json!({ "type": "ack", "tick": tick }),
        ClientMessage::Ping { nonce } => json!({ "type": "ping", "nonce": nonce }),
        ClientMessage::View { follow, x, y } => json!({ "type": "view", "follow": follow, "x": x, "y": y }),
        ClientMessage::Chat { text } => json!({ "type": "chat", "text": text }),
    }
}

fn entity_json(entity: &EntityState) -> Value {
    let mut object = JsonMap::new();
    object.insert("id".into(), entity.id.into());
    object.insert("kind".into(), kind_name(entity.kind).into());
    for index in 0..entity.kind.field_count() {
        object.insert(field_name(entity.kind, index).into(), entity.fields[index].into());
    }
    if let Some(name) = &entity.name {
        object.insert("name".into(), name.as_ref().into());
    }
    Value::Object(object)
}

fn event_json(event: &Event) -> Value {
    match event {
        Event::Kill { tick, killer, victim } => json!({ "kill": { "tick": tick, "killer": killer, "victim": victim } }),
        Event::Join { tick, player, name } => {
            json!({ "join": { "tick": tick, "player": player, "name": name.as_ref() } })
        }
        Event::Leave { tick, player } => json!({ "leave": { "tick": tick, "player": player } }),
    }
}

/// A server message, its fields named as in PROTOCOL.md.
pub fn server_json(message: &ServerMessage) -> Value {
    match message {
        ServerMessage::Welcome(welcome) => json!({
            "type": "welcome",
            "version": welcome.version,
            "player_id": welcome.player_id,
            "tick_rate": welcome.tick_rate,
            "tick": welcome.tick,
            "map": welcome.map,
            "rules": welcome.rules,
            "room": {
                "id": welcome.room.id,
                "name": welcome.room.name,
                "role": if welcome.room.role == Role::Player { "player" } else { "spectator" },
            },
            "session": welcome.session.as_ref().map(|session| json!({
                "resume_token": redacted(&session.resume_token),
                "grace_ms": session.grace_ms,
                "input_seq": session.input_seq,
            })),
        }),
        ServerMessage::Snapshot(snapshot) => json!({
            "type": "snapshot",
            "tick": snapshot.tick,
            "baseline": snapshot.baseline,
            "last_input_seq": snapshot.last_input_seq,
            "created": snapshot.created.iter().map(entity_json).collect::<Vec<_>>(),
            // Residuals against a prediction from the baseline: only a replica holding it can read them.
            "changed": snapshot.changed.iter().map(|byte| format!("{byte:02x}")).collect::<String>(),
            "removed": snapshot.removed,
            "events": snapshot.events.iter().map(event_json).collect::<Vec<_>>(),
            "hits": snapshot.hits.iter().map(|hit| json!({ "tick": hit.tick, "victim": hit.victim })).collect::<Vec<_>>(),
            "own": snapshot.own,
        }),
        ServerMessage::Pong { nonce } => json!({ "type": "pong", "nonce": nonce }),
        ServerMessage::Close { code, reason } => json!({ "type": "close", "code": code, "reason": reason }),
        ServerMessage::Roster { tick, players } => json!({
            "type": "roster",
            "tick": tick,
            "players": players
                .iter()
                .map(|p| json!({ "id": p.id, "name": p.name, "score": p.score, "hp": p.hp }))
                .collect::<Vec<_>>(),
        }),
        ServerMessage::Chat { tick, from, name, text } => {
            json!({ "type": "chat", "tick": tick, "from": from, "name": name, "text": text })
        }
        ServerMessage::Redirect { url, join } => json!({ "type": "redirect", "url": url, "join": join_json(join) }),
    }
}
