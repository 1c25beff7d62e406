//! `Manage` → `Resync`: two consecutive codes record how far the device drifted.

use latchkey_domain::lockout::Settle;
use latchkey_domain::mfa::DEVICE_FAILURE_LIMIT;
use latchkey_domain::totp::{self};
use latchkey_domain::{AuditEvent, AuditOutcome};

use super::{device_context, parse_codes};
use crate::email::Notice;
use crate::error::{Problem, ServiceError};
use crate::sessions::CurrentSession;
use crate::store::{AccountRecord, AttemptReservation, Reservation, ThrottleKey};
use crate::{RequestContext, Service};
use latchkey_domain::sign_in::refusal_detail;

impl Service {
    /// `Manage` → `Resync`: two consecutive codes anywhere within ten minutes record the
    /// device's drift. Throttled like a code at sign-in, on this client's counter.
    pub async fn resync_device(
        &self,
        session: &CurrentSession,
        device_id: &str,
        code1: &str,
        code2: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ResyncDevice,
        )?;
        let account = self.account_for(session).await?;
        let key = self.account_throttle(&account.id, &self.source_for(ctx, &account));
        self.resync(&account, &key, 0, device_id, [code1, code2], ctx)
            .await
    }

    /// Resync under throttling: the attempt is reserved on `key` (see `reserve`'s `judged`)
    /// and on the device before the codes are checked.
    pub(crate) async fn resync(
        &self,
        account: &AccountRecord,
        key: &ThrottleKey,
        judged: u32,
        device_id: &str,
        [code1, code2]: [&str; 2],
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let devices = self.store.mfa_devices(&account.id).await?;
        let Some(device) = devices
            .iter()
            .find(|d| d.id == device_id && d.kind.uses_codes())
        else {
            return Err(ServiceError::field("device", Problem::UnknownDevice));
        };
        let (first, second) = parse_codes(code1, code2, device.params.digits)?;
        let now = self.clock.now();
        let reservation = self
            .store
            .reserve_attempt(
                &AttemptReservation {
                    key,
                    judged,
                    device: Some((&account.id, device.id.as_str())),
                    device_limit: DEVICE_FAILURE_LIMIT,
                },
                &self.config.lockout,
                now,
            )
            .await?;
        let (counted, refused) = match reservation {
            Reservation::Reserved { failures } => (failures, None),
            Reservation::Refused(admission) => (0, Some(refusal_detail(admission))),
            Reservation::DeviceLocked => (0, Some("device_locked")),
        };
        if let Some(detail) = refused {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::MfaResynced,
                AuditOutcome::Failure,
                detail,
            )
            .await?;
            return Err(ServiceError::field("code1", Problem::CodeDenied));
        }
        let secret =
            self.open_secret(&device.secret_sealed, &device_context(device.id.as_str()))?;
        let found = totp::check_resync(&secret, device.params, first, second, now);
        let resynced = match found {
            Some((later, drift)) => {
                let notice = Notice::DeviceResynced {
                    name: device.name.clone(),
                    drift_seconds: drift * device.params.period,
                };
                let mail = self.notice_email(account, notice, ctx);
                let audit = self.audit(
                    ctx,
                    Some(&account.id),
                    AuditEvent::MfaResynced,
                    AuditOutcome::Success,
                    device.id.as_str(),
                );
                self.store
                    .resync_device(
                        &account.id,
                        &device.id,
                        later,
                        drift,
                        &[self.outbox.email(&mail, now)],
                        &audit,
                    )
                    .await?
            }
            None => false,
        };
        if resynced {
            // Right, but nobody signed in: the reservation is given back.
            self.store.settle_attempt(key, Settle::Refund).await?;
            self.outbox.wake();
            return Ok(());
        }
        self.record(
            ctx,
            Some(&account.id),
            AuditEvent::MfaResynced,
            AuditOutcome::Failure,
            device.id.as_str(),
        )
        .await?;
        self.tell_if_throttled(account, key, counted, ctx).await?;
        Err(ServiceError::field(
            "code1",
            Problem::CodesNotConsecutive { hardware: false },
        ))
    }
}
