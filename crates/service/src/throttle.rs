//! Every guessable check — a password at sign-in, at re-authentication and at `Change
//! password`, an MFA code, a security-key assertion — is throttled the same way: an attempt
//! is reserved on its failure counter in the database *before* it is checked (see
//! `latchkey_domain::lockout`), so concurrent requests cannot all slip past a rule that each
//! of them read before the others counted.
//!
//! Counters are per account (or per unknown email address) and per source: a known device of
//! the account has its own, everyone else shares the account's. Someone who knows only the
//! email address therefore cannot keep the owner's known devices out.

use latchkey_domain::lockout::{Admission, Settle, Source};
use latchkey_domain::mfa::DEVICE_FAILURE_LIMIT;
use latchkey_domain::sign_in::PasswordVerdict;
use latchkey_domain::{AccountId, EmailAddress};

use crate::error::ServiceError;
use crate::password_hasher::{HashError, OVERLOADED_RETRY_AFTER_SECONDS};
use crate::priority::Priority;
use crate::store::{AccountRecord, AttemptReservation, Reservation, ThrottleKey};
use crate::{RequestContext, Service};

impl Service {
    /// Housekeeping, run every few minutes by the server: counters back at zero, and those of
    /// unknown addresses once their longest delay has run out, are deleted, so a spray of
    /// made-up addresses does not grow the table without bound.
    pub async fn purge_throttles(&self) -> Result<u64, ServiceError> {
        let cutoff = self.clock.now() - self.config.lockout.max_delay;
        Ok(self.store.purge_throttles(cutoff).await?)
    }

    /// Where a request acting on `account` comes from, for throttling: the known device it
    /// proves to be (issued since the account's password was last set), or an unknown
    /// source.
    pub(crate) fn source_for(&self, ctx: &RequestContext, account: &AccountRecord) -> Source {
        Self::source_of(self.known_device(ctx, &account.email), account)
    }

    /// The throttling source of a recognised device for `account`: its own counter only if
    /// its token is of the current password generation.
    pub(crate) fn source_of(
        device: Option<crate::known_devices::KnownDevice>,
        account: &AccountRecord,
    ) -> Source {
        match device {
            Some(device) if device.generation == account.password_generation => {
                Source::KnownDevice { id: device.id }
            }
            _ => Source::Unknown,
        }
    }

    pub(crate) fn account_throttle(&self, account: &AccountId, source: &Source) -> ThrottleKey {
        ThrottleKey {
            subject: account.as_str().to_owned(),
            source: source.key(),
        }
    }

    /// The counter of an email address that has no account: a keyed hash of what was typed,
    /// so that the database does not collect addresses people mistyped, and an unknown
    /// address is reserved, throttled and answered exactly as an account is.
    pub(crate) fn unknown_email_throttle(&self, typed: &str, source: &Source) -> ThrottleKey {
        let normalised = match EmailAddress::parse(typed) {
            Ok(email) => email.as_str().to_owned(),
            Err(_) => typed.trim().to_lowercase(),
        };
        ThrottleKey {
            subject: format!(
                "email:{}",
                self.throttle_subject
                    .sign(format!("throttle-subject\0{normalised}").as_bytes())
            ),
            source: source.key(),
        }
    }

    /// Refuses a password check at once when the hashing queue it would wait in is full,
    /// before any query or reservation: a flood past the queue's bound costs the server almost
    /// nothing, and the answer does not depend on the account.
    pub(crate) fn room_to_hash(&self, priority: Priority) -> Result<(), ServiceError> {
        if self.hasher.has_room(priority) {
            Ok(())
        } else {
            Err(ServiceError::Overloaded {
                retry_after: OVERLOADED_RETRY_AFTER_SECONDS,
            })
        }
    }

    /// Reserves, then checks `password` against `stored` (`None`: no account, a dummy hash
    /// runs). Every outcome costs exactly one Argon2 run, except a refusal because the
    /// hashing queue is full (`Overloaded`), which checks and counts nothing. With the
    /// verdict comes the counter's value with this attempt counted (`None` when refused),
    /// for [`Service::tell_if_throttled`].
    pub(crate) async fn check_password(
        &self,
        key: &ThrottleKey,
        stored: Option<&str>,
        password: &str,
        priority: Priority,
    ) -> Result<(PasswordVerdict, Option<u32>), ServiceError> {
        self.room_to_hash(priority)?;
        let reservation = self
            .store
            .reserve_attempt(
                &AttemptReservation {
                    key,
                    judged: 0,
                    device: None,
                    device_limit: DEVICE_FAILURE_LIMIT,
                },
                &self.config.lockout,
                self.clock.now(),
            )
            .await?;
        let failures = match reservation {
            Reservation::Reserved { failures } => failures,
            Reservation::Refused(admission) => {
                return self.refused(password, admission, priority).await;
            }
            Reservation::DeviceLocked => {
                return self.refused(password, Admission::Locked, priority).await;
            }
        };
        match self
            .hasher
            .verify_with_priority(password, stored, priority)
            .await
        {
            Ok(true) => Ok((PasswordVerdict::Right, Some(failures))),
            Ok(false) => Ok((PasswordVerdict::Wrong, Some(failures))),
            Err(HashError::Overloaded) => {
                // The queue filled up since `room_to_hash`: nothing was checked, so the
                // reservation is given back — a busy server never counts against anyone.
                self.store.settle_attempt(key, Settle::Refund).await?;
                Err(HashError::Overloaded.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// A refusal by the counter costs the same hash run as a check, so its answer comes no
    /// sooner than a wrong password's.
    async fn refused(
        &self,
        password: &str,
        admission: Admission,
        priority: Priority,
    ) -> Result<(PasswordVerdict, Option<u32>), ServiceError> {
        self.hasher
            .verify_with_priority(password, None, priority)
            .await?;
        Ok((PasswordVerdict::Refused(admission), None))
    }
}
