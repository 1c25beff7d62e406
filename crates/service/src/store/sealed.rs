//! Every value sealed under the server key, read a page at a time and re-sealed one by one:
//! what a key rotation walks (`latchkey key status`, `key reseal` and the server's background
//! pass).

use super::StoreResult;
use async_trait::async_trait;

/// Where sealed values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SealedKind {
    /// TOTP seeds and security-key credentials of active devices.
    MfaDevice,
    /// Seeds of virtual devices waiting for their two codes.
    Enrollment,
    /// Seeds of imported hardware tokens.
    HardwareToken,
    /// Security-key ceremonies under way.
    SecurityKeyCeremony,
    /// Emails and calls waiting to be delivered.
    Outbox,
    /// The OpenID Connect provider's ID-token signing keys.
    OidcSigningKey,
}

impl SealedKind {
    pub const ALL: [Self; 6] = [
        Self::MfaDevice,
        Self::Enrollment,
        Self::HardwareToken,
        Self::SecurityKeyCeremony,
        Self::Outbox,
        Self::OidcSigningKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MfaDevice => "mfa_devices",
            Self::Enrollment => "mfa_enrollments",
            Self::HardwareToken => "hardware_tokens",
            Self::SecurityKeyCeremony => "webauthn_ceremonies",
            Self::Outbox => "outbox",
            Self::OidcSigningKey => "oidc_signing_keys",
        }
    }
}

/// One sealed value and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    /// The row's key (an id, a serial; the outbox's number as text): pages continue after it.
    pub key: String,
    /// For the outbox, the message's kind and recipient, which its seal is bound to; empty
    /// elsewhere (the key is what the seal is bound to).
    pub bound_to: Vec<String>,
    pub sealed: Vec<u8>,
}

#[async_trait]
pub trait SealedStore: Send + Sync {
    /// Up to `limit` sealed values of `kind` whose key comes after `after` (`None`: from the
    /// first), in key order.
    async fn sealed_page(
        &self,
        kind: SealedKind,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SealedRow>>;

    /// Replaces one sealed value, only while it is still `old`: a value the owner changed
    /// meanwhile (a security key's counter, a device removed) is left alone. `false` then.
    async fn reseal(
        &self,
        kind: SealedKind,
        key: &str,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool>;
}
