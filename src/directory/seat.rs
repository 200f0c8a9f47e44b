//! Seat tokens: what a process hands a player it sends to another process. HS256-signed with the cluster secret
//! every process of a directory shares, short-lived, naming the process and the room (empty: a room to create,
//! on `map`), with a random id that is spent on use, so a token cannot be replayed, nor taken to another room or
//! process.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Shortest cluster secret accepted (as for join tokens: a guessable secret lets anyone forge seats).
pub const MIN_SECRET_BYTES: usize = 32;

/// One-letter keys on the wire: a seat token rides in a hello next to a join token, under the 512-byte message limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatClaims {
    /// The process that must take the seat.
    #[serde(rename = "p")]
    pub proc: String,
    /// The room; empty for a room to create.
    #[serde(rename = "r")]
    pub room: String,
    /// The map of a room to create.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The player's name as the first process admitted it.
    #[serde(rename = "n")]
    pub name: String,
    /// Unique id, spent on use.
    #[serde(rename = "j")]
    pub jti: String,
    /// Expiry, milliseconds since the Unix epoch (seat tokens live for seconds).
    #[serde(rename = "x")]
    pub exp_ms: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SeatError {
    #[error("the cluster secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("seat token is not one of this directory's ({0})")]
    Invalid(String),
    #[error("seat token expired")]
    Expired,
    #[error("seat token is for another server")]
    OtherProcess,
    #[error("seat token already used")]
    Spent,
}

pub struct SeatSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl SeatSigner {
    pub fn new(secret: &[u8]) -> Result<SeatSigner, SeatError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SeatError::ShortSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked here, to the millisecond (seat tokens live for seconds).
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Ok(SeatSigner {
            encoding: EncodingKey::from_secret(secret).map_err(|_| SeatError::ShortSecret)?,
            decoding: DecodingKey::from_secret(secret).map_err(|_| SeatError::ShortSecret)?,
            validation,
        })
    }

    /// Fresh claims for a seat on `proc` in `room` (empty: to create on `map`), valid for `ttl`.
    pub fn claims_for(&self, proc: &str, room: &str, name: &str, map: Option<&str>, ttl: Duration) -> SeatClaims {
        let exp_ms = super::now_ms() + ttl.as_millis() as u64;
        SeatClaims {
            proc: proc.to_string(),
            room: room.to_string(),
            map: map.map(str::to_string),
            name: name.to_string(),
            jti: crate::lobby::random_id() + &crate::lobby::random_id(),
            exp_ms,
        }
    }

    pub fn sign(&self, claims: &SeatClaims) -> Result<String, SeatError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|error| SeatError::Invalid(error.to_string()))
    }

    /// The claims of a token signed by this directory, for process `proc`, not expired at `now_ms`. (Whether it
    /// was used already is the directory's to say: `Directory::redeem`.)
    pub fn verify(&self, token: &str, proc: &str, now_ms: u64) -> Result<SeatClaims, SeatError> {
        if token.len() > 1024 {
            return Err(SeatError::Invalid("longer than 1024 bytes".into()));
        }
        let data = jsonwebtoken::decode::<SeatClaims>(token, &self.decoding, &self.validation)
            .map_err(|error| SeatError::Invalid(error.to_string()))?;
        let claims = data.claims;
        if claims.proc != proc {
            return Err(SeatError::OtherProcess);
        }
        if claims.exp_ms <= now_ms {
            return Err(SeatError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_seat_token_names_its_process_and_expires() {
        let signer = SeatSigner::new(SECRET).expect("long enough");
        let claims = signer.claims_for("procA", "room1", "ana", None, Duration::from_secs(5));
        let token = signer.sign(&claims).expect("signs");
        let now = super::super::now_ms();
        assert_eq!(signer.verify(&token, "procA", now), Ok(claims.clone()));
        assert_eq!(signer.verify(&token, "procB", now), Err(SeatError::OtherProcess));
        assert_eq!(signer.verify(&token, "procA", claims.exp_ms), Err(SeatError::Expired));
        let other = SeatSigner::new(b"another secret of at least 32 bytes!").expect("long enough");
        assert!(matches!(other.verify(&token, "procA", now), Err(SeatError::Invalid(_))), "a forged signature");
        assert!(matches!(signer.verify("x.y.z", "procA", now), Err(SeatError::Invalid(_))));
        assert_eq!(SeatSigner::new(b"short").err(), Some(SeatError::ShortSecret));
    }
}
