//! A client's session: who it is, which room it is in and as what. `admit` turns a hello's `join` into a seat in a
//! room (quick play, a room by id, a new room, or a spectator's place), retrying quick play when the room it picked
//! fills up or closes in between, or takes back a held seat with a resume token; every refusal comes back as the
//! close the client receives.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::auth::{AuthError, Authenticator};
use crate::directory::{Directory, DirectoryError};
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
        // Nearly always the queue has room. Only a full one is waited on, in a boxed future: inline, the wait would
        // be part of every connection's task (which lives as long as the connection) for its whole life.
        match self.room.commands.try_send(command) {
            Ok(()) => true,
            Err(TrySendError::Full(command)) => Box::pin(self.room.commands.send(command)).await.is_ok(),
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// Why a hello got no seat here: a close, or (with a room directory) the process that has one.
#[derive(Debug)]
pub enum Refusal {
    Close(CloseReason),
    /// Send a `[7, url, join]` redirect, then close with 4014.
    Redirect {
        url: String,
        join: Join,
    },
}

impl From<CloseReason> for Refusal {
    fn from(reason: CloseReason) -> Refusal {
        Refusal::Close(reason)
    }
}

/// Where quick play puts a player when processes share a directory.
enum Placement {
    /// A room of this process, its seat reserved in the directory (spent once the player is seated).
    Here(Arc<RoomEntry>, crate::directory::SeatClaims),
    There {
        url: String,
        token: String,
    },
}

/// Seats `name`, a client at `from`, where `join` asks; the room sends the welcome through `link`. With a room
/// directory, quick play picks the best room of every process, and a room, a spectated room or a resumed seat that
/// lives on another process is answered with a redirect there.
pub async fn admit(
    lobby: &Lobby,
    directory: Option<&Directory>,
    name: &str,
    join: &Join,
    link: &ClientLink,
    from: IpAddr,
) -> Result<Session, Refusal> {
    let draining = directory.is_some_and(Directory::is_draining);
    if draining && !matches!(join, Join::Resume { .. } | Join::Spectate { .. }) {
        // A draining process lets its matches end: new players go to another process, or nowhere.
        if let Some(directory) = directory {
            let elsewhere = match join {
                // A seat in another process's room (the indexes no longer hold this one's), else a new room on
                // the least-loaded other process.
                Join::QuickPlay { map } => {
                    let there = match seat_in_best(directory, lobby, name, map.as_deref()).await {
                        Ok(Some(there @ Placement::There { .. })) => Some(there),
                        Ok(Some(Placement::Here(_, claims))) => {
                            // Not here, it drains: the seat goes back.
                            let _ = directory.release(&claims).await;
                            elsewhere(directory, lobby, name, map.as_deref()).await.ok().flatten()
                        }
                        _ => elsewhere(directory, lobby, name, map.as_deref()).await.ok().flatten(),
                    };
                    match there {
                        Some(Placement::There { url, token }) => {
                            Some(Refusal::Redirect { url, join: Join::Seat { token } })
                        }
                        _ => None,
                    }
                }
                // The whole request goes on: that process creates the room with every option asked for.
                Join::Create(_) => match directory.least_loaded().await {
                    Ok(Some(proc)) if proc.id != directory.proc_id() => {
                        Some(Refusal::Redirect { url: proc.url, join: join.clone() })
                    }
                    _ => None,
                },
                // A room another process holds is still there to join.
                Join::Room { id } if lobby.find(id).is_err() => redirect_to_room(directory, id, join).await,
                _ => None,
            };
            if let Some(redirect) = elsewhere {
                return Err(redirect);
            }
        }
        return Err(
            CloseReason::new(DisconnectReason::ServerShutdown, "server draining: it takes no new players").into()
        );
    }
    let (room, role) = match join {
        Join::QuickPlay { map } => {
            if let Some(directory) = directory {
                match place(directory, lobby, name, map.as_deref()).await {
                    Ok(Some(Placement::There { url, token })) => {
                        return Err(Refusal::Redirect { url, join: Join::Seat { token } });
                    }
                    Ok(Some(Placement::Here(room, claims))) => {
                        let seated = seat(&room, name, Role::Player, link).await;
                        // The reservation becomes the player (or, refused, is given back at once).
                        let settled = match seated {
                            Ok(_) => directory.redeem(&claims).await.map(|_| ()),
                            Err(_) => directory.release(&claims).await,
                        };
                        if let Err(error) = settled {
                            warn!(%error, "could not settle a seat reservation; it expires by itself");
                        }
                        if let Ok(key) = seated {
                            return Ok(admitted(name, room, Role::Player, key));
                        }
                        // Filled up meanwhile: this process's own quick play takes over.
                    }
                    Ok(None) => {}
                    Err(error) => warn!(%error, "quick play without the room directory: using this process's rooms"),
                }
            }
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
                    Err(refusal) => return Err(join_refusal(refusal).into()),
                }
            }
        }
        Join::Room { id } => (find(lobby, directory, id, join).await?, Role::Player),
        Join::Create(options) => (lobby.create_for(options, from).map_err(lobby_refusal)?, Role::Player),
        Join::Spectate { room: Some(id) } => (find(lobby, directory, id, join).await?, Role::Spectator),
        Join::Spectate { room: None } => (lobby.busiest().map_err(lobby_refusal)?, Role::Spectator),
        Join::Resume { token, last_tick } => {
            return match resume(lobby, token, *last_tick, link).await {
                Err(refusal) if directory.is_some() => {
                    let room_id = ResumeSecret::parse(token).map(|(room, _)| room.to_string());
                    match (directory, room_id) {
                        (Some(directory), Some(room_id)) if lobby.find(&room_id).is_err() => {
                            Err(redirect_to_room(directory, &room_id, join).await.unwrap_or(refusal.into()))
                        }
                        _ => Err(refusal.into()),
                    }
                }
                other => other.map_err(Refusal::Close),
            };
        }
        Join::Seat { token } => return take_seat(lobby, directory, name, token, link).await,
    };
    let key = seat(&room, name, role, link).await.map_err(join_refusal)?;
    Ok(admitted(name, room, role, key))
}

/// A room by id: this process's, or a redirect to the process that has it.
async fn find(lobby: &Lobby, directory: Option<&Directory>, id: &str, join: &Join) -> Result<Arc<RoomEntry>, Refusal> {
    match lobby.find(id) {
        Ok(room) => Ok(room),
        Err(error) => match directory {
            Some(directory) => Err(redirect_to_room(directory, id, join).await.unwrap_or(lobby_refusal(error).into())),
            None => Err(lobby_refusal(error).into()),
        },
    }
}

/// The redirect to the process holding `room_id`, repeating `join` there; `None` when no other process has it.
async fn redirect_to_room(directory: &Directory, room_id: &str, join: &Join) -> Option<Refusal> {
    match directory.room(room_id).await {
        Ok(Some(room)) if room.proc != directory.proc_id() => {
            Some(Refusal::Redirect { url: room.url, join: join.clone() })
        }
        Ok(_) => None,
        Err(error) => {
            warn!(%error, room = room_id, "could not look the room up in the directory");
            None
        }
    }
}

/// Quick play across every process: the fullest public room with a free seat (a reserved seat when it is on
/// another process), else a new room on the least-loaded process. Opening a room is single-flight across the
/// directory: a join that finds every room full while another is opening one waits for it (up to about a second)
/// and takes a seat there, rather than opening a room of its own.
async fn place(
    directory: &Directory,
    lobby: &Lobby,
    name: &str,
    map: Option<&str>,
) -> Result<Option<Placement>, DirectoryError> {
    let map = map.map(crate::lobby::options::canonical_map);
    for attempt in 0..CREATION_WAITS {
        if let Some(found) = seat_in_best(directory, lobby, name, map.as_deref()).await? {
            return Ok(Some(found));
        }
        if directory.claim_creation(CREATION_HOLD).await? {
            // No room with a seat anywhere: a new one, on another process if it is less loaded, else here. Either
            // way it is published before the claim is given back.
            let there = elsewhere(directory, lobby, name, map.as_deref()).await?;
            let placed = match there {
                Some(there) => Some(there),
                None => {
                    let room = lobby
                        .create(&crate::protocol::RoomOptions { map: map.clone(), ..Default::default() })
                        .map_err(|error| DirectoryError::Creation(error.to_string()))?;
                    directory.heartbeat(lobby).await?;
                    let listed = directory.room(&room.id).await?;
                    match listed {
                        Some(listed) => {
                            directory.reserve(&listed, name).await?.map(|(_, claims)| Placement::Here(room, claims))
                        }
                        None => None,
                    }
                }
            };
            // The room a redirect opens on another process is published by that process when the player arrives:
            // the claim lapses by itself by then (CREATION_HOLD).
            if matches!(placed, Some(Placement::Here(..))) {
                directory.end_creation().await?;
            }
            return Ok(placed);
        }
        if attempt + 1 < CREATION_WAITS {
            tokio::time::sleep(CREATION_POLL).await;
        }
    }
    Ok(None)
}

/// How long the right to open a room is held at most, how often a join that waits for it looks again, and how many
/// times.
const CREATION_HOLD: std::time::Duration = std::time::Duration::from_millis(1500);
const CREATION_POLL: std::time::Duration = std::time::Duration::from_millis(100);
const CREATION_WAITS: usize = 15;

/// A seat in the fullest room with one, of any process: reserved in the directory either way.
async fn seat_in_best(
    directory: &Directory,
    lobby: &Lobby,
    name: &str,
    map: Option<&str>,
) -> Result<Option<Placement>, DirectoryError> {
    for room in directory.candidates(map).await? {
        if room.proc == directory.proc_id() {
            let Ok(here) = lobby.find(&room.id) else { continue };
            if here.players() + here.reserved() >= here.max_players {
                continue;
            }
            if let Some((_, claims)) = directory.reserve(&room, name).await? {
                return Ok(Some(Placement::Here(here, claims)));
            }
            continue;
        }
        if let Some((token, _)) = directory.reserve(&room, name).await? {
            directory.stats.redirects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(Placement::There { url: room.url, token }));
        }
    }
    Ok(None)
}

/// A new room on the least-loaded other process, when it is less loaded than this one (or this one drains).
async fn elsewhere(
    directory: &Directory,
    lobby: &Lobby,
    name: &str,
    map: Option<&str>,
) -> Result<Option<Placement>, DirectoryError> {
    let here: usize = lobby.all().iter().map(|room| room.players()).sum();
    match directory.least_loaded().await? {
        Some(proc) if proc.id != directory.proc_id() && (proc.players < here || directory.is_draining()) => {
            let token = directory.create_seat(&proc, name, map)?;
            directory.stats.redirects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(Placement::There { url: proc.url, token }))
        }
        _ => Ok(None),
    }
}

/// Takes the seat another process reserved here (join kind 6): the token must be this directory's, for this
/// process, unexpired and unspent.
async fn take_seat(
    lobby: &Lobby,
    directory: Option<&Directory>,
    name: &str,
    token: &str,
    link: &ClientLink,
) -> Result<Session, Refusal> {
    let refused = |reason: String| Refusal::Close(CloseReason::new(DisconnectReason::SeatRefused, reason));
    let Some(directory) = directory else {
        return Err(refused("seat tokens need a room directory (this server runs without --redis)".into()));
    };
    let count_refusal = |error: Refusal| {
        directory.stats.seats_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        error
    };
    let now = crate::directory::now_ms();
    let claims =
        directory.seats().verify(token, directory.proc_id(), now).map_err(|e| count_refusal(refused(e.to_string())))?;
    match directory.redeem(&claims).await {
        Ok(true) => {}
        Ok(false) => return Err(count_refusal(refused(crate::directory::SeatError::Spent.to_string()))),
        Err(error) => return Err(count_refusal(refused(format!("seat token could not be checked: {error}")))),
    }
    directory.stats.seats_redeemed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The name the first process admitted (a token's name when authentication is on) stands.
    let name = if claims.name.is_empty() { name.to_string() } else { claims.name.clone() };
    let room = match claims.room.as_str() {
        "" => {
            let options = crate::protocol::RoomOptions { map: claims.map.clone(), ..Default::default() };
            // Quick play's own room: like a room quick play opens alone, it is not the player's creation (no quota).
            let room = lobby.create(&options).map_err(lobby_refusal)?;
            // Published at once, and the creation right given back: the players who waited for a room take
            // their seats in this one.
            let published = match directory.heartbeat(lobby).await {
                Ok(()) => directory.end_creation().await,
                Err(error) => Err(error),
            };
            if let Err(error) = published {
                warn!(%error, "a new room could not be published at once; the next heartbeat does");
            }
            room
        }
        id => lobby.find(id).map_err(lobby_refusal)?,
    };
    match seat(&room, &name, Role::Player, link).await {
        Ok(key) => Ok(admitted(&name, room, Role::Player, key)),
        // The room filled up between the reservation and now (a local join the directory had not seen yet): the
        // player came to play, so this process's own quick play seats it.
        Err(JoinRefused::Full { .. } | JoinRefused::Closed(_)) => {
            let room =
                lobby.quick_play(claims.map.as_deref(), std::slice::from_ref(&room.id)).map_err(lobby_refusal)?;
            let key = seat(&room, &name, Role::Player, link).await.map_err(join_refusal)?;
            Ok(admitted(&name, room, Role::Player, key))
        }
        Err(refusal) => Err(join_refusal(refusal).into()),
    }
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
