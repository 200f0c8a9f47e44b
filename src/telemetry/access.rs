//! `--metrics-token`: the shared secret that guards `/metrics`, the dashboard and its data, and the full `/healthz`.
//!
//! These reveal every room's id (private ones too), the player counts and the server's load: fine on loopback or
//! a private network, not on a public address. A request shows the token as `Authorization: Bearer TOKEN` (what a
//! Prometheus scrape config sends) or as `?token=TOKEN` (what a browser opening the dashboard can send).

use subtle::ConstantTimeEq;

/// Fewest characters a token may have: short ones can be guessed over HTTP.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why a `--metrics-token` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadMetricsToken {
    #[error("--metrics-token must have at least {MIN_TOKEN_CHARS} characters, this one has {0}")]
    TooShort(usize),
    /// It travels in a URL's query as it is, so it must need no escaping there.
    #[error("--metrics-token may hold only letters, digits and - . _ ~ (it travels in URLs as it is)")]
    NotUrlSafe,
}

/// The token; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    pub fn new(token: &str) -> Result<MetricsToken, BadMetricsToken> {
        let token = token.trim();
        if !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            return Err(BadMetricsToken::NotUrlSafe);
        }
        if token.len() < MIN_TOKEN_CHARS {
            return Err(BadMetricsToken::TooShort(token.len()));
        }
        Ok(MetricsToken(token.to_string()))
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ (only on their
    /// lengths), so that timing the answers does not reveal the token a prefix at a time.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// Whether a request carries the token: its `Authorization` header's value and its URL's query, if any.
    pub fn permits(&self, authorization: Option<&str>, query: Option<&str>) -> bool {
        // The scheme's name is case-insensitive (RFC 9110 section 11.1).
        let bearer = authorization
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if bearer.is_some_and(|token| self.matches(token)) {
            return true;
        }
        query
            .into_iter()
            .flat_map(|query| query.split('&'))
            .filter_map(|pair| pair.strip_prefix("token="))
            .any(|token| self.matches(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-metrics_token.1";

    #[test]
    fn tokens_must_be_long_and_url_safe() {
        assert_eq!(MetricsToken::new("short"), Err(BadMetricsToken::TooShort(5)));
        assert_eq!(MetricsToken::new("a token with spaces"), Err(BadMetricsToken::NotUrlSafe));
        assert_eq!(MetricsToken::new("percent%20encoded-token"), Err(BadMetricsToken::NotUrlSafe));
        assert!(MetricsToken::new(&format!("{TOKEN}\n")).is_ok(), "a trailing newline (from a file) is trimmed");
        assert_eq!(format!("{:?}", MetricsToken::new(TOKEN).unwrap()), "MetricsToken(..)");
    }

    #[test]
    fn a_request_shows_the_token_as_a_bearer_or_in_the_query() {
        let token = MetricsToken::new(TOKEN).unwrap();
        assert!(token.permits(Some(&format!("Bearer {TOKEN}")), None));
        assert!(token.permits(Some(&format!("bearer  {TOKEN}")), None));
        assert!(token.permits(None, Some(&format!("token={TOKEN}"))));
        assert!(token.permits(None, Some(&format!("room=abc&token={TOKEN}"))));
        assert!(!token.permits(None, None));
        assert!(!token.permits(Some(TOKEN), None), "the Bearer scheme is required");
        assert!(!token.permits(Some("Bearer s3cret-metrics_token"), Some("token=s3cret-metrics_token.12")));
        assert!(!token.permits(Some("Basic czNjcmV0"), Some(&format!("xtoken={TOKEN}"))));
    }
}
