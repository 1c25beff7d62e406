//! Random secrets, their hashes, and the server key.
//!
//! Every secret latchkey hands out (session tokens, emailed links) is 256 bits from the OS
//! generator and is stored only as its SHA-256 hash, so a copy of the database lets nobody
//! sign in or follow a link. The server key and what is derived from it are in `server_key`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;

/// Fills a buffer from the operating system's generator. There is no fallback: a machine
/// that cannot produce randomness must not issue credentials.
#[expect(
    clippy::expect_used,
    reason = "the operating system's random generator failed"
)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

/// A fresh identifier: `prefix`, a dash, and 80 random bits in lowercase base32
/// (`mfa-…`, `enr-…`, `call-…`).
pub fn new_id(prefix: &str) -> String {
    let bytes = random_bytes::<10>();
    format!(
        "{prefix}-{}",
        latchkey_domain::totp::base32(&bytes).to_lowercase()
    )
}

/// A uniformly random integer below `bound`, by rejection sampling (no modulo bias).
pub fn random_below(bound: u64) -> u64 {
    assert!(bound > 0);
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let value = u64::from_le_bytes(random_bytes::<8>());
        if value < zone {
            return value % bound;
        }
    }
}

/// A bearer secret given to a client: a session cookie or the token in an emailed link.
#[derive(Clone)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// Wraps a token presented by a client. Anything that is not the shape latchkey issues
    /// is refused before it reaches a query.
    pub fn from_presented(text: &str) -> Option<Self> {
        (text.len() == 43
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of arbitrary bytes (a WebAuthn credential id), hex-encoded, for unique indexes.
    pub fn hash_bytes(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// The form stored in the database. A hash lookup by primary key is constant-time with
    /// respect to the secret: an attacker who can time it learns about hashes, not tokens.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// The SHA-256 of a [`SecretToken`], hex-encoded: what storage and the audit trail see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lowercase hexadecimal, as tokens, hashes and the key file are written.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Reads hexadecimal in either case; `None` for anything else (odd length, other characters).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_url_safe_and_hash_deterministically() {
        let a = SecretToken::generate();
        let b = SecretToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_eq!(
            a.hash(),
            SecretToken::from_presented(a.expose()).unwrap().hash()
        );
        assert_eq!(a.hash().as_str().len(), 64);
        assert!(format!("{a:?}").contains("redacted"));
    }

    #[test]
    fn presented_tokens_of_the_wrong_shape_are_refused() {
        assert!(SecretToken::from_presented("short").is_none());
        assert!(SecretToken::from_presented(&format!("{}!", "a".repeat(42))).is_none());
        assert!(SecretToken::from_presented(&"a".repeat(44)).is_none());
    }

    #[test]
    fn random_below_stays_in_range() {
        for _ in 0..1000 {
            assert!(random_below(10) < 10);
        }
    }
}
