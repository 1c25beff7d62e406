//! Sign-in attempts: the password was right and a second factor is awaited.

use super::StoreResult;
use super::audit::AuditRecord;
use super::sessions::NewSession;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::{AccountId, DeviceId, Timestamp};

#[derive(Debug, Clone)]
pub struct SignInAttemptRecord {
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The throttling source the password was checked under (a `Source` key): the code step
    /// of the same attempt counts on the same counter.
    pub source: String,
    /// That counter's value once the right password was refunded: failures up to it were
    /// judged at the password and do not delay the code again.
    pub failures_at_start: u32,
}

#[async_trait]
pub trait SignInAttemptStore: Send + Sync {
    /// Records that the password was right and a code is now awaited; the password's
    /// reservation on `source` is refunded in the same transaction. `false`, and nothing
    /// recorded, when the account's password generation is no longer `password_generation`
    /// (the password changed while it was being checked), or when an operator disabled the
    /// account meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn start_sign_in_attempt(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        password_generation: i64,
        source: &str,
        now: Timestamp,
        expires_at: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// A live, not yet completed attempt.
    async fn sign_in_attempt(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<SignInAttemptRecord>>;

    /// Completes a sign-in with a code: consumes `step` on the device (only if it is later
    /// than every step used before), completes the attempt, clears the failures of the
    /// attempt's source and of the device, and issues the session — all or nothing. `false` when the step or the attempt was already
    /// used (a replay or a race).
    async fn complete_mfa_sign_in(
        &self,
        attempt: &TokenHash,
        device_id: &DeviceId,
        step: i64,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
