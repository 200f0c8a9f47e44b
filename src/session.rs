//! A client's session: who it is, which room it is in and as what. `admit` turns a hello's `join` into a seat in a
//! room (quick play, a room by id, a new room, or a spectator's place), retrying quick play when the room it picked
//! fills up or closes in between, or takes back a held seat with a resume token; every refusal comes back as the
//! close the client receives.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::info;

use crate::auth::{AuthError, Authenticator};
use crate::link::{ClientLink, CloseReason, DisconnectReason};
use crate::lobby::{Lobby, LobbyError, RoomEntry};
use crate::protocol::{Join, Role};
use crate::room::{ClientKey, JoinRefused, ResumeRefused, ResumeSecret, Resumed, RoomCommand};

/// How many rooms quick play tries when the ones it picks fill up or close before the join arrives.
const QUICK_PLAY_ATTEMPTS: usize = 4;

/// A client admitted to a room. A player's seat outlives the socket that took it: the room holds it for the resume
/// grace, and a later connection's session can take it back.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub room: Arc<RoomEntry>,
    pub role: Role,
    pub key: ClientKey,
    /// The highest input seq the room had received from this seat when the session began (0 for a new seat).
    pub input_seq: u32,
}

impl Session {
    /// Sends a command to the session's room; false once the room is gone.
    pub async fn send(&self, command: RoomCommand) -> bool {
        self.room.commands.send(command).await.is_ok()
    }
}

/// Seats `name`, a client at `from`, where `join` asks; the room sends the welcome through `link`.
pub async fn admit(
    lobby: &Lobby,
    name: &str,
    join: &Join,
    link: &ClientLink,
    from: IpAddr,
) -> Result<Session, CloseReason> {
    let (room, role) = match join {
        Join::QuickPlay { map } => {
            let mut refused = Vec::new();
            loop {
                let room = lobby.quick_play(map.as_deref(), &refused).map_err(lobby_refusal)?;
                match seat(&room, name, Role::Player, link).await {
                    Ok(key) => return Ok(admitted(name, room, Role::Player, key)),
                    Err(JoinRefused::Full { .. } | JoinRefused::Closed(_))
                        if refused.len() + 1 < QUICK_PLAY_ATTEMPTS =>
                    {
                        refused.push(room.id.clone());
                    }
                    Err(refusal) => return Err(join_refusal(refusal)),
                }
            }
        }
        Join::Room { id } => (lobby.find(id).map_err(lobby_refusal)?, Role::Player),
        Join::Create(options) => (lobby.create_for(options, from).map_err(lobby_refusal)?, Role::Player),
        Join::Spectate { room: Some(id) } => (lobby.find(id).map_err(lobby_refusal)?, Role::Spectator),
        Join::Spectate { room: None } => (lobby.busiest().map_err(lobby_refusal)?, Role::Spectator),
        Join::Resume { token, last_tick } => return resume(lobby, token, *last_tick, link).await,
    };
    let key = seat(&room, name, role, link).await.map_err(join_refusal)?;
    Ok(admitted(name, room, role, key))
}

/// Checks a hello's join token and whether its claims allow `join`; returns the player's name, which is the token's.
/// Every refusal happens here, before a room is asked for anything.
pub fn authorize(authenticator: &Authenticator, token: Option<&str>, join: &Join) -> Result<String, CloseReason> {
    let claims = authenticator.verify_optional(token, crate::auth::unix_now()).map_err(|error| auth_refusal(&error))?;
    let forbidden = |reason: String| Err(CloseReason::new(DisconnectReason::AuthForbidden, reason));
    if let Some(allowed) = &claims.room {
        let asked = match join {
            Join::Room { id } | Join::Spectate { room: Some(id) } => Some(id.as_str()),
            _ => None,
        };
        if asked != Some(allowed.as_str()) {
            return forbidden(format!("join token is for room {allowed}"));
        }
    }
    if matches!(join, Join::Create(_)) && !claims.create {
        return forbidden("join token does not allow creating rooms".into());
    }
    Ok(claims.name)
}

/// The close a bad join token earns, by what is wrong with it.
pub fn auth_refusal(error: &AuthError) -> CloseReason {
    let kind = match error {
        AuthError::Missing => DisconnectReason::AuthRequired,
        AuthError::Expired => DisconnectReason::AuthExpired,
        AuthError::Malformed(_) | AuthError::BadSignature | AuthError::WrongAlgorithm | AuthError::BadClaims(_) => {
            DisconnectReason::AuthInvalid
        }
    };
    debug_assert_eq!(kind.code(), error.close_code());
    CloseReason::new(kind, error.to_string())
}

fn admitted(name: &str, room: Arc<RoomEntry>, role: Role, key: ClientKey) -> Session {
    info!(name = %name.trim(), room = %room.id, ?role, "joined");
    Session { name: name.trim().to_string(), room, role, key, input_seq: 0 }
}

/// Takes back the seat `token` names. The token is never logged: only the room it names is.
async fn resume(lobby: &Lobby, token: &str, last_tick: u32, link: &ClientLink) -> Result<Session, CloseReason> {
    let refused = |refusal: ResumeRefused| CloseReason::new(DisconnectReason::ResumeRefused, refusal.to_string());
    let Some((room_id, secret)) = ResumeSecret::parse(token) else { return Err(refused(ResumeRefused::UnknownToken)) };
    let room = lobby.find(room_id).map_err(|_| refused(ResumeRefused::RoomGone(room_id.to_string())))?;
    let (reply, answer) = oneshot::channel();
    let command =
        RoomCommand::Resume { secret, next_secret: ResumeSecret::generate(), last_tick, link: link.clone(), reply };
    let gone = || refused(ResumeRefused::RoomGone(room.id.clone()));
    room.commands.send(command).await.map_err(|_| gone())?;
    let Resumed { key, name, player_id, input_seq, baseline } = answer.await.map_err(|_| gone())?.map_err(refused)?;
    info!(%name, room = %room.id, player = player_id, baseline, "resumed");
    Ok(Session { name, room, role: Role::Player, key, input_seq })
}

/// Asks `room` for a seat and waits for its answer (at its next tick).
async fn seat(room: &RoomEntry, name: &str, role: Role, link: &ClientLink) -> Result<ClientKey, JoinRefused> {
    let (reply, answer) = oneshot::channel();
    let resume = (role == Role::Player).then(ResumeSecret::generate);
    let command = RoomCommand::Join { name: name.to_string(), role, link: link.clone(), resume, reply };
    // A room whose queue is closed has just closed (empty) or is stopping.
    room.commands.send(command).await.map_err(|_| JoinRefused::Closed(room.id.clone()))?;
    answer.await.unwrap_or_else(|_| Err(JoinRefused::Closed(room.id.clone())))
}

fn lobby_refusal(error: LobbyError) -> CloseReason {
    let kind = match &error {
        LobbyError::NotFound(_) | LobbyError::NothingToSpectate => DisconnectReason::RoomNotFound,
        LobbyError::RoomLimit(_) => DisconnectReason::RoomLimit,
        LobbyError::BadOptions(_) => DisconnectReason::BadRoomOptions,
        LobbyError::CreationQuota { .. } => DisconnectReason::CreationQuota,
        LobbyError::ShuttingDown => DisconnectReason::ServerShutdown,
    };
    CloseReason::new(kind, error.to_string())
}

fn join_refusal(refusal: JoinRefused) -> CloseReason {
    match refusal {
        JoinRefused::Full { .. } => CloseReason::new(DisconnectReason::RoomFull, refusal.to_string()),
        JoinRefused::NoSpectatorSlot { .. } => CloseReason::new(DisconnectReason::NoSpectatorSlot, refusal.to_string()),
        // The room closed between finding it and joining it: to the client, it is not there.
        JoinRefused::Closed(id) => lobby_refusal(LobbyError::NotFound(id)),
        JoinRefused::ShuttingDown => CloseReason::new(DisconnectReason::ServerShutdown, refusal.to_string()),
    }
}
