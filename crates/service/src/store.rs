//! The storage port: what the use cases need from a database, as whole units of work.
//!
//! Each method that changes state is one transaction in the implementation, and takes the
//! audit record and the queued messages that belong to the change, so that a change, its
//! audit trail and its notifications commit together or not at all. Single-use secrets are
//! consumed by one conditional write; a method returns `Ok(None)`/`Ok(false)` when the
//! condition did not hold (already used, expired, raced), never an error.

use async_trait::async_trait;
use latchkey_domain::lockout::{Admission, LockoutPolicy, Settle};
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::recovery::RecoveryState;
use latchkey_domain::session::SessionKind;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};

use crate::secrets::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (an email or id already taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or refused the query.
    #[error("database error: {0}")]
    Database(String),
    /// A row held a value this version of latchkey cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    pub email: EmailAddress,
    pub name: String,
    pub phone: PhoneNumber,
    pub phone_verified_at: Option<Timestamp>,
    pub email_verified_at: Option<Timestamp>,
    pub status: AccountStatus,
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: AccountId,
    pub email: EmailAddress,
    pub name: String,
    pub phone: PhoneNumber,
    pub phone_verified_at: Option<Timestamp>,
    pub email_verified_at: Option<Timestamp>,
    pub status: AccountStatus,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    /// How many times the password was set after the first: known-device tokens are bound to
    /// it (see `known_devices`).
    pub password_generation: i64,
}

#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub purpose: TokenPurpose,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A message queued for delivery. The payload is sealed (encrypted) by the service because
/// it may carry a link with a live token.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub kind: &'static str,
    pub recipient: String,
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub payload: Vec<u8>,
    /// Attempts so far, including the one this claim starts.
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub attempts: i64,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// One line of the audit log. Never holds a secret: tokens appear only as hashes, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    pub account_id: Option<AccountId>,
    pub client_addr: String,
    pub user_agent: String,
    pub event: String,
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub kind: SessionKind,
    /// The MFA device that authorised the session, if any: removing it revokes the session.
    pub mfa_device_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: String,
    pub user_agent: String,
    /// The session this browser held before (its cookie), revoked in the same transaction:
    /// a session identifier is never carried across a sign-in.
    pub replaces: Option<TokenHash>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub kind: SessionKind,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub mfa_device_id: Option<String>,
}

/// An MFA device as stored. The secret is sealed; only the service opens it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: String,
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
    pub id: String,
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
    pub id: String,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub secret_sealed: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct EnrollmentRecord {
    pub id: String,
    pub account_id: AccountId,
    pub kind: DeviceKind,
    pub secret_sealed: Vec<u8>,
    pub expires_at: Timestamp,
}

/// What became of a password-only sign-in's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart {
    Started,
    /// Alternative factors are blocked (`This wasn't me`) and the account has no device.
    Blocked,
    /// The password changed (reset, change, `This wasn't me`) after it was checked.
    PasswordChanged,
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

#[derive(Debug, Clone)]
pub struct NewHardwareToken {
    pub serial: String,
    pub manufacturer: Option<String>,
    pub params: TotpParams,
    pub secret_sealed: Vec<u8>,
    pub imported_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct HardwareTokenRecord {
    pub serial: String,
    pub manufacturer: Option<String>,
    pub params: TotpParams,
    pub secret_sealed: Vec<u8>,
    pub imported_at: Timestamp,
    /// The device it is bound to, and that device's account.
    pub device_id: Option<String>,
    pub account_id: Option<AccountId>,
}

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

/// An attempt to reserve on a failure counter before it is checked.
#[derive(Debug, Clone, Copy)]
pub struct AttemptReservation<'a> {
    pub key: &'a ThrottleKey,
    /// See `LockoutPolicy::reserve`.
    pub judged: u32,
    /// An MFA device (account, device id) whose own consecutive failures must stay under
    /// `device_limit`; it is counted too.
    pub device: Option<(&'a AccountId, &'a str)>,
    pub device_limit: u32,
}

/// One failure counter: whose (an account id, or a keyed hash of an email address that has
/// no account, so that unknown addresses are throttled and cost exactly as known ones) and
/// from where (a `latchkey_domain::lockout::Source` key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub subject: String,
    pub source: String,
}

/// The outcome of reserving an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Admitted, and counted as a failure until settled.
    Reserved,
    /// Refused by the counter; nothing was counted.
    Refused(Admission),
    /// The MFA device has failed too often (or is gone); nothing was counted.
    DeviceLocked,
}

/// Whether a recovery flow could be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Completed,
    /// The flow is not at its last step (any more).
    NotReady,
    /// Too many failures from the flow's source: the account must be reset by email first.
    Locked,
}

/// Whether a recovery flow could start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStart {
    Started,
    /// This sign-in attempt already started one.
    AlreadyStarted,
    /// The account has started as many flows as its budget allows, for now.
    OverBudget,
    /// Alternative factors are blocked on the account (`This wasn't me`).
    Blocked,
}

#[derive(Debug, Clone)]
pub struct NewRecoveryFlow {
    pub id: String,
    /// The sign-in attempt that starts the flow: one flow per attempt.
    pub attempt_hash: TokenHash,
    /// The throttling source of that attempt; wrong digits count on it.
    pub source: String,
    /// Who started it (client address and browser), shown on the emailed link's page.
    pub started_from: String,
    pub started_agent: String,
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub cancel_token_hash: TokenHash,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A new emailed link for a recovery flow, and the budget it must fit in.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryEmail<'a> {
    pub flow_id: &'a str,
    pub token_hash: &'a TokenHash,
    pub link_expires_at: Timestamp,
    pub max_emails: u32,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub struct RecoveryFlowRecord {
    pub id: String,
    pub account_id: AccountId,
    pub state: RecoveryState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub emails_sent: u32,
    pub email_token_expires_at: Option<Timestamp>,
    pub calls_placed: u32,
    pub source: String,
    pub completed_at: Option<Timestamp>,
    pub reported_at: Option<Timestamp>,
    pub started_from: String,
    pub started_agent: String,
}

/// `This wasn't me`, as the store applies it.
#[derive(Debug, Clone)]
pub struct RecoveryReport<'a> {
    pub flow_id: &'a str,
    pub account: &'a AccountId,
    /// Links of flows that completed (or expired) longer ago than this no longer work.
    pub undo_window: latchkey_domain::Duration,
    /// Replaces the password, which whoever started the flow knew: a hash of random bytes,
    /// so only a reset by email gets the owner back in.
    pub revoked_password_hash: &'a str,
    pub now: Timestamp,
}

/// What `This wasn't me` undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryUndone {
    /// Devices activated since the reported recovery began, now removed.
    pub devices_removed: Vec<String>,
    /// The moment from which devices were suspect: the block lifts only with an older one.
    pub since: Timestamp,
}

pub use latchkey_domain::calls::{CallLimit, CallPurpose, CallScope};

#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: String,
    pub account_id: AccountId,
    pub purpose: CallPurpose,
    /// The recovery flow the call belongs to; for sign-up, the sign-up's own id.
    pub flow_id: String,
    pub to_number: String,
    /// The network of the client that asked for it (per-client budgets).
    pub client_network: String,
    /// HMAC of the 6-digit code under a server subkey: never the code itself.
    pub code_hash: String,
    pub code_expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// Whether a call was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPlacement {
    Placed,
    /// The recovery flow is no longer waiting for a call, or has placed its last one.
    FlowGone,
    /// A budget of this scope is spent; nothing was queued.
    OverBudget(CallScope),
}

/// A call's life: queued (in the outbox) → placed (the provider took it) → verified, or
/// failed / superseded (a newer call of the same flow) / ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Queued,
    /// The worker claimed it and is asking the provider to ring: from here it counts
    /// against every budget, whatever happens to it next.
    Dialling,
    Placed,
    Verified,
    Failed,
    Superseded,
    Ended,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Dialling => "dialling",
            Self::Placed => "placed",
            Self::Verified => "verified",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
            Self::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(Self::Queued),
            "dialling" => Some(Self::Dialling),
            "placed" => Some(Self::Placed),
            "verified" => Some(Self::Verified),
            "failed" => Some(Self::Failed),
            "superseded" => Some(Self::Superseded),
            "ended" => Some(Self::Ended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallRecord {
    pub id: String,
    pub account_id: AccountId,
    pub purpose: CallPurpose,
    pub flow_id: Option<String>,
    pub to_number: String,
    pub code_hash: String,
    pub code_expires_at: Timestamp,
    pub provider_call_id: Option<String>,
    pub status: CallStatus,
    pub digit_attempts: u32,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewCeremony {
    pub id: String,
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

#[derive(Debug, Clone)]
pub struct NewDevMail {
    pub outbox_id: i64,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct DevMail {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Answers when the database can be reached (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts an account with, optionally, its first email token, plus queued messages and
    /// the audit record. `Conflict` when the email or id is taken.
    async fn insert_account(
        &self,
        account: &NewAccount,
        token: Option<&NewEmailToken>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Removes a sign-up that was never verified and was created before `created_before`, so
    /// that an abandoned sign-up cannot hold an email address hostage.
    async fn delete_unverified_account(
        &self,
        email: &EmailAddress,
        created_before: Timestamp,
    ) -> StoreResult<bool>;

    async fn account_by_email(&self, email: &EmailAddress) -> StoreResult<Option<AccountRecord>>;
    async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>>;

    /// Stores a new emailed token within a budget: at most `budget.0` tokens of the same
    /// account and purpose created since `budget.1`, counted with the account row locked.
    /// Earlier links stay valid until used or expired. `false` (and nothing stored or
    /// queued) when the budget is spent.
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
        budget: (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// The account a live (unused, unexpired) token belongs to, without consuming it.
    async fn email_token_account(
        &self,
        token_hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>>;

    /// Consumes a verify-email token of `account`, records the email as verified, activates
    /// the account if its phone is verified too, and stores `next` (the token that lets this
    /// browser go on to the phone call). `false` if the token was not live.
    async fn verify_email(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        now: Timestamp,
        next: Option<&NewEmailToken>,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Stores a token without invalidating others (sign-up continuation after a sign-in).
    async fn insert_token(&self, token: &NewEmailToken) -> StoreResult<()>;

    /// The account's newest call for `purpose`.
    async fn latest_account_call(
        &self,
        account: &AccountId,
        purpose: CallPurpose,
    ) -> StoreResult<Option<CallRecord>>;

    /// Consumes a reset-password token of `account`, sets the new hash, clears every failure
    /// counter of the account (control of the email is proven) and revokes every session. `false` if the token was not live.
    async fn reset_password(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        password_hash: &str,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Sets a new password from a signed-in session, only while that session is live
    /// (checked with the account row locked): every other session of the account is revoked
    /// (the one that asked stays), and pending reset links, sign-in attempts and recovery
    /// flows begun with the old password stop working. `false` when the session was revoked.
    async fn change_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep_session: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Issues a session after a password-only sign-in (an account without MFA devices):
    /// clears the failures of the source it came from, revokes the session it replaces (if
    /// any) and records the audit line. Nothing is issued while alternative factors are
    /// blocked (`This wasn't me`: an account whose devices an intruder removed must not
    /// become an email-and-password account), nor when the account's password generation is
    /// no longer `password_generation`, the one that was checked: a sign-in whose slow hash
    /// was under way while the password was reset must not outlive the reset.
    async fn start_session(
        &self,
        session: &NewSession,
        password_generation: i64,
        source: &str,
        audit: &AuditRecord,
    ) -> StoreResult<SessionStart>;

    /// Reserves one attempt before it is checked, atomically: the counter is read under a
    /// lock, judged by `policy` and, when it admits, counted as a failure in the same
    /// transaction, together with the device's own count. Concurrent reservations are judged
    /// one after the other.
    async fn reserve_attempt(
        &self,
        attempt: &AttemptReservation<'_>,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> StoreResult<Reservation>;

    /// Every failure counter of `subject` (an account id): source key and consecutive
    /// failures, for operators and tests.
    async fn failure_counts(&self, subject: &str) -> StoreResult<Vec<(String, u32)>>;

    /// Deletes failure counters that hold nothing worth keeping: those back at zero, and
    /// those of email addresses without an account whose last failure is older than
    /// `unknown_before` (their delays have run out; an unknown address has nothing to lock).
    /// Returns how many went.
    async fn purge_throttles(&self, unknown_before: Timestamp) -> StoreResult<u64>;

    /// Settles a reserved attempt that turned out right (see [`Settle`]).
    async fn settle_attempt(&self, key: &ThrottleKey, settle: Settle) -> StoreResult<()>;

    async fn session(&self, token_hash: &TokenHash) -> StoreResult<Option<SessionRecord>>;
    async fn touch_session(&self, token_hash: &TokenHash, now: Timestamp) -> StoreResult<()>;

    /// Revokes a live session. `false` if it was already revoked or never existed.
    async fn revoke_session(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    async fn append_audit(&self, audit: &AuditRecord) -> StoreResult<()>;

    /// Appends `audit` with its messages unless a record of the same account, event and
    /// detail exists since `since` (counted with the account row locked): "once a day"
    /// notices. `false`, and nothing written, when one does.
    async fn append_audit_once(
        &self,
        audit: &AuditRecord,
        since: Timestamp,
        outbox: &[NewOutboxMessage],
    ) -> StoreResult<bool>;
    /// The newest `limit` audit records, newest first; only those of `account` when given.
    async fn recent_audit(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Leases up to `limit` due messages until `lease_until`, counting an attempt for each.
    /// A message whose lease runs out (its worker died) becomes due again.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>>;
    /// Marks a message delivered and erases its payload.
    async fn complete_outbox(&self, id: i64, now: Timestamp) -> StoreResult<()>;
    /// Records a failed attempt: retry at `retry_at`, or give up for good when `None`
    /// (the payload is then erased too).
    async fn fail_outbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn outbox_status(&self, limit: i64) -> StoreResult<Vec<OutboxStatus>>;

    /// The account's active MFA devices, oldest first.
    async fn mfa_devices(&self, account: &AccountId) -> StoreResult<Vec<DeviceRecord>>;

    async fn create_enrollment(&self, enrollment: &NewEnrollment) -> StoreResult<()>;
    /// A live (unexpired, unused) enrolment of `account`.
    async fn enrollment(
        &self,
        id: &str,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<EnrollmentRecord>>;

    /// Turns a live enrolment into a device, within the per-account cap, with the audit record
    /// and notification. The cap is checked with the account row locked, so concurrent
    /// activations cannot exceed it.
    async fn assign_device(
        &self,
        enrollment_id: &str,
        device: &NewDevice,
        max_devices: usize,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome>;

    /// Records that the password was right and a code is now awaited; the password's
    /// reservation on `source` is refunded in the same transaction. `false`, and nothing
    /// recorded, when the account's password generation is no longer `password_generation`
    /// (the password changed while it was being checked).
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
        device_id: &str,
        step: i64,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// An audit record with the messages it causes (a refused code and, for a replayed one,
    /// the owner's notice), committed together.
    async fn append_audit_with_outbox(
        &self,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Records a resync: the new drift, and `later_step` as used. `false` if the device is
    /// gone or `later_step` is not after the last used step.
    async fn resync_device(
        &self,
        account: &AccountId,
        device_id: &str,
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
        device_id: &str,
        by: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<usize>>;

    /// Starts a flow for a sign-in attempt: at most one per attempt, and at most `budget.0`
    /// for the account since `budget.1`, counted with the account row locked.
    async fn create_recovery_flow(
        &self,
        flow: &NewRecoveryFlow,
        budget: (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<FlowStart>;
    async fn recovery_flow(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;
    /// The flow a live emailed link belongs to (without using it).
    async fn recovery_flow_by_email_token(
        &self,
        email_token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;

    /// Stores a new email link for a flow still waiting for it (the earlier link stops
    /// working), within `max_emails`. `false` when the flow moved on, expired or is over budget.
    async fn record_recovery_email(
        &self,
        email: &RecoveryEmail<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Step 1 done: consumes the link. `false` if it was not the flow's live link.
    async fn verify_recovery_email(
        &self,
        flow_id: &str,
        email_token_hash: &TokenHash,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Queues a verification call within every budget of `limits` (counted over calls of
    /// the same purpose, a call superseded before it rang not counting) and, for a recovery
    /// call, within `flow_cap` calls of its flow at step 2 — all checked and the call inserted
    /// in one transaction with the purpose's budgets locked. Earlier calls of the same flow
    /// (or sign-up) are superseded.
    async fn place_call(
        &self,
        call: &NewCall,
        flow_cap: Option<u32>,
        limits: &[CallLimit],
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<CallPlacement>;

    async fn call(&self, id: &str) -> StoreResult<Option<CallRecord>>;
    /// The flow's newest call.
    async fn latest_call(&self, flow_id: &str) -> StoreResult<Option<CallRecord>>;
    /// Claims a queued, unexpired call for dialling (`placed_at` is set, so it counts against
    /// the budgets from now on, even if a newer call supersedes it while it rings). `false`
    /// when it stopped mattering (superseded, expired) or another worker has it.
    async fn claim_call(&self, id: &str, now: Timestamp) -> StoreResult<bool>;

    /// Gives a claimed call back to the queue after a failure that certainly did not reach
    /// the provider (it will be retried, and counted again only once it is claimed again).
    async fn release_call(&self, id: &str) -> StoreResult<()>;

    /// The provider accepted a call: remember its id (Twilio's CallSid). `false` if the
    /// call is no longer queued or dialling (superseded, or already bound).
    async fn bind_call(
        &self,
        id: &str,
        provider_call_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Ends a call that is not verified (status callback, failed placement).
    async fn end_call(&self, id: &str, status: CallStatus, now: Timestamp) -> StoreResult<()>;

    /// Counts one digit entry on a placed, unexpired call before it is checked: only if
    /// `expected` entries were counted so far (the prompt being answered) and fewer than
    /// `max`. `false` for a duplicate, a replay or a call past its attempts.
    async fn reserve_digit_attempt(
        &self,
        call_id: &str,
        expected: u32,
        max: u32,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Records wrong digits on a call (already counted by `reserve_digit_attempt`): a failure
    /// on the counter of its recovery flow's source (sign-up calls have none), and the audit.
    async fn record_wrong_digits(
        &self,
        call_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// The right digits arrived on the placed call: the call is verified and its flow moves
    /// to the next step, together. `false` if either had already moved on.
    async fn verify_call(
        &self,
        call_id: &str,
        provider_call_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Step 3: completes the flow, ends its sibling flows, signs out every other session of
    /// the account and issues the recovery session. Refused when the flow is not at step 3
    /// (replayed, expired) or its source's counter is at `hard_limit` (read under the
    /// counter's lock).
    async fn complete_recovery(
        &self,
        flow_id: &str,
        hard_limit: u32,
        session: &NewSession,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Completion>;

    /// `This wasn't me`, all or nothing: marks the flow reported (once, within its undo
    /// window), ends every live flow and every session of the account, removes every device
    /// activated since the suspect recovery began (and any flow completed since the reported
    /// one began: a sibling the intruder finished), invalidates pending enrolments, security-key
    /// ceremonies, sign-in attempts and reset links, replaces the password, and blocks
    /// alternative factors until the owner resets the password by email and signs in with an
    /// older device. `None` when the link is used, expired or unknown.
    async fn report_recovery(
        &self,
        report: &RecoveryReport<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<Option<RecoveryUndone>>;
    async fn recovery_flow_by_cancel_token(
        &self,
        cancel_token_hash: &TokenHash,
    ) -> StoreResult<Option<RecoveryFlowRecord>>;

    /// When alternative-factor sign-in was blocked by `This wasn't me`, if it still is.
    async fn recovery_blocked_at(&self, account: &AccountId) -> StoreResult<Option<Timestamp>>;

    /// Recent calls placed through the built-in phone, newest first.
    async fn dev_calls(&self, limit: i64) -> StoreResult<Vec<CallRecord>>;

    /// Adds tokens to the inventory, all or none. `Conflict("serial")` if one is already there.
    async fn import_tokens(
        &self,
        tokens: &[NewHardwareToken],
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    async fn hardware_tokens(&self) -> StoreResult<Vec<HardwareTokenRecord>>;
    async fn hardware_token(&self, serial: &str) -> StoreResult<Option<HardwareTokenRecord>>;

    /// Binds a free inventory token to a new hardware device, within the per-account cap.
    async fn assign_hardware_device(
        &self,
        device: &NewDevice,
        max_devices: usize,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome>;

    /// Stores a WebAuthn ceremony's state (sealed) until it is finished, once.
    async fn create_ceremony(&self, ceremony: &NewCeremony) -> StoreResult<()>;
    /// Takes a live ceremony of `account` for `purpose`: it can never be taken again.
    async fn take_ceremony(
        &self,
        id: &str,
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
        device_id: &str,
        key_sealed: &[u8],
        counter: u32,
        session: &NewSession,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Files a mail in the built-in mailbox. Keyed by the outbox id, so a redelivery after a
    /// crash does not file it twice.
    async fn insert_dev_mail(&self, mail: &NewDevMail) -> StoreResult<()>;
    async fn dev_mails(&self, limit: i64) -> StoreResult<Vec<DevMail>>;
    async fn dev_mail(&self, id: i64) -> StoreResult<Option<DevMail>>;

    /// Operator break-glass (`latchkey account unblock-recovery`): lifts a `This wasn't me`
    /// block — the whole of it, including the reset it was waiting for — with the audit record
    /// and the owner's notice. `false`, and nothing written, when the account is not blocked.
    async fn unblock_recovery(
        &self,
        account: &AccountId,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Operator break-glass (`latchkey account reset-mfa`), all or nothing: removes every
    /// active MFA device (kept as records with `removed_at`, secrets erased, hardware tokens
    /// back in the inventory), revokes every session, voids pending enrolments, security-key
    /// ceremonies, sign-in attempts and live recovery flows, and lifts the recovery block;
    /// the password is left as it is. Applied only while the account's devices and block are
    /// still what `reset` expects (read with the account row locked), so the owner's notice
    /// names exactly what was removed.
    async fn reset_mfa(
        &self,
        reset: &MfaReset<'_>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<MfaResetOutcome>;
}

// What the operator's break-glass commands hand the store (`Store::reset_mfa`).

/// An operator's `account reset-mfa`, with what the operator's notice was written about.
#[derive(Debug, Clone, Copy)]
pub struct MfaReset<'a> {
    pub account: &'a AccountId,
    /// The ids of the account's active devices, in any order.
    pub devices: &'a [String],
    /// Whether alternative factors are blocked by `This wasn't me`.
    pub blocked: bool,
    pub now: Timestamp,
}

/// The outcome of [`Store::reset_mfa`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaResetOutcome {
    Reset {
        /// Live sessions of the account that were signed out.
        sessions_revoked: u64,
    },
    /// The account's devices or block are no longer what was expected: nothing was changed,
    /// read again and retry.
    Changed,
    /// There is no such account.
    NoAccount,
}
