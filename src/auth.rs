//! Signed join tokens (protocol v4, "Authentication"). With a secret configured, the server admits only hellos that
//! carry an HS256 JWT made with that secret; the player's name (and, optionally, the one room it may join and whether
//! it may create rooms) comes from the token, not from the client. This module is the whole of that trust decision:
//! where the secret comes from (`load_secret`), checking a token (`Authenticator::verify`) into `JoinClaims` or an
//! `AuthError` that names its close code, and making tokens (`issue`, the `skirmish token` subcommand).
//!
//! It takes the time as an argument (`now_unix`) instead of reading the clock, so that expiry is exact and testable,
//! and it knows nothing of rooms or sockets: whether the claims allow a particular join (4013) is the caller's rule.

use std::env::VarError;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::close_code;

/// The environment variable read for the secret when neither `--auth-secret` nor `--auth-secret-file` is given.
pub const SECRET_ENV: &str = "SKIRMISH_AUTH_SECRET";

/// The shortest secret accepted. HS256 is only as strong as its key; a short one can be brute-forced offline from
/// a single token, and every client holds one.
pub const MIN_SECRET_BYTES: usize = 16;

/// Longest token looked at. A hello caps it anyway (512 bytes), but an HTTP `Authorization` header does not, and
/// real join tokens are about 200 bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A token's `name` follows the rule of a hello's name.
pub use crate::codec::MAX_NAME_CHARS;

/// Room ids are 12 characters of `a-z2-7`; the bound is looser, but tight enough that the 4013 reason quoting the
/// room ("join token is for room X") stays within a close frame's 123 bytes.
pub const MAX_ROOM_CHARS: usize = 32;

/// What a verified join token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The player's name, trimmed; it replaces the name in the hello.
    pub name: String,
    /// The only room the token admits to (ROOM or SPECTATE join with this id, or a RESUME); any room when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Whether the holder may create rooms (CREATE joins, POST /rooms).
    #[serde(default, skip_serializing_if = "is_false")]
    pub create: bool,
    /// Expiry, unix seconds: the token is refused from this second on.
    pub exp: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Why a join token was refused. Every message is safe to send to the client as a close reason: none quotes the
/// token, and all fit a close frame's 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token (none, or an empty string) where one is required.
    #[error("this server requires a signed join token")]
    Missing,
    /// Not a compact JWT: parts, base64url or JSON are wrong; the reason is one of a few fixed phrases.
    #[error("join token malformed: {0}")]
    Malformed(String),
    /// Signed with another secret, or altered since.
    #[error("join token signature does not match")]
    BadSignature,
    /// The header's `alg` is not exactly `HS256` (`none`, HS384, RS256, missing...).
    #[error("join token must be signed with HS256")]
    WrongAlgorithm,
    /// `exp` is now or past.
    #[error("join token expired")]
    Expired,
    /// Properly signed, but `name`, `exp`, `room` or `create` is missing, mistyped or breaks its rule.
    #[error("join token claims invalid: {0}")]
    BadClaims(String),
}

impl AuthError {
    /// The WebSocket close code for this refusal. The HTTP edge answers 401 to all of them instead.
    pub fn close_code(&self) -> u16 {
        match self {
            AuthError::Missing => close_code::AUTH_REQUIRED,
            AuthError::Malformed(_) | AuthError::BadSignature | AuthError::WrongAlgorithm | AuthError::BadClaims(_) => {
                close_code::AUTH_INVALID
            }
            AuthError::Expired => close_code::AUTH_EXPIRED,
        }
    }
}

fn malformed(why: &str) -> AuthError {
    AuthError::Malformed(why.to_string())
}

fn bad_claims(why: impl Into<String>) -> AuthError {
    AuthError::BadClaims(why.into())
}

/// Why authentication could not be set up, or a token not made: an operator's mistake, reported at startup or by
/// the `token` subcommand, never to a client.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("the auth secret is empty (from its flag, its file or {SECRET_ENV})")]
    EmptySecret,
    #[error("the auth secret is {len} bytes; use at least {MIN_SECRET_BYTES} (e.g. 32 random bytes, base64-encoded)")]
    SecretTooShort { len: usize },
    #[error("give the auth secret once: either the secret or a secret file, not both")]
    BothSecretSources,
    #[error("no auth secret: give --secret, --secret-file or set {SECRET_ENV}")]
    NoSecret,
    #[error("cannot read the auth secret file {}: {source}", path.display())]
    SecretFile { path: PathBuf, source: std::io::Error },
    #[error("{SECRET_ENV} is not valid UTF-8")]
    SecretEnvNotUtf8,
    #[error("jsonwebtoken has no crypto provider (the build must enable exactly one of its backends)")]
    NoCryptoProvider,
    #[error("token claims invalid: {0}")]
    BadClaims(String),
    #[error("ttl too long: the expiry does not fit in unix seconds")]
    TtlTooLong,
    #[error("the system clock is before 1970: cannot compute an expiry")]
    ClockBeforeEpoch,
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// Checks join tokens against one secret. Build it once at startup and share it: the key and the validation
/// settings are prepared here, not per token.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived, so that no future field can print the secret into a log.
        f.write_str("Authenticator { .. }")
    }
}

impl Authenticator {
    /// Refuses a secret shorter than `MIN_SECRET_BYTES`, and a build without a jsonwebtoken crypto backend.
    pub fn new(secret: &[u8]) -> Result<Self, AuthSetupError> {
        check_secret(secret)?;
        let key = DecodingKey::from_secret(secret).map_err(|_| AuthSetupError::EmptySecret)?;
        let mut validation = Validation::new(Algorithm::HS256);
        // The library would check `exp` against the system clock with 60 s of leeway, and panic on a clock before
        // 1970; verify checks it against the caller's `now_unix`, with no leeway, itself.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        // The spec ignores claims it does not name; the library would refuse any token carrying an `aud`.
        validation.validate_aud = false;
        Ok(Authenticator { key, validation })
    }

    /// Checks a hello's `auth` element: none (or an empty string) is `Missing`.
    pub fn verify_optional(&self, token: Option<&str>, now_unix: u64) -> Result<JoinClaims, AuthError> {
        self.verify(token.unwrap_or(""), now_unix)
    }

    /// Checks a token's shape, algorithm, signature and claims, then its expiry against `now_unix`. Claims are
    /// checked before expiry: a fresh token from the same issuer would carry the same bad claims, so saying
    /// "expired" would only send the client round for another one.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<JoinClaims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_claims), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        check_header(header)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|error| from_library(error.into_kind()))?;
        let claims = claims_from_json(data.claims)?;
        // `exp` is the first second at which the token is no longer valid (RFC 7519 4.1.4: "on or after").
        if claims.exp <= now_unix {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

/// Secret-length rules shared by the verifier and the issuer, so the `token` command cannot make tokens for a
/// secret the server would refuse to start with.
fn check_secret(secret: &[u8]) -> Result<(), AuthSetupError> {
    if secret.is_empty() {
        return Err(AuthSetupError::EmptySecret);
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(AuthSetupError::SecretTooShort { len: secret.len() });
    }
    // With no backend compiled in, the library panics on first use; this turns that into an error at startup.
    if CryptoProvider::try_get_default().is_none() {
        return Err(AuthSetupError::NoCryptoProvider);
    }
    Ok(())
}

/// Reads the header before the library does, for two reasons: `alg: "none"` (and any name the library does not
/// know) fails there as a JSON error, not as a wrong algorithm, and the refusal must say which it is; and the
/// algorithm is pinned to HS256 before any key is used.
fn check_header(encoded: &str) -> Result<(), AuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed("header is not base64url"))?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| malformed("header is not JSON"))?;
    let Value::Object(fields) = &header else {
        return Err(malformed("header is not a JSON object"));
    };
    match fields.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        _ => return Err(AuthError::WrongAlgorithm),
    }
    // The library parses the header again into its own type; a field of the wrong type would fail there as a JSON
    // error indistinguishable from bad claims, so it is caught here with its own reason.
    serde_json::from_value::<Header>(header).map_err(|_| malformed("header fields are invalid"))?;
    Ok(())
}

/// The library's refusals in the spec's terms. The header has passed `check_header` by now, so a JSON or base64
/// error is in the claims or the signature.
fn from_library(kind: jsonwebtoken::errors::ErrorKind) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            AuthError::WrongAlgorithm
        }
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::Base64(_) => malformed("claims or signature are not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => malformed(CLAIMS_NOT_JSON),
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::BadClaims(format!("{claim} is missing or of the wrong type"))
        }
        // The header's `crit` or `b64` parameters ask for an extension that is not supported.
        ErrorKind::InvalidToken => malformed("header asks for an unsupported extension"),
        _ => malformed("not a valid HS256 JWT"),
    }
}

/// The library parses `sub`, `exp` and `nbf` for its own checks even when they are off, and fails the whole token on
/// an object or array in one of them, so the reason names that too.
const CLAIMS_NOT_JSON: &str = "claims are not a JSON object, or sub, exp or nbf holds an object or array";

/// The claims by hand rather than through `JoinClaims`'s derive: serde's messages quote the offending value (the
/// client's own bytes, of any length), and a close reason must be short and fixed.
fn claims_from_json(mut claims: Map<String, Value>) -> Result<JoinClaims, AuthError> {
    let name = match claims.remove("name") {
        Some(Value::String(name)) => check_name(&name).map_err(bad_claims)?,
        None | Some(Value::Null) => return Err(bad_claims("missing name")),
        Some(_) => return Err(bad_claims("name must be a string")),
    };
    let exp = match claims.remove("exp") {
        Some(Value::Number(exp)) => exp.as_u64().ok_or_else(|| bad_claims("exp must be whole unix seconds"))?,
        None | Some(Value::Null) => return Err(bad_claims("missing exp")),
        Some(_) => return Err(bad_claims("exp must be whole unix seconds")),
    };
    let room = match claims.remove("room") {
        Some(Value::String(room)) => Some(check_room(&room).map_err(bad_claims)?),
        None | Some(Value::Null) => None,
        Some(_) => return Err(bad_claims("room must be a string")),
    };
    let create = match claims.remove("create") {
        Some(Value::Bool(create)) => create,
        None | Some(Value::Null) => false,
        Some(_) => return Err(bad_claims("create must be true or false")),
    };
    Ok(JoinClaims { name, room, create, exp })
}

/// A hello name's rule, the very same check (`codec::validate_name`): 1 to 16 characters once trimmed, no control
/// characters.
fn check_name(name: &str) -> Result<String, String> {
    match crate::codec::validate_name(name) {
        Ok(()) => Ok(name.trim().to_string()),
        Err(crate::codec::DecodeError::Invalid(reason)) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

fn check_room(room: &str) -> Result<String, String> {
    let chars = room.chars().count();
    if chars == 0 || chars > MAX_ROOM_CHARS || !room.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!("room must be 1 to {MAX_ROOM_CHARS} printable ASCII characters"));
    }
    Ok(room.to_string())
}

/// Makes an HS256 join token. The claims are held to the rules `verify` applies (the name is stored trimmed), so
/// that what is issued is accepted until `exp`.
pub fn issue(secret: &[u8], claims: &JoinClaims) -> Result<String, AuthSetupError> {
    check_secret(secret)?;
    let name = check_name(&claims.name).map_err(AuthSetupError::BadClaims)?;
    let room = claims.room.as_deref().map(check_room).transpose().map_err(AuthSetupError::BadClaims)?;
    let claims = JoinClaims { name, room, create: claims.create, exp: claims.exp };
    let key = EncodingKey::from_secret(secret).map_err(|_| AuthSetupError::EmptySecret)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|error| AuthSetupError::Signing(error.to_string()))
}

/// The time to hand to `verify`. A clock before 1970 reads as the end of time, so that every token is refused as
/// expired: failing closed, instead of panicking the edge or admitting tokens that expired long ago.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(u64::MAX, |since| since.as_secs())
}

/// A token lifetime: `90s`, `15m`, `1h`, `2d`, or plain seconds (`3600`). Zero is refused, as a token that is
/// expired when made is surely a mistake.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let wrong = || format!("ttl must be a number of seconds or end in s, m, h or d (90s, 15m, 1h, 2d), got {text:?}");
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 60 * 60),
        Some((at, 'd')) => (&text[..at], 24 * 60 * 60),
        _ => (text, 1),
    };
    // u64::from_str alone would take a leading '+'.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    let count: u64 = digits.parse().map_err(|_| format!("ttl {text:?} is too long"))?;
    let seconds = count.checked_mul(unit).ok_or_else(|| format!("ttl {text:?} is too long"))?;
    if seconds == 0 {
        return Err("ttl must be more than 0".to_string());
    }
    Ok(Duration::from_secs(seconds))
}

/// The secret from the flag, else the file (trailing whitespace trimmed: editors and `echo` add a newline that is
/// surely not meant to be part of it), else `SKIRMISH_AUTH_SECRET`, else none: authentication off. An empty value
/// is returned as it is, for `Authenticator::new` to refuse: an operator who set the variable meant auth on.
pub fn load_secret(secret: Option<String>, secret_file: Option<PathBuf>) -> Result<Option<Vec<u8>>, AuthSetupError> {
    resolve_secret(secret, secret_file, || std::env::var(SECRET_ENV))
}

/// `load_secret` with the environment passed in, so tests need not touch the process-wide environment.
fn resolve_secret(
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    env: impl FnOnce() -> Result<String, VarError>,
) -> Result<Option<Vec<u8>>, AuthSetupError> {
    match (secret, secret_file) {
        (Some(_), Some(_)) => Err(AuthSetupError::BothSecretSources),
        (Some(secret), None) => Ok(Some(secret.into_bytes())),
        (None, Some(path)) => {
            let mut bytes = std::fs::read(&path).map_err(|source| AuthSetupError::SecretFile { path, source })?;
            let kept = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |last| last + 1);
            bytes.truncate(kept);
            Ok(Some(bytes))
        }
        (None, None) => match env() {
            Ok(secret) => Ok(Some(secret.into_bytes())),
            Err(VarError::NotPresent) => Ok(None),
            Err(VarError::NotUnicode(_)) => Err(AuthSetupError::SecretEnvNotUtf8),
        },
    }
}

/// `skirmish token`: prints one join token signed with the server's secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "token", about = "Print a signed join token for a server started with --auth-secret")]
pub struct TokenArgs {
    /// The server's HS256 secret (at least 16 bytes). Other local users can read it in the process list: prefer
    /// --secret-file or SKIRMISH_AUTH_SECRET outside tests.
    #[arg(long, conflicts_with = "secret_file")]
    pub secret: Option<String>,

    /// A file holding the secret (a trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// The player's name (1 to 16 characters).
    #[arg(long)]
    pub name: String,

    /// How long the token is valid: 90s, 15m, 1h, 2d, or plain seconds.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,

    /// Admit only to this room (ROOM or SPECTATE joins with this id, and resumes).
    #[arg(long)]
    pub room: Option<String>,

    /// Allow creating rooms (CREATE joins and POST /rooms).
    #[arg(long)]
    pub create: bool,
}

/// The `token` subcommand: the token, without a newline (main prints it with one).
pub fn run_token_command(args: TokenArgs) -> Result<String, AuthSetupError> {
    let secret = load_secret(args.secret, args.secret_file)?.ok_or(AuthSetupError::NoSecret)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| AuthSetupError::ClockBeforeEpoch)?;
    let exp = now.as_secs().checked_add(args.ttl.as_secs()).ok_or(AuthSetupError::TtlTooLong)?;
    issue(&secret, &JoinClaims { name: args.name, room: args.room, create: args.create, exp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef-test-secret";
    const NOW: u64 = 1_800_000_000;

    fn auth() -> Authenticator {
        Authenticator::new(SECRET).expect("a 28-byte secret is accepted")
    }

    fn claims(name: &str, exp: u64) -> JoinClaims {
        JoinClaims { name: name.into(), room: None, create: false, exp }
    }

    fn token(claims: &JoinClaims) -> String {
        issue(SECRET, claims).expect("valid claims are issued")
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token made with the library directly, so that claims `issue` would refuse can still be signed.
    fn signed(alg: Algorithm, secret: &[u8], claims: &Value) -> String {
        let key = EncodingKey::from_secret(secret).expect("non-empty secret");
        jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("signing works")
    }

    /// A token from raw header and claims JSON, signed with HS256 over exactly those bytes.
    fn hand_signed(header: &str, claims: &str) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let key = EncodingKey::from_secret(SECRET).expect("non-empty secret");
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("signing works");
        format!("{message}.{signature}")
    }

    fn verify_json(claims: Value) -> Result<JoinClaims, AuthError> {
        auth().verify(&signed(Algorithm::HS256, SECRET, &claims), NOW)
    }

    fn assert_bad_claims(result: Result<JoinClaims, AuthError>, needle: &str) {
        match result {
            Err(AuthError::BadClaims(why)) => assert!(why.contains(needle), "{why:?} should mention {needle:?}"),
            other => panic!("expected BadClaims({needle}), got {other:?}"),
        }
    }

    fn assert_malformed(result: Result<JoinClaims, AuthError>) {
        assert!(matches!(result, Err(AuthError::Malformed(_))), "expected Malformed, got {result:?}");
    }

    #[test]
    fn a_good_token_gives_its_claims() {
        let claims = verify_json(json!({"name": "ana", "exp": NOW + 60})).expect("valid");
        assert_eq!(claims, JoinClaims { name: "ana".into(), room: None, create: false, exp: NOW + 60 });
    }

    #[test]
    fn issue_and_verify_round_trip() {
        let issued = JoinClaims { name: "ana".into(), room: Some("abcdefgh2345".into()), create: true, exp: NOW + 1 };
        assert_eq!(auth().verify(&token(&issued), NOW), Ok(issued));
    }

    #[test]
    fn issued_tokens_are_hs256_and_compact() {
        let token = token(&claims("ana", NOW + 60));
        let header = token.split('.').next().expect("has a header");
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json");
        assert_eq!(header["alg"], "HS256");
        let body = token.split('.').nth(1).expect("has claims");
        let body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("json");
        // Absent room and false create are left out: a token must fit a 512-byte hello with room to spare.
        assert_eq!(body, json!({"name": "ana", "exp": NOW + 60}));
    }

    #[test]
    fn expiry_has_no_leeway() {
        let auth = auth();
        let token = token(&claims("ana", NOW));
        assert_eq!(auth.verify(&token, NOW - 1).map(|c| c.exp), Ok(NOW), "valid the second before exp");
        assert_eq!(auth.verify(&token, NOW), Err(AuthError::Expired), "exp == now is expired");
        assert_eq!(auth.verify(&token, NOW + 1), Err(AuthError::Expired));
        let old = self::token(&claims("ana", NOW - 3600));
        assert_eq!(auth.verify(&old, NOW), Err(AuthError::Expired));
    }

    #[test]
    fn a_token_from_another_secret_is_refused() {
        let other = signed(Algorithm::HS256, b"another-secret-of-16+", &json!({"name": "ana", "exp": NOW + 60}));
        assert_eq!(auth().verify(&other, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn a_tampered_claim_is_refused() {
        let token = token(&claims("ana", NOW + 60));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(json!({"name": "admin", "exp": NOW + 60}).to_string().as_bytes());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(auth().verify(&tampered, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn unsigned_alg_none_is_refused() {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64(json!({"name": "ana", "exp": NOW + 60}).to_string().as_bytes());
        let auth = auth();
        let unsigned = format!("{header}.{claims}.");
        assert_eq!(auth.verify(&unsigned, NOW), Err(AuthError::WrongAlgorithm));
        // With the real HS256 signature of the same claims pasted on, it is still refused.
        let real = token(&self::claims("ana", NOW + 60));
        let signature = real.rsplit('.').next().expect("has a signature");
        assert_eq!(auth.verify(&format!("{header}.{claims}.{signature}"), NOW), Err(AuthError::WrongAlgorithm));
        for alg in ["None", "NONE", "hs256", "HS 256", ""] {
            let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
            assert_eq!(auth.verify(&format!("{header}.{claims}."), NOW), Err(AuthError::WrongAlgorithm), "{alg}");
        }
        for header in [r#"{"typ":"JWT"}"#, r#"{"alg":null}"#, r#"{"alg":256}"#] {
            let token = format!("{}.{claims}.", b64(header.as_bytes()));
            assert_eq!(auth.verify(&token, NOW), Err(AuthError::WrongAlgorithm), "{header}");
        }
    }

    #[test]
    fn other_hmac_algorithms_are_refused_even_with_the_right_secret() {
        let claims = json!({"name": "ana", "exp": NOW + 60});
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = signed(alg, SECRET, &claims);
            assert_eq!(auth().verify(&token, NOW), Err(AuthError::WrongAlgorithm), "{alg:?}");
        }
    }

    #[test]
    fn an_asymmetric_alg_header_is_refused() {
        // The classic key-confusion attack: RS256 in the header, "signed" with the HMAC secret as if it were a key.
        let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = b64(json!({"name": "ana", "exp": NOW + 60}).to_string().as_bytes());
        assert_eq!(auth().verify(&format!("{header}.{claims}.c2ln"), NOW), Err(AuthError::WrongAlgorithm));
    }

    #[test]
    fn no_token_is_missing() {
        let auth = auth();
        assert_eq!(auth.verify("", NOW), Err(AuthError::Missing));
        assert_eq!(auth.verify_optional(None, NOW), Err(AuthError::Missing));
        assert_eq!(auth.verify_optional(Some(""), NOW), Err(AuthError::Missing));
        let good = token(&claims("ana", NOW + 60));
        assert!(auth.verify_optional(Some(&good), NOW).is_ok());
    }

    #[test]
    fn garbage_is_malformed() {
        let auth = auth();
        for garbage in [
            "x",
            " ",
            "...",
            "a.b",
            "a.b.c.d",
            "not a token at all",
            "eyJ.eyJ.",
            "!!!.!!!.!!!",
            "\u{0}\u{1}\u{2}",
            "🎮.🎮.🎮",
            "eyJhbGciOiJIUzI1NiJ9.e30",
        ] {
            assert_malformed(auth.verify(garbage, NOW));
        }
        // Base64 of something that is not JSON, and of JSON that is not an object.
        let not_json = format!("{}.{}.", b64(b"hello"), b64(b"{}"));
        assert_eq!(auth.verify(&not_json, NOW), Err(malformed("header is not JSON")));
        let array = format!("{}.{}.", b64(b"[1,2]"), b64(b"{}"));
        assert_eq!(auth.verify(&array, NOW), Err(malformed("header is not a JSON object")));
        // Padding is not base64url as JWTs spell it.
        let padded = format!("{}==.e30.", b64(br#"{"alg":"HS256"}"#));
        assert_malformed(auth.verify(&padded, NOW));
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(auth.verify(&huge, NOW), Err(AuthError::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes"))));
    }

    #[test]
    fn claims_that_are_not_an_object_are_malformed() {
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        for body in ["[1,2]", "\"ana\"", "42", "null", "{\"name\":", "not json"] {
            assert_malformed(auth().verify(&hand_signed(header, body), NOW));
        }
    }

    #[test]
    fn header_fields_of_the_wrong_type_are_malformed() {
        let token = hand_signed(r#"{"alg":"HS256","kid":5}"#, &json!({"name": "ana", "exp": NOW + 60}).to_string());
        assert_eq!(auth().verify(&token, NOW), Err(malformed("header fields are invalid")));
    }

    #[test]
    fn unsupported_critical_header_extensions_are_refused() {
        let body = json!({"name": "ana", "exp": NOW + 60}).to_string();
        let token = hand_signed(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, &body);
        assert_malformed(auth().verify(&token, NOW));
        // A header without typ is fine: RFC 7519 makes it optional.
        let token = hand_signed(r#"{"alg":"HS256"}"#, &body);
        assert!(auth().verify(&token, NOW).is_ok());
    }

    #[test]
    fn every_truncation_is_refused_without_panicking() {
        let auth = auth();
        let token = token(&JoinClaims { name: "ana".into(), room: Some("room".into()), create: true, exp: NOW + 60 });
        for cut in 0..token.len() {
            let result = auth.verify(&token[..cut], NOW);
            let code = result.as_ref().map_err(AuthError::close_code);
            let expected = if cut == 0 { close_code::AUTH_REQUIRED } else { close_code::AUTH_INVALID };
            assert_eq!(code, Err(expected), "cut at {cut}: {result:?}");
        }
        // Cut at the last dot: no signature at all.
        let unsigned = &token[..=token.rfind('.').expect("has dots")];
        assert_eq!(auth.verify(unsigned, NOW), Err(AuthError::BadSignature));
        // Cut before it: only two parts.
        let two_parts = &token[..token.rfind('.').expect("has dots")];
        assert_eq!(auth.verify(two_parts, NOW), Err(malformed("not three dot-separated parts")));
    }

    #[test]
    fn missing_or_mistyped_name_is_refused() {
        assert_bad_claims(verify_json(json!({"exp": NOW + 60})), "missing name");
        assert_bad_claims(verify_json(json!({"name": null, "exp": NOW + 60})), "missing name");
        assert_bad_claims(verify_json(json!({"name": 7, "exp": NOW + 60})), "name must be a string");
        assert_bad_claims(verify_json(json!({"name": ["ana"], "exp": NOW + 60})), "name must be a string");
    }

    #[test]
    fn names_follow_the_hello_rules() {
        assert_bad_claims(verify_json(json!({"name": "", "exp": NOW + 60})), "got 0");
        assert_bad_claims(verify_json(json!({"name": "   \t ", "exp": NOW + 60})), "got 0");
        assert_bad_claims(verify_json(json!({"name": "a".repeat(17), "exp": NOW + 60})), "got 17");
        assert_bad_claims(verify_json(json!({"name": "an\u{7}a", "exp": NOW + 60})), "control");
        assert_bad_claims(verify_json(json!({"name": "an\na", "exp": NOW + 60})), "control");
        // 16 characters is the most, counted as characters, not bytes; the name comes back trimmed.
        let sixteen = "é".repeat(16);
        assert_eq!(verify_json(json!({"name": sixteen.clone(), "exp": NOW + 60})).map(|c| c.name), Ok(sixteen));
        let padded = format!("  {}  ", "b".repeat(16));
        assert_eq!(verify_json(json!({"name": padded, "exp": NOW + 60})).map(|c| c.name), Ok("b".repeat(16)));
    }

    #[test]
    fn exp_is_required_and_whole_seconds() {
        assert_bad_claims(verify_json(json!({"name": "ana"})), "missing exp");
        assert_bad_claims(verify_json(json!({"name": "ana", "exp": null})), "missing exp");
        for exp in [json!("1900000000"), json!(-5), json!(1.9e9), json!(true)] {
            assert_bad_claims(verify_json(json!({"name": "ana", "exp": exp})), "whole unix seconds");
        }
    }

    #[test]
    fn room_and_create_are_carried() {
        let claims = verify_json(json!({"name": "ana", "room": "abcdefgh2345", "create": true, "exp": NOW + 60}));
        assert_eq!(claims.as_ref().map(|c| c.room.as_deref()), Ok(Some("abcdefgh2345")));
        assert_eq!(claims.map(|c| c.create), Ok(true));
        let defaults = verify_json(json!({"name": "ana", "room": null, "create": null, "exp": NOW + 60}));
        assert_eq!(defaults.map(|c| (c.room, c.create)), Ok((None, false)));
        assert_eq!(verify_json(json!({"name": "ana", "create": false, "exp": NOW + 60})).map(|c| c.create), Ok(false));
    }

    #[test]
    fn room_and_create_of_the_wrong_shape_are_refused() {
        assert_bad_claims(verify_json(json!({"name": "ana", "room": 5, "exp": NOW + 60})), "room must be a string");
        assert_bad_claims(verify_json(json!({"name": "ana", "room": "", "exp": NOW + 60})), "room must be 1 to 32");
        assert_bad_claims(verify_json(json!({"name": "ana", "room": "a b", "exp": NOW + 60})), "room must be 1 to 32");
        assert_bad_claims(verify_json(json!({"name": "ana", "room": "r".repeat(33), "exp": NOW + 60})), "room must");
        assert_bad_claims(verify_json(json!({"name": "ana", "create": "yes", "exp": NOW + 60})), "create must be");
        assert_bad_claims(verify_json(json!({"name": "ana", "create": 1, "exp": NOW + 60})), "create must be");
    }

    #[test]
    fn other_claims_are_ignored() {
        let claims = json!({
            "name": "ana", "exp": NOW + 60, "iat": NOW - 10, "sub": "user-42", "nbf": NOW + 3600,
            "aud": "somewhere-else", "iss": "issuer", "jti": "x", "extra": {"nested": [1, 2, 3]},
        });
        assert_eq!(verify_json(claims).map(|c| c.name), Ok("ana".into()));
        // Even registered claims of odd types: the spec names only name, exp, room and create.
        let odd = json!({"name": "ana", "exp": NOW + 60, "sub": 5, "iat": "yesterday", "aud": {"x": 1}, "iss": []});
        assert_eq!(verify_json(odd).map(|c| c.name), Ok("ana".into()));
        for claim in ["iss", "aud", "iat", "jti", "typ"] {
            for value in [json!({"id": 1}), json!([1, 2]), json!([{"b": {}}])] {
                let mut nested = json!({"name": "ana", "exp": NOW + 60});
                nested[claim] = value.clone();
                assert_eq!(verify_json(nested).map(|c| c.name), Ok("ana".into()), "{claim}: {value}");
            }
        }
    }

    #[test]
    fn sub_exp_or_nbf_holding_an_object_or_array_is_malformed() {
        // A jsonwebtoken quirk: its own validation pass parses these three whatever the settings, and an object or
        // array there fails the whole parse. RFC 7519 makes them a string and numbers, so such a token is no JWT.
        for claim in ["sub", "exp", "nbf"] {
            for value in [json!({"id": 1}), json!([1, 2])] {
                let mut claims = json!({"name": "ana", "exp": NOW + 60});
                claims[claim] = value.clone();
                assert_eq!(verify_json(claims), Err(malformed(CLAIMS_NOT_JSON)), "{claim}: {value}");
            }
        }
    }

    #[test]
    fn bad_claims_win_over_expiry() {
        assert_bad_claims(verify_json(json!({"name": "", "exp": NOW - 60})), "name");
    }

    #[test]
    fn close_codes_follow_the_spec() {
        assert_eq!(AuthError::Missing.close_code(), 4010);
        assert_eq!(AuthError::Malformed("x".into()).close_code(), 4011);
        assert_eq!(AuthError::BadSignature.close_code(), 4011);
        assert_eq!(AuthError::WrongAlgorithm.close_code(), 4011);
        assert_eq!(AuthError::BadClaims("x".into()).close_code(), 4011);
        assert_eq!(AuthError::Expired.close_code(), 4012);
    }

    #[test]
    fn messages_are_the_specs_and_fit_a_close_frame() {
        assert_eq!(AuthError::Missing.to_string(), "this server requires a signed join token");
        assert_eq!(AuthError::BadSignature.to_string(), "join token signature does not match");
        assert_eq!(AuthError::WrongAlgorithm.to_string(), "join token must be signed with HS256");
        assert_eq!(AuthError::Expired.to_string(), "join token expired");
        assert_eq!(malformed("x").to_string(), "join token malformed: x");
        assert_eq!(bad_claims("x").to_string(), "join token claims invalid: x");
        // Every refusal a hostile token can provoke, each within 123 bytes and none quoting the token.
        let auth = auth();
        let secret_part = "SECRETPAYLOAD";
        let long_name = format!("{secret_part}{}", "é".repeat(200));
        let inputs = [
            "a".repeat(MAX_TOKEN_BYTES + 1),
            format!("{secret_part}.{secret_part}"),
            format!("{secret_part}.{secret_part}.{secret_part}"),
            signed(Algorithm::HS256, SECRET, &json!({"name": long_name, "exp": NOW + 1})),
            signed(Algorithm::HS256, SECRET, &json!({"name": "ana", "exp": secret_part, "room": long_name})),
            signed(Algorithm::HS256, SECRET, &json!({"name": "ana", "exp": NOW + 1, "room": long_name})),
            hand_signed(r#"{"alg":"HS256"}"#, &format!("[\"{secret_part}\"]")),
        ];
        for input in &inputs {
            let error = auth.verify(input, NOW).expect_err("all refused");
            let message = error.to_string();
            assert!(message.len() <= 123, "{message:?} is {} bytes", message.len());
            assert!(!message.contains(secret_part), "{message:?} quotes the token");
        }
    }

    #[test]
    fn secrets_must_be_long_enough() {
        assert!(matches!(Authenticator::new(b""), Err(AuthSetupError::EmptySecret)));
        assert!(matches!(Authenticator::new(b"fifteen-bytes!!"), Err(AuthSetupError::SecretTooShort { len: 15 })));
        assert!(Authenticator::new(b"sixteen-bytes!!!").is_ok());
        let message = AuthSetupError::SecretTooShort { len: 3 }.to_string();
        assert!(message.contains("3 bytes") && message.contains("at least 16"), "{message}");
        assert!(matches!(issue(b"short", &claims("ana", NOW)), Err(AuthSetupError::SecretTooShort { len: 5 })));
    }

    #[test]
    fn the_clock_reads_as_now() {
        let now = unix_now();
        assert!(now > 1_700_000_000 && now < u64::MAX, "{now}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", auth()).contains("0123456789"));
    }

    #[test]
    fn issue_refuses_claims_verify_would_refuse() {
        assert!(matches!(issue(SECRET, &claims("", NOW)), Err(AuthSetupError::BadClaims(_))));
        assert!(matches!(issue(SECRET, &claims(&"a".repeat(17), NOW)), Err(AuthSetupError::BadClaims(_))));
        let bad_room = JoinClaims { room: Some("has space".into()), ..claims("ana", NOW) };
        assert!(matches!(issue(SECRET, &bad_room), Err(AuthSetupError::BadClaims(_))));
        // The name is stored trimmed.
        let token = issue(SECRET, &claims("  ana ", NOW + 60)).expect("valid");
        assert_eq!(auth().verify(&token, NOW).map(|c| c.name), Ok("ana".into()));
    }

    #[test]
    fn join_claims_serde_defaults() {
        let parsed: JoinClaims = serde_json::from_value(json!({"name": "ana", "exp": 5, "iat": 1, "sub": "x"}))
            .expect("create defaults, unknown claims ignored");
        assert_eq!(parsed, claims("ana", 5));
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(15 * 60)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_ttl("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl("007m"), Ok(Duration::from_secs(7 * 60)));
    }

    #[test]
    fn ttl_refusals() {
        for zero in ["0", "0s", "0m", "0h", "0d", "000"] {
            assert_eq!(parse_ttl(zero), Err("ttl must be more than 0".to_string()), "{zero}");
        }
        for garbage in [
            "", "s", "h", "-5", "-5m", "+5", "1.5h", "1 h", " 1h", "1h ", "1H", "1w", "1hm", "abc", "１h", "5ms", "1e3",
        ] {
            assert!(parse_ttl(garbage).is_err(), "{garbage:?} should be refused");
        }
        assert!(parse_ttl("99999999999999999999").is_err(), "over u64");
        assert!(parse_ttl(&format!("{}d", u64::MAX / 1000)).is_err(), "overflows when multiplied");
    }

    fn env_unset() -> Result<String, VarError> {
        Err(VarError::NotPresent)
    }

    fn env_set() -> Result<String, VarError> {
        Ok("from-the-environment".into())
    }

    fn secret_file(contents: &[u8]) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("secret");
        std::fs::write(&path, contents).expect("write the secret file");
        (dir, path)
    }

    /// A directory removed on drop, to spare a dev-dependency.
    mod tempdir {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct Dir(pub PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!("skirmish-auth-test-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).expect("create a temp dir");
                Dir(path)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn secret_precedence() {
        let (_dir, path) = secret_file(b"from-the-file\n");
        let flag = Some("from-the-flag".to_string());
        assert_eq!(resolve_secret(flag.clone(), None, env_set).ok().flatten(), Some(b"from-the-flag".to_vec()));
        assert_eq!(resolve_secret(None, Some(path.clone()), env_set).ok().flatten(), Some(b"from-the-file".to_vec()));
        assert_eq!(resolve_secret(None, None, env_set).ok().flatten(), Some(b"from-the-environment".to_vec()));
        assert_eq!(resolve_secret(None, None, env_unset).ok(), Some(None), "no secret: auth off");
        assert!(matches!(resolve_secret(flag, Some(path), env_set), Err(AuthSetupError::BothSecretSources)));
    }

    #[test]
    fn the_environment_is_read_only_when_needed() {
        let env_panics = || -> Result<String, VarError> { panic!("the environment was read") };
        assert!(resolve_secret(Some("flag".into()), None, env_panics).is_ok());
        let (_dir, path) = secret_file(b"file");
        assert!(resolve_secret(None, Some(path), env_panics).is_ok());
    }

    #[test]
    fn secret_file_trailing_whitespace_is_trimmed() {
        for (contents, expected) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\n", b"secret"),
            (b"secret \t\n\n", b"secret"),
            (b"  inner space kept\n", b"  inner space kept"),
            (b"\n", b""),
            (b"", b""),
            (b"\xff\x00binary", b"\xff\x00binary"),
        ] {
            let (_dir, path) = secret_file(contents);
            assert_eq!(resolve_secret(None, Some(path), env_unset).ok().flatten().as_deref(), Some(expected));
        }
    }

    #[test]
    fn secret_file_errors_name_the_file() {
        let missing = PathBuf::from("/nonexistent/skirmish/secret");
        let error = resolve_secret(None, Some(missing), env_unset).expect_err("no such file");
        assert!(matches!(error, AuthSetupError::SecretFile { .. }));
        assert!(error.to_string().contains("/nonexistent/skirmish/secret"), "{error}");
    }

    #[test]
    fn empty_or_odd_environment_values_are_not_taken_as_unset() {
        assert_eq!(resolve_secret(None, None, || Ok(String::new())).ok().flatten(), Some(Vec::new()));
        let not_unicode = || Err(VarError::NotUnicode(std::ffi::OsString::from("x")));
        assert!(matches!(resolve_secret(None, None, not_unicode), Err(AuthSetupError::SecretEnvNotUtf8)));
    }

    fn token_args(extra: &[&str]) -> Result<TokenArgs, clap::Error> {
        TokenArgs::try_parse_from(["token"].iter().chain(extra))
    }

    #[test]
    fn token_command_makes_a_token_the_server_accepts() {
        let secret = std::str::from_utf8(SECRET).expect("ascii");
        let args =
            token_args(&["--secret", secret, "--name", "ana", "--ttl", "15m", "--room", "abcdefgh2345", "--create"])
                .expect("valid flags");
        assert_eq!(args.ttl, Duration::from_secs(900));
        let token = run_token_command(args).expect("a token");
        let now = unix_now();
        let claims = auth().verify(&token, now).expect("the server accepts it");
        assert_eq!((claims.name.as_str(), claims.room.as_deref(), claims.create), ("ana", Some("abcdefgh2345"), true));
        assert!((now + 899..=now + 901).contains(&claims.exp), "exp {} vs now {now}", claims.exp);
        assert_eq!(auth().verify(&token, now + 901), Err(AuthError::Expired));
    }

    #[test]
    fn token_command_defaults_and_file() {
        let (_dir, path) = secret_file(&[SECRET, b"\n"].concat());
        let path = path.to_str().expect("utf-8 temp path");
        let args = token_args(&["--secret-file", path, "--name", "bo"]).expect("valid flags");
        assert_eq!((args.ttl, args.room.clone(), args.create), (Duration::from_secs(3600), None, false));
        let claims = auth().verify(&run_token_command(args).expect("a token"), unix_now()).expect("accepted");
        assert_eq!((claims.room, claims.create), (None, false));
    }

    #[test]
    fn token_args_are_a_well_formed_command_and_a_subcommand() {
        use clap::CommandFactory;
        TokenArgs::command().debug_assert();
        // How main is expected to wire it: `skirmish token ...` beside the server's own flags.
        #[derive(clap::Parser)]
        #[command(args_conflicts_with_subcommands = true)]
        struct Main {
            #[command(subcommand)]
            command: Option<Command>,
            #[arg(long, default_value = "127.0.0.1:8080")]
            addr: String,
        }
        #[derive(clap::Subcommand)]
        enum Command {
            Token(TokenArgs),
        }
        Main::command().debug_assert();
        let parsed = Main::try_parse_from(["skirmish", "token", "--name", "ana", "--ttl", "90s"]).expect("parses");
        assert!(
            matches!(parsed.command, Some(Command::Token(TokenArgs { ttl, .. })) if ttl == Duration::from_secs(90))
        );
        let server = Main::try_parse_from(["skirmish", "--addr", "0.0.0.0:1"]).expect("parses");
        assert!(server.command.is_none() && server.addr == "0.0.0.0:1");
    }

    #[test]
    fn token_command_flag_errors() {
        assert!(token_args(&["--secret", "s", "--secret-file", "f", "--name", "a"]).is_err(), "both secrets");
        assert!(token_args(&["--secret", "0123456789abcdef"]).is_err(), "--name is required");
        assert!(token_args(&["--name", "a", "--ttl", "0"]).is_err());
        assert!(token_args(&["--name", "a", "--ttl", "soon"]).is_err());
        let short = token_args(&["--secret", "short", "--name", "ana"]).expect("parses");
        assert!(matches!(run_token_command(short), Err(AuthSetupError::SecretTooShort { len: 5 })));
        let long_name = token_args(&["--secret", "0123456789abcdef", "--name", "seventeen chars!!"]).expect("parses");
        assert!(matches!(run_token_command(long_name), Err(AuthSetupError::BadClaims(_))));
        let forever = token_args(&["--secret", "0123456789abcdef", "--name", "a", "--ttl", &u64::MAX.to_string()])
            .expect("parses");
        assert!(matches!(run_token_command(forever), Err(AuthSetupError::TtlTooLong)));
    }
}
