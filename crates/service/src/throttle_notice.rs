//! Telling the owner that failures are piling up on the account: the wrong password or code
//! that spends the free failures (from then on each attempt from that source waits), and the
//! one that locks the source until a password reset.
//!
//! Which failure crosses is decided by `LockoutPolicy::crossing` from the counter's value
//! the reservation itself wrote; reservations of one counter are serialised, so exactly one
//! failure reaches each value and twenty wrong passwords sent at the same instant send one
//! notice, not twenty. The notice is its own transaction after the refusal's: the failure was
//! already counted when it was reserved, and a notice lost to a crash at that instant is
//! sent at the next crossing.

use latchkey_domain::lockout::{Crossing, Source};
use latchkey_domain::{AuditEvent, AuditOutcome};

use crate::email::Notice;
use crate::error::ServiceError;
use crate::store::{AccountRecord, ThrottleKey};
use crate::{RequestContext, Service};

impl Service {
    /// After a counted failure on `key` (a counter of `account`) that brought it to
    /// `failures`: the owner's notice and an audit record when that failure crossed.
    pub(crate) async fn tell_if_throttled(
        &self,
        account: &AccountRecord,
        key: &ThrottleKey,
        failures: u32,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let Some(crossing) = self.config.lockout.crossing(failures) else {
            return Ok(());
        };
        let known_device = matches!(
            Source::from_key(&key.source),
            Some(Source::KnownDevice { .. })
        );
        let notice = Notice::Throttled {
            failures,
            locked: crossing == Crossing::Locked,
            known_device,
        };
        let now = self.clock.now();
        let mail = self.notice_email(account, notice, ctx);
        let detail = match (crossing, known_device) {
            (Crossing::Throttled, false) => "throttled:unknown_sources",
            (Crossing::Throttled, true) => "throttled:known_device",
            (Crossing::Locked, false) => "locked:unknown_sources",
            (Crossing::Locked, true) => "locked:known_device",
        };
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::AccountThrottled,
            AuditOutcome::Success,
            detail,
        );
        self.store
            .append_audit_with_outbox(&[self.outbox.email(&mail, now)], &audit)
            .await?;
        self.outbox.wake();
        Ok(())
    }
}
