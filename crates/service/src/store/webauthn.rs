//! Security keys: WebAuthn ceremonies (taken once), registration and sign-in.

use super::StoreResult;
use super::audit::AuditRecord;
use super::devices::{AssignOutcome, NewDevice};
use super::outbox::NewOutboxMessage;
use super::sessions::NewSession;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::{AccountId, CeremonyId, DeviceId, Timestamp};

#[derive(Debug, Clone)]
pub struct NewCeremony {
    pub id: CeremonyId,
    pub account_id: AccountId,
    /// `register` or `authenticate`.
    pub purpose: &'static str,
    pub state_sealed: Vec<u8>,
    /// The device name chosen for a registration.
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct TakenCeremony {
    pub state_sealed: Vec<u8>,
    pub name: String,
}

#[async_trait]
pub trait WebAuthnStore: Send + Sync {
    /// Stores a WebAuthn ceremony's state (sealed) until it is finished, once.
    async fn create_ceremony(&self, ceremony: &NewCeremony) -> StoreResult<()>;

    /// Takes a live ceremony of `account` for `purpose`: it can never be taken again.
    async fn take_ceremony(
        &self,
        id: &CeremonyId,
        account: &AccountId,
        purpose: &str,
        now: Timestamp,
    ) -> StoreResult<Option<TakenCeremony>>;

    /// Adds a security key within the per-account cap.
    async fn assign_security_key(
        &self,
        device: &NewDevice,
        credential_id: &str,
        max_devices: usize,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome>;

    /// Completes a sign-in with a security key: completes the attempt, stores the key's new
    /// state (signature counter), clears failures and issues the session, all or nothing.
    ///
    /// The key's signature counter only moves forward: the write holds only if `counter` is
    /// above the stored one (or both are 0, for keys that keep no counter), so two assertions
    /// verified at the same time cannot store a lower counter than either saw.
    async fn complete_security_key_sign_in(
        &self,
        attempt: &TokenHash,
        device_id: &DeviceId,
        key_sealed: &[u8],
        counter: u32,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
