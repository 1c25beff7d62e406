//! Failure counters: every guessable check reserves on one before it runs.

use super::StoreResult;
use async_trait::async_trait;
use latchkey_domain::lockout::{Admission, LockoutPolicy, Settle};
use latchkey_domain::{AccountId, Timestamp};

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
    /// Admitted, and counted as a failure until settled: `failures` is the counter's value
    /// with this attempt counted (one reservation reaches each value).
    Reserved { failures: u32 },
    /// Refused by the counter; nothing was counted.
    Refused(Admission),
    /// The MFA device has failed too often (or is gone); nothing was counted.
    DeviceLocked,
}

#[async_trait]
pub trait ThrottleStore: Send + Sync {
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
}
