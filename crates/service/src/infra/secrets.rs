//! Random secrets, their hashes, and the server key.
//!
//! Every secret latchkey hands out (session tokens, emailed links) is 256 bits from the OS
//! generator and is stored only as its SHA-256 hash, so a copy of the database lets nobody
//! sign in or follow a link. The server key lives in a file outside the database; subkeys are
//! derived from it per purpose so that no two uses ever share a key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

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

/// The 256-bit key read from `LATCHKEY_SECRET_KEY_FILE`.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(random_bytes())
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key as the key file holds it: 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The key from the key file's text (surrounding whitespace ignored): `None` unless it is
    /// exactly 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        unhex(text.trim())?.try_into().ok().map(Self)
    }

    /// A subkey for one purpose: HMAC-SHA256(key, label).
    #[expect(clippy::expect_used, reason = "HMAC takes any key")]
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(b"latchkey subkey\0");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn sealer(&self, label: &str) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&self.derive(label).into()),
        }
    }

    pub fn signer(&self, label: &str) -> Signer {
        Signer(self.derive(label))
    }

    /// What the database records of the key: an HMAC under it of a fixed label, so two
    /// instances can tell they share a key without either revealing it.
    pub fn fingerprint(&self) -> String {
        hex(&self.derive("key-fingerprint"))
    }

    /// The key the audit log's chain is MACed with: the store holds it to chain each record
    /// it appends, and `Service::verify_audit_chain` to check them.
    pub fn audit_chain_key(&self) -> latchkey_domain::audit_chain::ChainKey {
        latchkey_domain::audit_chain::ChainKey::from_bytes(self.derive("audit-chain"))
    }
}

/// Authenticated encryption for data at rest (queued messages today, TOTP seeds later).
/// XChaCha20-Poly1305 with a random 192-bit nonce per message, so nonces never repeat.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sealed data could not be opened: wrong key or tampered data")]
pub struct OpenError;

impl Sealer {
    /// `context` is bound into the ciphertext (AEAD associated data): a sealed value copied
    /// to another row or column no longer opens.
    #[expect(
        clippy::expect_used,
        reason = "encryption of an in-memory buffer cannot fail"
    )]
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<24>();
        let nonce = XNonce::from(nonce_bytes);
        let mut out = nonce_bytes.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("encryption of an in-memory buffer cannot fail");
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| OpenError)
    }
}

/// HMAC tags for values the server hands out and must recognise later (CSRF tokens).
#[derive(Clone)]
pub struct Signer([u8; 32]);

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(<key redacted>)")
    }
}

impl Signer {
    #[expect(clippy::expect_used, reason = "HMAC takes any key")]
    pub fn sign(&self, message: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(message);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The raw HMAC, for values derived from a server secret (WebAuthn user handles).
    #[expect(clippy::expect_used, reason = "HMAC takes any key")]
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of a tag presented by a client.
    pub fn verify(&self, message: &[u8], tag: &str) -> bool {
        let expected = self.sign(message);
        expected.as_bytes().ct_eq(tag.as_bytes()).into()
    }
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
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let key = ServerKey::generate();
        let sealer = key.sealer("outbox");
        let sealed = sealer.seal(b"hello", b"row-1");
        assert_eq!(sealer.open(&sealed, b"row-1").unwrap(), b"hello");
        assert!(sealer.open(&sealed, b"row-2").is_err());
        assert!(key.sealer("other").open(&sealed, b"row-1").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open(&tampered, b"row-1").is_err());
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = ServerKey::generate();
        let signer = key.signer("csrf");
        let tag = signer.sign(b"binding");
        assert!(signer.verify(b"binding", &tag));
        assert!(!signer.verify(b"other", &tag));
        assert!(!key.signer("other").verify(b"binding", &tag));
        assert!(!signer.verify(b"binding", ""));
    }

    #[test]
    fn random_below_stays_in_range() {
        for _ in 0..1000 {
            assert!(random_below(10) < 10);
        }
    }
}
