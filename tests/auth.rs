//! Authentication over real loopback sockets: with `--auth-secret`, a hello needs a join token signed by the game's
//! backend and the player's name comes from it; missing, expired, forged, malformed and unsigned tokens are refused
//! with their own close codes before any player exists; claims bind a token to a room and to creating rooms, over
//! the WebSocket and over HTTP; and `skirmish token` prints tokens the server accepts.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use skirmish::auth::{issue, Authenticator, JoinClaims};
use skirmish::client::{open, ClientError, GameClient};
use skirmish::codec::close_code;
use skirmish::config::ServerConfig;
use skirmish::protocol::{Join, RoomOptions, PROTOCOL_VERSION};
use skirmish::server::RunningServer;

const SECRET: &[u8] = b"a backend secret of 32 bytes!!!!";

async fn auth_server() -> RunningServer {
    let mut config = ServerConfig::for_tests();
    config.auth = Some(Arc::new(Authenticator::new(SECRET).expect("secret accepted")));
    start(config).await
}

fn claims(name: &str, ttl_secs: i64) -> JoinClaims {
    let exp = (skirmish::auth::unix_now() as i64 + ttl_secs).max(0) as u64;
    JoinClaims { name: name.into(), room: None, create: false, exp }
}

fn token(claims: &JoinClaims) -> String {
    issue(SECRET, claims).expect("token issued")
}

/// Says hello as `hello_name` with `auth`, joining as `join`.
async fn hello(
    server: &RunningServer,
    hello_name: &str,
    join: Join,
    auth: Option<String>,
) -> Result<GameClient, ClientError> {
    let ws = within("open", open(&url(server))).await?;
    within("hello", GameClient::join_with_auth(ws, hello_name, PROTOCOL_VERSION, Some(join), auth)).await
}

fn refusal(outcome: Result<GameClient, ClientError>) -> (u16, String) {
    match outcome {
        Err(ClientError::Closed { code, reason }) => (code, reason),
        Err(other) => panic!("expected a close, got {other}"),
        Ok(client) => panic!("admitted as player {}", client.player_id()),
    }
}

fn quick() -> Join {
    Join::QuickPlay { map: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_token_joins_under_its_own_name_and_bad_ones_are_refused_with_their_codes() {
    let server = auth_server().await;
    let mut ana = hello(&server, "impostor", quick(), Some(token(&claims("ana", 3600)))).await.expect("admitted");
    next_snapshot(&mut ana).await;
    assert_eq!(ana.name_of(ana.player_id()), Some("ana"), "the name comes from the token, not the hello");
    // With a token the hello's name may be empty.
    let bo = hello(&server, "", quick(), Some(token(&claims("bo", 60)))).await.expect("admitted");
    assert_ne!(bo.player_id(), ana.player_id());

    let missing = refusal(hello(&server, "eve", quick(), None).await);
    assert_eq!(missing, (close_code::AUTH_REQUIRED, "this server requires a signed join token".into()));
    let expired = refusal(hello(&server, "eve", quick(), Some(token(&claims("eve", -5)))).await);
    assert_eq!(expired, (close_code::AUTH_EXPIRED, "join token expired".into()));
    let forged = issue(b"another secret, also 32 bytes!!!", &claims("eve", 3600)).unwrap();
    let forged = refusal(hello(&server, "eve", quick(), Some(forged)).await);
    assert_eq!(forged, (close_code::AUTH_INVALID, "join token signature does not match".into()));
    let (code, reason) = refusal(hello(&server, "eve", quick(), Some("not.a.jwt".into())).await);
    assert_eq!(code, close_code::AUTH_INVALID);
    assert!(reason.starts_with("join token malformed"), "{reason}");
    // Unsigned: alg "none" with the claims of a good token and no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("eve", 3600)).unwrap());
    let unsigned = refusal(hello(&server, "eve", quick(), Some(format!("{header}.{body}."))).await);
    assert_eq!(unsigned, (close_code::AUTH_INVALID, "join token must be signed with HS256".into()));
    // A tampered claim breaks the signature.
    let good = token(&claims("eve", 3600));
    let parts: Vec<&str> = good.split('.').collect();
    let admin = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("admin", 3600)).unwrap());
    let tampered = refusal(hello(&server, "eve", quick(), Some(format!("{}.{admin}.{}", parts[0], parts[2]))).await);
    assert_eq!(tampered.0, close_code::AUTH_INVALID);

    assert_eq!(players(&server), 2, "no refused hello created a player");
    let disconnects = &server.server_stats.disconnects;
    assert_eq!(disconnects.get(skirmish::link::DisconnectReason::AuthRequired), 1);
    assert_eq!(disconnects.get(skirmish::link::DisconnectReason::AuthExpired), 1);
    assert_eq!(disconnects.get(skirmish::link::DisconnectReason::AuthInvalid), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_bind_a_token_to_its_room_and_to_creating_rooms_and_a_resume_needs_no_token() {
    let server = auth_server().await;
    let creator = JoinClaims { create: true, ..claims("cy", 3600) };
    let cy = hello(&server, "", Join::Create(RoomOptions::default()), Some(token(&creator))).await.expect("created");
    let room = cy.welcome.room.id.clone();
    let refused =
        refusal(hello(&server, "", Join::Create(RoomOptions::default()), Some(token(&claims("di", 60)))).await);
    assert_eq!(refused, (close_code::AUTH_FORBIDDEN, "join token does not allow creating rooms".into()));

    let for_other = JoinClaims { room: Some("aaaaaaaaaaaa".into()), ..claims("di", 3600) };
    let refused = refusal(hello(&server, "", Join::Room { id: room.clone() }, Some(token(&for_other))).await);
    assert_eq!(refused, (close_code::AUTH_FORBIDDEN, "join token is for room aaaaaaaaaaaa".into()));
    let refused = refusal(hello(&server, "", quick(), Some(token(&for_other))).await);
    assert_eq!(refused.0, close_code::AUTH_FORBIDDEN, "a room-bound token does not quick-play");
    let for_this = JoinClaims { room: Some(room.clone()), ..claims("di", 3600) };
    let di = hello(&server, "", Join::Room { id: room.clone() }, Some(token(&for_this))).await.expect("joined");
    assert_eq!(di.welcome.room.id, room);
    let watcher = hello(&server, "", Join::Spectate { room: Some(room.clone()) }, Some(token(&for_this))).await;
    assert!(watcher.is_ok(), "the room's token spectates it too");

    // The resume token is the credential of a held seat: no join token needed.
    let resume_token = di.welcome.session.clone().expect("session").resume_token;
    let id = di.player_id();
    drop(di);
    until("seat held", || the_room_stats(&server, &room).detached.load(std::sync::atomic::Ordering::Relaxed) == 1)
        .await;
    let join = Join::Resume { token: resume_token, last_tick: 0 };
    let back = hello(&server, "", join, None).await.expect("resumed without a join token");
    assert_eq!(back.player_id(), id);
    drop(cy);
    server.shutdown().await;
}

fn the_room_stats(server: &RunningServer, id: &str) -> Arc<skirmish::room::RoomStats> {
    server.lobby.find(id).expect("room exists").stats.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_room_over_http_needs_a_token_that_allows_it() {
    let server = auth_server().await;
    let addr = server.local_addr;
    let (status, head, body) = http_with_headers(addr, "POST", "/rooms", "", "{}").await;
    assert_eq!(status, 401, "{body}");
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    assert!(body.contains("this server requires a signed join token"), "{body}");
    let bad = http_with_headers(addr, "POST", "/rooms", "Authorization: Bearer nope\r\n", "{}").await;
    assert_eq!(bad.0, 401, "{}", bad.2);
    let plain = format!("Authorization: Bearer {}\r\n", token(&claims("ana", 60)));
    let (status, _, body) = http_with_headers(addr, "POST", "/rooms", &plain, "{}").await;
    assert_eq!((status, body.contains("does not allow creating rooms")), (403, true), "{body}");
    let creator = format!("Authorization: Bearer {}\r\n", token(&JoinClaims { create: true, ..claims("ana", 60) }));
    let (status, _, body) = http_with_headers(addr, "POST", "/rooms", &creator, r#"{"name": "ok"}"#).await;
    assert_eq!(status, 201, "{body}");
    // Reading the lobby stays open.
    assert_eq!(http(addr, "GET", "/rooms", "").await.0, 200);
    assert_eq!(server.lobby.all().len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_command_prints_a_token_the_server_accepts() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skirmish"))
        .args(["token", "--name", "ana", "--ttl", "15m", "--create"])
        .env("SKIRMISH_AUTH_SECRET", std::str::from_utf8(SECRET).unwrap())
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let claims = Authenticator::new(SECRET).unwrap().verify(printed.trim(), skirmish::auth::unix_now()).unwrap();
    assert_eq!((claims.name.as_str(), claims.create, claims.room), ("ana", true, None));
    let left = claims.exp - skirmish::auth::unix_now();
    assert!((890..=900).contains(&left), "expires in {left} s, asked for 15 minutes");
    let server = auth_server().await;
    let ana = hello(&server, "", quick(), Some(printed.trim().to_string())).await.expect("admitted");
    assert!(ana.player_id() != 0);
    server.shutdown().await;

    // A short secret is an operator error, said clearly, with a non-zero exit.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_skirmish"))
        .args(["token", "--secret", "short", "--name", "ana"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_a_token_names_nobody() {
    let server = start(ServerConfig::for_tests()).await;
    // Nothing checks the token, so the hello's own name must be a valid one.
    let outcome = hello(&server, "", quick(), Some(token(&claims("ana", 3600)))).await;
    let (code, reason) = refusal(outcome);
    assert_eq!(
        (code, reason.as_str()),
        (close_code::INVALID_PAYLOAD, "invalid value: name must be 1 to 16 characters, got 0")
    );
    // A token is ignored, and the hello's name used.
    let mut bo = hello(&server, "bo", quick(), Some("anything".into())).await.expect("admitted");
    next_snapshot(&mut bo).await;
    assert_eq!(bo.name_of(bo.player_id()), Some("bo"));
    server.shutdown().await;
}
