//! The keys ID tokens are signed with: an RS256 key (what every relying party accepts) and
//! an ES256 key, generated at first start, their private halves sealed under the server key
//! and bound to their `kid`, their public halves published as a JWK set.
//!
//! Written here rather than with a JOSE crate: latchkey only signs compact JWS and verifies
//! its own (an `id_token_hint`), and in both the algorithm comes from latchkey's key, never
//! from the token's header — a header that names another algorithm than its key's (`none`,
//! `HS256` with the public key as secret) is refused before any signature is checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_domain::oidc::KEY_OVERLAP;
use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use super::OidcAdminError;
use crate::error::ServiceError;
use crate::secrets::random_bytes;
use crate::store::SigningKeyRecord;
use crate::{RequestContext, Service};

pub const RS256: &str = "RS256";
pub const ES256: &str = "ES256";

/// What a key's seal is bound to: its kid, so a sealed key cannot be moved to another row.
pub(crate) fn key_context(kid: &str) -> Vec<u8> {
    format!("oidc-signing-key:{kid}").into_bytes()
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// An opened signing key.
pub(crate) struct OpenedKey {
    kid: String,
    alg: &'static str,
    pair: Pair,
}

impl OpenedKey {
    fn public_der(&self) -> &[u8] {
        match &self.pair {
            Pair::Rsa(pair) => pair.public().as_ref(),
            Pair::Ec(pair) => pair.public_key().as_ref(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| ServiceError::Internal("RSA signing failed".into()))?;
                Ok(signature)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| ServiceError::Internal("ECDSA signing failed".into()))?
                .as_ref()
                .to_vec()),
        }
    }

    fn verify(&self, message: &[u8], signature_bytes: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match self.pair {
            Pair::Rsa(_) => &signature::RSA_PKCS1_2048_8192_SHA256,
            Pair::Ec(_) => &signature::ECDSA_P256_SHA256_FIXED,
        };
        signature::UnparsedPublicKey::new(algorithm, self.public_der())
            .verify(message, signature_bytes)
            .is_ok()
    }
}

/// Opened keys by kid: opening (parsing PKCS#8, for RSA checking the key) is done once per
/// key and process.
#[derive(Clone, Default)]
pub(crate) struct KeyCache(Arc<Mutex<HashMap<String, Arc<OpenedKey>>>>);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new key of `alg`: its PKCS#8 document and public JWK.
fn generate(alg: &'static str, kid: &str) -> Result<(Vec<u8>, Value), ServiceError> {
    let rng = SystemRandom::new();
    match alg {
        RS256 => {
            use rsa::pkcs8::EncodePrivateKey as _;
            let mut os = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
            let key = rsa::RsaPrivateKey::new(&mut os, 2048)
                .map_err(|e| ServiceError::Internal(format!("RSA key generation: {e}")))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| ServiceError::Internal(format!("RSA key encoding: {e}")))?
                .as_bytes()
                .to_vec();
            let pair = RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| ServiceError::Internal(format!("RSA key: {e}")))?;
            let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let jwk = json!({"kty": "RSA", "use": "sig", "alg": alg, "kid": kid,
                "n": b64(&public.n), "e": b64(&public.e)});
            Ok((der, jwk))
        }
        _ => {
            let alg_ring = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let document = EcdsaKeyPair::generate_pkcs8(alg_ring, &rng)
                .map_err(|_| ServiceError::Internal("ECDSA key generation failed".into()))?;
            let der = document.as_ref().to_vec();
            let pair = EcdsaKeyPair::from_pkcs8(alg_ring, &der, &rng)
                .map_err(|e| ServiceError::Internal(format!("ECDSA key: {e}")))?;
            // An uncompressed point: 0x04, then x and y of 32 bytes each.
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": alg, "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            Ok((der, jwk))
        }
    }
}

/// Claims of a JWS latchkey signed, once its signature checked.
pub(crate) type VerifiedClaims = serde_json::Map<String, Value>;

impl Service {
    /// New RS256 and ES256 keys signing from `active_from`.
    fn new_signing_keys(
        &self,
        active_from: Timestamp,
    ) -> Result<Vec<SigningKeyRecord>, ServiceError> {
        let now = self.clock.now();
        [RS256, ES256]
            .into_iter()
            .map(|alg| {
                let kid = format!("{}-{}", alg.to_ascii_lowercase(), b64(&random_bytes::<9>()));
                let (der, jwk) = generate(alg, &kid)?;
                Ok(SigningKeyRecord {
                    private_sealed: self.mfa_sealer.seal(&der, &key_context(&kid)),
                    public_jwk: jwk.to_string(),
                    kid,
                    alg: alg.to_owned(),
                    created_at: now,
                    active_from,
                    retired_at: None,
                })
            })
            .collect()
    }

    /// At start: the first signing keys, when there are none yet. `true` when this call
    /// created them.
    pub async fn ensure_oidc_signing_keys(&self) -> Result<bool, ServiceError> {
        if !self.store.oidc_signing_keys().await?.is_empty() {
            return Ok(false);
        }
        let keys = self.new_signing_keys(self.clock.now())?;
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcSigningKeysCreated,
            AuditOutcome::Success,
            &kids_detail(&keys),
        );
        Ok(self
            .store
            .insert_oidc_signing_keys(&keys, true, &audit)
            .await?)
    }

    /// `latchkey oidc key rotate`: new keys, published at once and signing after
    /// [`KEY_OVERLAP`], so relying parties that cache the key set never meet an unknown kid.
    /// The old keys sign until then and stay published until `retire`.
    pub async fn rotate_oidc_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, OidcAdminError> {
        let keys = self.new_signing_keys(self.clock.now() + KEY_OVERLAP)?;
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcSigningKeysCreated,
            AuditOutcome::Success,
            &kids_detail(&keys),
        );
        self.store
            .insert_oidc_signing_keys(&keys, false, &audit)
            .await?;
        Ok(keys)
    }

    /// The published keys, oldest first.
    pub async fn oidc_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, ServiceError> {
        Ok(self.store.oidc_signing_keys().await?)
    }

    /// `latchkey oidc key retire KID`: stops publishing a key. The key that signs for its
    /// algorithm now is refused: tokens it signs would fail to verify.
    pub async fn retire_oidc_signing_key(&self, kid: &str) -> Result<(), OidcAdminError> {
        let keys = self.store.oidc_signing_keys().await?;
        let Some(key) = keys.iter().find(|k| k.kid == kid) else {
            return Err(OidcAdminError::UnknownKey);
        };
        let now = self.clock.now();
        if current_of(&keys, &key.alg, now).is_some_and(|current| current.kid == kid) {
            return Err(OidcAdminError::KeyStillSigning);
        }
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::OidcSigningKeyRetired,
            AuditOutcome::Success,
            kid,
        );
        if !self.store.retire_oidc_signing_key(kid, now, &audit).await? {
            return Err(OidcAdminError::UnknownKey);
        }
        Ok(())
    }

    /// The JWK set published at the jwks endpoint: every key not retired.
    pub async fn oidc_jwks(&self) -> Result<Value, ServiceError> {
        let keys = self
            .store
            .oidc_signing_keys()
            .await?
            .iter()
            .filter_map(|k| serde_json::from_str::<Value>(&k.public_jwk).ok())
            .collect::<Vec<_>>();
        Ok(json!({ "keys": keys }))
    }

    fn opened(&self, record: &SigningKeyRecord) -> Result<Arc<OpenedKey>, ServiceError> {
        if let Some(key) = self
            .oidc_key_cache
            .0
            .lock()
            .map_err(|_| ServiceError::Internal("signing key cache poisoned".into()))?
            .get(&record.kid)
        {
            return Ok(key.clone());
        }
        let der = self
            .mfa_sealer
            .open(&record.private_sealed, &key_context(&record.kid))
            .map_err(|_| {
                ServiceError::Internal(format!("signing key {} does not open", record.kid))
            })?;
        let (alg, pair) = match record.alg.as_str() {
            RS256 => (
                RS256,
                Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                    ServiceError::Internal(format!("signing key {}: {e}", record.kid))
                })?),
            ),
            ES256 => (
                ES256,
                Pair::Ec(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &der,
                        &SystemRandom::new(),
                    )
                    .map_err(|e| {
                        ServiceError::Internal(format!("signing key {}: {e}", record.kid))
                    })?,
                ),
            ),
            other => {
                return Err(ServiceError::Internal(format!(
                    "signing key {} has an unknown algorithm {other}",
                    record.kid
                )));
            }
        };
        let key = Arc::new(OpenedKey {
            kid: record.kid.clone(),
            alg,
            pair,
        });
        self.oidc_key_cache
            .0
            .lock()
            .map_err(|_| ServiceError::Internal("signing key cache poisoned".into()))?
            .insert(record.kid.clone(), key.clone());
        Ok(key)
    }

    /// Signs `claims` as a compact JWS with the current key of `alg`.
    pub(crate) async fn sign_jwt(&self, alg: &str, claims: &Value) -> Result<String, ServiceError> {
        let keys = self.store.oidc_signing_keys().await?;
        let record = current_of(&keys, alg, self.clock.now())
            .ok_or_else(|| ServiceError::Internal(format!("no {alg} signing key is active")))?;
        let key = self.opened(record)?;
        let header = json!({"alg": key.alg, "typ": "JWT", "kid": key.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = key.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", b64(&signature)))
    }

    /// The claims of a JWS latchkey signed with one of its published keys, whatever its
    /// expiry; `None` for anything else. The header must name a published kid and exactly
    /// that key's algorithm.
    pub(crate) async fn verify_own_jwt(
        &self,
        token: &str,
    ) -> Result<Option<VerifiedClaims>, ServiceError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.as_bytes()).ok();
        let Some(header_json) = decode(header).and_then(|bytes| {
            serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes).ok()
        }) else {
            return Ok(None);
        };
        let (Some(kid), Some(alg)) = (
            header_json.get("kid").and_then(Value::as_str),
            header_json.get("alg").and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        let keys = self.store.oidc_signing_keys().await?;
        let Some(record) = keys.iter().find(|k| k.kid == kid) else {
            return Ok(None);
        };
        if record.alg != alg {
            return Ok(None);
        }
        let key = self.opened(record)?;
        let Some(signature) = decode(signature) else {
            return Ok(None);
        };
        let input = &token[..header.len() + 1 + payload.len()];
        if !key.verify(input.as_bytes(), &signature) {
            return Ok(None);
        }
        Ok(decode(payload).and_then(|bytes| serde_json::from_slice::<VerifiedClaims>(&bytes).ok()))
    }
}

/// The key that signs for `alg` at `now`: the newest active one.
fn current_of<'a>(
    keys: &'a [SigningKeyRecord],
    alg: &str,
    now: Timestamp,
) -> Option<&'a SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.alg == alg && k.active_from <= now && k.retired_at.is_none())
        .max_by_key(|k| (k.active_from, k.created_at))
}

fn kids_detail(keys: &[SigningKeyRecord]) -> String {
    keys.iter()
        .map(|k| format!("{} from {}", k.kid, k.active_from.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kid: &str, alg: &str, active_from: i64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: alg.into(),
            private_sealed: Vec::new(),
            public_jwk: String::new(),
            created_at: Timestamp(active_from),
            active_from: Timestamp(active_from),
            retired_at: None,
        }
    }

    #[test]
    fn the_newest_active_key_of_an_algorithm_signs() {
        let keys = [
            record("old-rs", RS256, 0),
            record("old-es", ES256, 0),
            record("new-rs", RS256, 100),
        ];
        assert_eq!(
            current_of(&keys, RS256, Timestamp(99)).unwrap().kid,
            "old-rs"
        );
        assert_eq!(
            current_of(&keys, RS256, Timestamp(100)).unwrap().kid,
            "new-rs"
        );
        assert_eq!(
            current_of(&keys, ES256, Timestamp(100)).unwrap().kid,
            "old-es"
        );
        assert!(current_of(&keys, "HS256", Timestamp(100)).is_none());
    }

    #[test]
    fn generated_keys_sign_and_verify_and_publish_their_public_half() {
        for alg in [RS256, ES256] {
            let (der, jwk) = generate(alg, "k1").unwrap();
            assert_eq!(jwk["kid"], "k1");
            assert_eq!(jwk["alg"], alg);
            assert!(jwk.get("d").is_none(), "no private part is published");
            let pair = match alg {
                RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).unwrap()),
                _ => Pair::Ec(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &der,
                        &SystemRandom::new(),
                    )
                    .unwrap(),
                ),
            };
            let key = OpenedKey {
                kid: "k1".into(),
                alg,
                pair,
            };
            let signature = key.sign(b"message").unwrap();
            assert!(key.verify(b"message", &signature));
            assert!(!key.verify(b"messagE", &signature));
        }
    }
}
