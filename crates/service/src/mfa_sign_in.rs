//! Journey step 3: after the password, the MFA code — and `Troubleshoot MFA` → `Resync`.
//!
//! The password step leaves a server-side sign-in attempt (10 minutes, single use) whose
//! token the browser holds in a cookie; nothing here is reachable without it. A code is
//! accepted once: its time step must be later than every step the device has used, and it
//! is consumed in the same transaction that issues the session. Failed codes count on the
//! account (shared with the password) and on the device.

use latchkey_domain::lockout::Admission;
use latchkey_domain::mfa::DEVICE_FAILURE_LIMIT;
use latchkey_domain::session::SessionKind;
use latchkey_domain::totp::{self, Code, CodeCheck};
use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};

use crate::email::Notice;
use crate::error::ServiceError;
use crate::mfa::{DeviceView, device_context};
use crate::secrets::SecretToken;
use crate::sign_in::IssuedSession;
use crate::store::{AccountRecord, NewSession, SignInAttemptRecord};
use crate::{RequestContext, Service};

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

/// The message for every refused code, whatever the reason.
pub const CODE_DENIED: &str = "The MFA code is not valid. Check the device and try again.";

impl Service {
    async fn live_attempt(
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

    /// Throttling at the MFA step: the failures that were already there when the password
    /// was accepted were judged then; only failures since count against the next code.
    pub(crate) fn admit_code(
        &self,
        account: &AccountRecord,
        attempt: &SignInAttemptRecord,
    ) -> Admission {
        let admission = self
            .config
            .lockout
            .admit(account.failures, self.clock.now());
        match admission {
            Admission::Throttled { .. }
                if account.failures.consecutive_failures <= attempt.failures_at_start =>
            {
                Admission::Allowed
            }
            other => other,
        }
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

        let refuse = |detail: &'static str, device: Option<&str>, notify: bool| {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaCode,
                AuditOutcome::Failure,
                detail,
            );
            let outbox = if notify {
                let notice = Notice {
                    subject: "A used MFA code was entered for your latchkey account".to_owned(),
                    paragraphs: vec![
                        "Someone entered your password correctly and then an MFA code that had already been used. latchkey refused it.".to_owned(),
                        "If this was not you, your password is known to someone else: change it now.".to_owned(),
                    ],
                };
                vec![
                    self.outbox
                        .email(&self.notice_email(&account, &notice, ctx), now),
                ]
            } else {
                Vec::new()
            };
            (audit, outbox, device.map(str::to_owned))
        };

        let admission = self.admit_code(&account, &record);
        if admission != Admission::Allowed {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaCode,
                AuditOutcome::Failure,
                "throttled",
            );
            self.store.append_audit(&audit).await?;
            return Ok(CodeOutcome::Denied);
        }
        let Some(device) = device else {
            let (audit, outbox, _) = refuse("unknown_device", None, false);
            self.store
                .record_mfa_failure(&account.id, None, now, &outbox, &audit)
                .await?;
            return Ok(CodeOutcome::Denied);
        };
        if device.failed_attempts >= DEVICE_FAILURE_LIMIT {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaCode,
                AuditOutcome::Failure,
                "device_locked",
            );
            self.store.append_audit(&audit).await?;
            return Ok(CodeOutcome::Denied);
        }
        let secret = self.open_secret(&device.secret_sealed, &device_context(&device.id))?;
        let check = totp::check_code(
            &secret,
            device.params,
            code,
            now,
            device.drift_steps,
            device.last_used_step,
        );
        let (detail, notify) = match check {
            CodeCheck::Valid { step } => {
                let session_token = SecretToken::generate();
                let session = NewSession {
                    token_hash: session_token.hash(),
                    account_id: account.id.clone(),
                    kind: SessionKind::Full,
                    mfa_device_id: Some(device.id.clone()),
                    created_at: now,
                    expires_at: self.config.sessions.expires_at(now),
                    client_addr: ctx.client_addr.clone(),
                    user_agent: ctx.user_agent.clone(),
                };
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
                    return Ok(CodeOutcome::SignedIn(IssuedSession {
                        token: session_token,
                        account_id: account.id.clone(),
                        expires_at: session.expires_at,
                        device_token: self.known_device_token(&account.email, now),
                    }));
                }
                // Another request consumed this step (or the attempt) first.
                ("replayed_code", true)
            }
            CodeCheck::Replayed { .. } => ("replayed_code", true),
            CodeCheck::Invalid => ("wrong_code", false),
        };
        let (audit, outbox, device_id) = refuse(detail, Some(&device.id), notify);
        self.store
            .record_mfa_failure(&account.id, device_id.as_deref(), now, &outbox, &audit)
            .await?;
        if notify {
            self.outbox.wake();
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
        if self.admit_code(&account, &record) != Admission::Allowed {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaResynced,
                AuditOutcome::Failure,
                "throttled",
            );
            self.store.append_audit(&audit).await?;
            return Err(ServiceError::field("code1", CODE_DENIED));
        }
        self.resync_device(&account.id, device_id, code1, code2, ctx)
            .await
    }
}
