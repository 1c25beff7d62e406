//! Journey step 3: after the password, the MFA code — and `Troubleshoot MFA` → `Resync`.
//!
//! The password step leaves a server-side sign-in attempt (10 minutes, single use) whose
//! token the browser holds in a cookie; nothing here is reachable without it. A code is
//! accepted once: its time step must be later than every step the device has used, and it
//! is consumed in the same transaction that issues the session. Failed codes count on the
//! account (shared with the password) and on the device.

use latchkey_domain::mfa::DEVICE_FAILURE_LIMIT;
use latchkey_domain::sign_in::{CodeDecision, CodeFacts, RACED, decide_code};
use latchkey_domain::totp::{self, Code};
use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};

use crate::email::Notice;
use crate::error::ServiceError;
use crate::mfa::{DeviceView, device_context};
use crate::secrets::SecretToken;
use crate::sign_in::IssuedSession;
use crate::store::{
    AccountRecord, AttemptReservation, Reservation, SignInAttemptRecord, ThrottleKey,
};
use crate::{RequestContext, Service};
use latchkey_domain::sign_in::refusal_detail;

/// What the MFA page shows.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    pub devices: Vec<DeviceView>,
    pub expires_at: Timestamp,
}

#[derive(Debug)]
pub enum CodeOutcome {
    SignedIn(IssuedSession),
    /// Wrong, reused or throttled: one answer for all.
    Denied,
}

impl Service {
    /// The sign-in attempt a token names, if still live, and its account.
    pub(crate) async fn live_attempt(
        &self,
        attempt: &str,
    ) -> Result<(SecretToken, SignInAttemptRecord, AccountRecord), ServiceError> {
        let token = SecretToken::from_presented(attempt).ok_or(ServiceError::SignInExpired)?;
        let record = self
            .store
            .sign_in_attempt(&token.hash(), self.clock.now())
            .await?
            .ok_or(ServiceError::SignInExpired)?;
        let account = self
            .store
            .account_by_id(&record.account_id)
            .await?
            .ok_or(ServiceError::SignInExpired)?;
        Ok((token, record, account))
    }

    /// The devices to choose from, if the attempt is still live.
    pub async fn mfa_challenge(&self, attempt: &str) -> Result<MfaChallenge, ServiceError> {
        let (_, record, account) = self.live_attempt(attempt).await?;
        Ok(MfaChallenge {
            devices: self.devices(&account.id).await?,
            expires_at: record.expires_at,
        })
    }

    /// Reserves a code (or security-key) attempt on the counter the attempt's password was
    /// checked under — failures already judged at the password do not delay it again — and,
    /// for a code, on the device's own count. `Ok` carries the counter's value with this
    /// attempt counted, `Err` the audit detail of a refusal.
    pub(crate) async fn reserve_second_factor(
        &self,
        attempt: &SignInAttemptRecord,
        device: Option<&str>,
    ) -> Result<Result<u32, &'static str>, ServiceError> {
        let key = attempt_throttle(attempt);
        let reservation = self
            .store
            .reserve_attempt(
                &AttemptReservation {
                    key: &key,
                    judged: attempt.failures_at_start,
                    device: device.map(|id| (&attempt.account_id, id)),
                    device_limit: DEVICE_FAILURE_LIMIT,
                },
                &self.config.lockout,
                self.clock.now(),
            )
            .await?;
        Ok(match reservation {
            Reservation::Reserved { failures } => Ok(failures),
            Reservation::Refused(admission) => Err(refusal_detail(admission)),
            Reservation::DeviceLocked => Err("device_locked"),
        })
    }

    /// `Submit` on the MFA page.
    pub async fn sign_in_with_code(
        &self,
        attempt: &str,
        device_id: &str,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<CodeOutcome, ServiceError> {
        let (token, record, account) = self.live_attempt(attempt).await?;
        let device = self.known_device(ctx, &account.email);
        self.admit_sign_in(ctx, device.as_ref())?;
        let now = self.clock.now();
        let devices = self.store.mfa_devices(&account.id).await?;
        let device = devices.iter().find(|d| d.id == device_id);
        let digits = device.map(|d| d.params.digits).unwrap_or(6);
        let code = Code::parse(code, digits).map_err(|e| ServiceError::field("code", e))?;

        let refuse = |detail: &str, notify: bool| {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaCode,
                AuditOutcome::Failure,
                detail,
            );
            let outbox = if notify {
                let mail = self.notice_email(&account, Notice::ReusedCode, ctx);
                vec![self.outbox.email(&mail, now)]
            } else {
                Vec::new()
            };
            (audit, outbox)
        };

        let reservation = self
            .reserve_second_factor(&record, device.map(|d| d.id.as_str()))
            .await?;
        // A code is checked only once its attempt is reserved, and only against a device of
        // the account.
        let checked = match (reservation, device) {
            (Ok(_), Some(device)) => {
                let secret =
                    self.open_secret(&device.secret_sealed, &device_context(device.id.as_str()))?;
                let check = totp::check_code(
                    &secret,
                    device.params,
                    code,
                    now,
                    device.drift_steps,
                    device.last_used_step,
                );
                Some((device, check))
            }
            _ => None,
        };
        let decision = decide_code(&CodeFacts {
            reservation: reservation.map(|_| ()),
            check: checked.map(|(_, check)| check),
        });
        let decision = match (decision, checked) {
            (CodeDecision::Complete { step }, Some((device, _))) => {
                let (session_token, session) =
                    self.full_session_to_issue(&account, Some(&device.id), now, ctx);
                let audit = self.audit(
                    ctx,
                    Some(&account.id),
                    AuditEvent::SignIn,
                    AuditOutcome::Success,
                    &format!("mfa:{}", device.id),
                );
                if self
                    .store
                    .complete_mfa_sign_in(&token.hash(), &device.id, step, &session, &audit)
                    .await?
                {
                    return Ok(CodeOutcome::SignedIn(self.issued(
                        &account,
                        session_token,
                        &session,
                    )));
                }
                // Another request consumed this step (or the attempt) first.
                RACED
            }
            (decision, _) => decision,
        };
        let CodeDecision::Deny {
            detail,
            notify_owner: notify,
        } = decision
        else {
            return Ok(CodeOutcome::Denied);
        };
        let (audit, outbox) = refuse(detail, notify);
        self.store.append_audit_with_outbox(&outbox, &audit).await?;
        if notify {
            self.outbox.wake();
        }
        if let Ok(failures) = reservation {
            self.tell_if_throttled(&account, &attempt_throttle(&record), failures, ctx)
                .await?;
        }
        Ok(CodeOutcome::Denied)
    }

    /// `Troubleshoot MFA` → `Resync`, before the session exists (the password was verified in
    /// this attempt). Failures count as failed codes.
    pub async fn resync_during_sign_in(
        &self,
        attempt: &str,
        device_id: &str,
        code1: &str,
        code2: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (_, record, account) = self.live_attempt(attempt).await?;
        let known = self.known_device(ctx, &account.email);
        self.admit_sign_in(ctx, known.as_ref())?;
        let key = attempt_throttle(&record);
        self.resync(
            &account,
            &key,
            record.failures_at_start,
            device_id,
            [code1, code2],
            ctx,
        )
        .await
    }
}

/// The counter a sign-in attempt's second factor counts on: the one its password was
/// checked under.
pub(crate) fn attempt_throttle(attempt: &SignInAttemptRecord) -> ThrottleKey {
    ThrottleKey {
        subject: attempt.account_id.as_str().to_owned(),
        source: attempt.source.clone(),
    }
}
