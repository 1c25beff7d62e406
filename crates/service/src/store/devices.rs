//! Virtual MFA devices: enrolment, activation within the cap, resync and removal.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{AccountId, DeviceId, EnrollmentId, Timestamp};

/// An MFA device as stored. The secret is sealed; only the service opens it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub name: String,
    pub secret_sealed: Vec<u8>,
    pub params: TotpParams,
    pub drift_steps: i64,
    pub last_used_step: Option<i64>,
    pub failed_attempts: u32,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The hardware token's serial number, for hardware devices.
    pub serial: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub name: String,
    pub secret_sealed: Vec<u8>,
    pub params: TotpParams,
    /// The later of the two enrolment steps: both are consumed.
    pub last_used_step: i64,
    pub created_at: Timestamp,
    pub serial: Option<String>,
    /// The session that asked for the device: it must still be live when the device is
    /// stored (checked with the account row locked), so a request already under way when
    /// `This wasn't me` revoked its session cannot add a device after it. `None` only for
    /// operators.
    pub added_by: Option<TokenHash>,
}

#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub id: EnrollmentId,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub secret_sealed: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct EnrollmentRecord {
    pub id: EnrollmentId,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub secret_sealed: Vec<u8>,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned,
    /// The account already has the maximum number of devices.
    LimitReached,
    /// The enrolment expired or was already used (a stale page).
    EnrollmentGone,
    /// An active device of the account already has this name.
    NameTaken,
    /// The hardware token is not in the inventory, or is bound to another device.
    TokenUnavailable,
    /// The session that asked was revoked meanwhile (`This wasn't me`, sign-out).
    SessionEnded,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// The account's active MFA devices, oldest first.
    async fn mfa_devices(&self, account: &AccountId) -> StoreResult<Vec<DeviceRecord>>;

    async fn create_enrollment(&self, enrollment: &NewEnrollment) -> StoreResult<()>;

    /// A live (unexpired, unused) enrolment of `account`.
    async fn enrollment(
        &self,
        id: &EnrollmentId,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<EnrollmentRecord>>;

    /// Turns a live enrolment into a device, within the per-account cap, with the audit record
    /// and notification. The cap is checked with the account row locked, so concurrent
    /// activations cannot exceed it.
    async fn assign_device(
        &self,
        enrollment_id: &EnrollmentId,
        device: &NewDevice,
        max_devices: usize,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome>;

    /// Records a resync: the new drift, and `later_step` as used. `false` if the device is
    /// gone or `later_step` is not after the last used step.
    async fn resync_device(
        &self,
        account: &AccountId,
        device_id: &DeviceId,
        later_step: i64,
        drift_steps: i64,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Removes a device (kept as a record with `removed_at`) and revokes every session it
    /// authorised, only while the session `by` that asked is live (checked with the account
    /// row locked). Returns how many active devices remain, or `None` if it was not active
    /// or the session was revoked.
    async fn remove_device(
        &self,
        account: &AccountId,
        device_id: &DeviceId,
        by: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<usize>>;
}
