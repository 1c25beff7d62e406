//! The server key, and what is derived from it: sealers for data at rest and signers for
//! values the server hands out.
//!
//! The key file holds one or more 256-bit keys, one per line, the **current** one first.
//! Everything new is sealed and signed with the current key; every key in use still opens
//! what it sealed and still verifies what it signed. A rotation has two steps, so that no
//! instance ever meets a value it cannot open: `latchkey key rotate` first stages a new key
//! (`next <hex>`: it opens and verifies but seals nothing); once every instance holds that
//! file, the second `rotate` makes it current, and what the old key sealed is re-sealed under
//! it. An older key is retired only when nothing sealed under it is left; it stays in the file
//! as `retired <hex> <seq>`, for one use only: the audit records chained under it up to place
//! `seq` still verify. It opens and verifies nothing else.
//!
//! With more than one key, a sealed value names the key that sealed it: `LK` ‖ key id
//! (8 bytes) ‖ nonce ‖ ciphertext. With one key, and in every version before key ids, it has
//! no header; such a value is tried with every key (the AEAD tag tells the right one), and
//! re-sealing gives it one. Subkeys are derived per
//! purpose, HMAC-SHA256(key, label), so no two uses ever share a key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

use super::secrets::{hex, random_bytes, unhex};

/// What starts a sealed value that names its key.
const SEALED_MAGIC: &[u8; 2] = b"LK";
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = SEALED_MAGIC.len() + KeyId::LEN;

/// Which key sealed a value: the first 8 bytes of the key's fingerprint, so naming it
/// reveals nothing of the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub const LEN: usize = 8;

    /// The id as the operator reads and types it: 16 hexadecimal characters.
    pub fn to_hex(self) -> String {
        hex(&self.0)
    }

    pub fn parse(text: &str) -> Option<Self> {
        unhex(text.trim())?.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

#[expect(clippy::expect_used, reason = "HMAC takes any key")]
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn derive(key: &[u8; 32], label: &str) -> [u8; 32] {
    hmac(key, &[b"latchkey subkey\0", label.as_bytes()])
}

fn key_id(key: &[u8; 32]) -> KeyId {
    let fingerprint = derive(key, "key-fingerprint");
    let mut id = [0u8; 8];
    id.copy_from_slice(&fingerprint[..8]);
    KeyId(id)
}

/// A key kept only to verify the audit records chained under it, up to the record that was
/// the chain's head when it was retired (`through`): a record placed after that under it is
/// not one latchkey wrote.
#[derive(Clone)]
struct Retired {
    key: [u8; 32],
    through: i64,
}

/// The keys read from `LATCHKEY_SECRET_KEY_FILE`: the current key, perhaps a staged next
/// key, older keys and retired keys, no key twice.
#[derive(Clone)]
pub struct ServerKey {
    /// The current key first, then older ones.
    keys: Vec<[u8; 32]>,
    /// The key the next rotation makes current: it opens and verifies, and seals nothing
    /// yet, so every instance can hold it before any of them seals with it.
    next: Option<[u8; 32]>,
    retired: Vec<Retired>,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            keys: vec![bytes],
            next: None,
            retired: Vec::new(),
        }
    }

    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    /// The current key's bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.keys[0]
    }

    /// The current key as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex(&self.keys[0])
    }

    /// The keys that open and verify, the current one first, then the staged one, then the
    /// older ones.
    fn in_use(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys[..1]
            .iter()
            .chain(self.next.iter())
            .chain(self.keys[1..].iter())
    }

    /// The key file's text: the current key, `next <hex>` for a staged key, the older keys,
    /// then `retired <hex> <seq>` for each retired key. A file of one key is just that key,
    /// as every version wrote it.
    pub fn to_file_text(&self) -> String {
        if self.keys.len() == 1 && self.next.is_none() && self.retired.is_empty() {
            return format!("{}\n", hex(&self.keys[0]));
        }
        let mut text = String::from(
            "# latchkey server keys: the first is current; `next` is staged by `latchkey key rotate`;\n\
             # the others open what they sealed; `retired` keys only verify audit records up to a place\n",
        );
        text.push_str(&format!("{}\n", hex(&self.keys[0])));
        if let Some(next) = &self.next {
            text.push_str(&format!("next {}\n", hex(next)));
        }
        for key in &self.keys[1..] {
            text.push_str(&format!("{}\n", hex(key)));
        }
        for retired in &self.retired {
            text.push_str(&format!(
                "retired {} {}\n",
                hex(&retired.key),
                retired.through
            ));
        }
        text
    }

    /// The keys from the key file's text (see [`Self::to_file_text`]; surrounding whitespace,
    /// blank lines and `#` comments ignored). `None` for anything else: no plain key, a line
    /// that is not a key, two `next` keys, or a key written twice.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut keys: Vec<[u8; 32]> = Vec::new();
        let mut next: Option<[u8; 32]> = None;
        let mut retired: Vec<Retired> = Vec::new();
        let mut seen: Vec<[u8; 32]> = Vec::new();
        let mut parse = |text: &str| -> Option<[u8; 32]> {
            let key: [u8; 32] = unhex(text)?.try_into().ok()?;
            if seen.contains(&key) {
                return None;
            }
            seen.push(key);
            Some(key)
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next()?, words.next(), words.next(), words.next()) {
                ("next", Some(key), None, None) if next.is_none() => next = Some(parse(key)?),
                ("retired", Some(key), Some(through), None) => retired.push(Retired {
                    key: parse(key)?,
                    through: through.parse().ok()?,
                }),
                (key, None, None, None) => keys.push(parse(key)?),
                _ => return None,
            }
        }
        (!keys.is_empty()).then_some(Self {
            keys,
            next,
            retired,
        })
    }

    /// These keys with a new random key staged as `next`; `None` when one is staged already.
    pub fn staged(&self) -> Option<Self> {
        if self.next.is_some() {
            return None;
        }
        Some(Self {
            next: Some(random_bytes()),
            ..self.clone()
        })
    }

    /// These keys with the staged key made current and the current one older; `None` when
    /// none is staged.
    pub fn promoted(&self) -> Option<Self> {
        let next = self.next?;
        let mut keys = vec![next];
        keys.extend_from_slice(&self.keys);
        Some(Self {
            keys,
            next: None,
            retired: self.retired.clone(),
        })
    }

    /// These keys with the older key `id` retired: it no longer opens or verifies anything
    /// but the audit records chained under it up to place `through` (the chain's head now).
    /// `None` when it is not an older key (the current and the staged key cannot be retired).
    pub fn without(&self, id: KeyId, through: i64) -> Option<Self> {
        let position = self.keys.iter().position(|key| key_id(key) == id)?;
        if position == 0 {
            return None;
        }
        let mut keys = self.keys.clone();
        let key = keys.remove(position);
        let mut retired = self.retired.clone();
        retired.push(Retired { key, through });
        Some(Self {
            keys,
            next: self.next,
            retired,
        })
    }

    /// The current key's id.
    pub fn current_id(&self) -> KeyId {
        key_id(&self.keys[0])
    }

    /// The staged key's id.
    pub fn next_id(&self) -> Option<KeyId> {
        self.next.as_ref().map(key_id)
    }

    /// The ids of the keys that open and verify: the current one first, then the staged
    /// one, then the older ones.
    pub fn ids(&self) -> Vec<KeyId> {
        self.in_use().map(key_id).collect()
    }

    /// The ids of the retired keys.
    pub fn retired_ids(&self) -> Vec<KeyId> {
        self.retired.iter().map(|r| key_id(&r.key)).collect()
    }

    /// A subkey of the current key for one purpose: HMAC-SHA256(key, label).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        derive(&self.keys[0], label)
    }

    /// Seals with the current key; opens with any key in use.
    pub fn sealer(&self, label: &str) -> Sealer {
        Sealer {
            ciphers: self
                .in_use()
                .map(|key| {
                    (
                        key_id(key),
                        XChaCha20Poly1305::new(&derive(key, label).into()),
                    )
                })
                .collect(),
        }
    }

    /// Signs with the current key; verifies with any key in use.
    pub fn signer(&self, label: &str) -> Signer {
        Signer(self.in_use().map(|key| derive(key, label)).collect())
    }

    /// What the database records of the current key: an HMAC under it of a fixed label, so
    /// two instances can tell they share a key without either revealing it.
    pub fn fingerprint(&self) -> String {
        hex(&derive(&self.keys[0], "key-fingerprint"))
    }

    /// The fingerprints of the keys in use, in the order of [`Self::ids`].
    pub fn fingerprints(&self) -> Vec<(KeyId, String)> {
        self.in_use()
            .map(|key| (key_id(key), hex(&derive(key, "key-fingerprint"))))
            .collect()
    }

    /// The key the audit log's chain is MACed with from now on: the store holds it to chain
    /// each record it appends.
    pub fn audit_chain_key(&self) -> latchkey_domain::audit_chain::ChainKey {
        latchkey_domain::audit_chain::ChainKey::from_bytes(self.derive("audit-chain"))
    }

    /// The chain keys of every key, the current one first, each with the last place it may
    /// have MACed (`None`: no bound; a retired key's is the head when it was retired):
    /// records appended before a rotation were MACed under an older key, and
    /// `Service::verify_audit_chain` accepts a record under any key whose bound it is within.
    pub fn audit_chain_keys(&self) -> Vec<(latchkey_domain::audit_chain::ChainKey, Option<i64>)> {
        let chain = |key: &[u8; 32]| {
            latchkey_domain::audit_chain::ChainKey::from_bytes(derive(key, "audit-chain"))
        };
        self.in_use()
            .map(|key| (chain(key), None))
            .chain(
                self.retired
                    .iter()
                    .map(|r| (chain(&r.key), Some(r.through))),
            )
            .collect()
    }
}

/// Authenticated encryption for data at rest (TOTP seeds, queued messages).
/// XChaCha20-Poly1305 with a random 192-bit nonce per message, so nonces never repeat.
#[derive(Clone)]
pub struct Sealer {
    /// The current key's cipher first.
    ciphers: Vec<(KeyId, XChaCha20Poly1305)>,
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
    /// Seals under the current key. `context` is bound into the ciphertext (AEAD associated
    /// data): a sealed value copied to another row or column no longer opens.
    #[expect(
        clippy::expect_used,
        reason = "encryption of an in-memory buffer cannot fail"
    )]
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let (id, cipher) = &self.ciphers[0];
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + 16);
        // With one key there is nothing to tell apart: the value is written as every
        // version before key ids wrote it, so an instance of such a version beside this
        // one still opens it. From the first rotation on, every value names its key.
        if self.ciphers.len() > 1 {
            out.extend_from_slice(SEALED_MAGIC);
            out.extend_from_slice(id.as_bytes());
        }
        out.extend_from_slice(&nonce_bytes);
        let sealed = cipher
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

    /// Opens a value sealed under any of the keys: the one its header names, or, for a value
    /// sealed before key ids existed, whichever key's tag matches.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, OpenError> {
        if let Some(id) = self.sealed_by(sealed)
            && let Some((_, cipher)) = self.ciphers.iter().find(|(known, _)| *known == id)
        {
            return open_with(cipher, &sealed[HEADER_LEN..], context);
        }
        self.ciphers
            .iter()
            .find_map(|(_, cipher)| open_with(cipher, sealed, context).ok())
            .ok_or(OpenError)
    }

    /// The key a value's header names, when it is one of these keys; `None` for a value
    /// sealed before key ids existed (or under a key these do not hold).
    pub fn sealed_by(&self, sealed: &[u8]) -> Option<KeyId> {
        let header = sealed.get(..HEADER_LEN)?;
        if &header[..SEALED_MAGIC.len()] != SEALED_MAGIC {
            return None;
        }
        let id = KeyId(header[SEALED_MAGIC.len()..].try_into().ok()?);
        self.ciphers
            .iter()
            .any(|(known, _)| *known == id)
            .then_some(id)
    }

    /// The key that opens `sealed`: the one its header names, or for a value sealed before
    /// key ids existed, whichever key's tag matches. `None` when no key opens it.
    pub fn opened_by(&self, sealed: &[u8], context: &[u8]) -> Option<KeyId> {
        if let Some(id) = self.sealed_by(sealed) {
            let (_, cipher) = self.ciphers.iter().find(|(known, _)| *known == id)?;
            return open_with(cipher, &sealed[HEADER_LEN..], context)
                .ok()
                .map(|_| id);
        }
        self.ciphers
            .iter()
            .find(|(_, cipher)| open_with(cipher, sealed, context).is_ok())
            .map(|(id, _)| *id)
    }

    /// Whether `sealed` is sealed under the current key as it would be sealed now (nothing
    /// to re-seal): named by its header, or, with one key only, without a header.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        match self.sealed_by(sealed) {
            Some(id) => id == self.ciphers[0].0,
            None => self.ciphers.len() == 1,
        }
    }

    /// Whether `sealed` names a key that is not one of these: sealed by an instance holding
    /// a key this one does not (yet) have, so it may open elsewhere.
    pub fn names_unknown_key(&self, sealed: &[u8]) -> bool {
        sealed.len() > HEADER_LEN
            && &sealed[..SEALED_MAGIC.len()] == SEALED_MAGIC
            && self.sealed_by(sealed).is_none()
    }
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    sealed: &[u8],
    context: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN {
        return Err(OpenError);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: body,
                aad: context,
            },
        )
        .map_err(|_| OpenError)
}

/// HMAC tags for values the server hands out and must recognise later (CSRF tokens,
/// known-device tokens, the code of a verification call). Signs with the current key; a
/// tag made with any of the keys still verifies, so a rotation signs nobody out.
#[derive(Clone)]
pub struct Signer(Vec<[u8; 32]>);

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(<key redacted>)")
    }
}

impl Signer {
    pub fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac(&self.0[0], &[message]))
    }

    /// The raw HMAC under the current key, for values derived from a server secret (WebAuthn
    /// user handles).
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        hmac(&self.0[0], &[message])
    }

    /// The tag of `message` under every key, the current one first: for a value stored as a
    /// tag when it was made, which may have been before a rotation.
    pub fn tags(&self, message: &[u8]) -> Vec<String> {
        self.0
            .iter()
            .map(|key| URL_SAFE_NO_PAD.encode(hmac(key, &[message])))
            .collect()
    }

    /// Constant-time check of a tag presented by a client, against every key.
    pub fn verify(&self, message: &[u8], tag: &str) -> bool {
        self.tags(message).iter().fold(false, |found, expected| {
            found | bool::from(expected.as_bytes().ct_eq(tag.as_bytes()))
        })
    }
}

#[cfg(test)]
mod tests;
