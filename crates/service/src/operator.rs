//! Operator break-glass: what the operator does at the command line for an owner who cannot
//! get back in alone — `latchkey account unblock-recovery` and `latchkey account reset-mfa`.
//!
//! `This wasn't me` blocks alternative factors until the owner resets the password by email
//! *and* signs in with an MFA device that predates the reported recovery; an owner without
//! such a device cannot lift it. An owner who lost every device and whose phone number is
//! dead cannot use alternative factors at all. Someone has to be able to let them back in,
//! and that someone is whoever runs latchkey.
//!
//! Each command is one store transaction together with its audit record (the operator
//! context and the reason the operator gave) and a notice to the owner's email, so an owner
//! who did not ask for it hears of it. Nothing here checks who the operator is: whoever can
//! run the binary against the database and the server key already holds every account, and
//! the defence against a malicious operator is the audit trail and the notice, not a
//! password prompt. Neither command changes the password or restores removed devices, and
//! neither decides whether the request is genuine: that is the operator's call, made before
//! running it.

use latchkey_domain::DeviceId;
use latchkey_domain::audit::sanitize_request_text;
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, EmailAddress, Timestamp};

use crate::email::{Notice, ResetDevice};
use crate::error::ServiceError;
use crate::mfa::DeviceView;
use crate::password_reset::format_time;
use crate::store::{AccountRecord, MfaReset, MfaResetOutcome, StoreError};
use crate::{RequestContext, Service};

/// The longest reason an operator may give, in characters: a sentence or two, enough to
/// name the ticket and the check that was made.
pub const MAX_REASON_CHARS: usize = 500;

/// How often `reset-mfa` reads the account again when its devices changed between the read
/// and the reset (the owner activating a device at that moment).
const RESET_ATTEMPTS: usize = 3;

/// Why an operator command did nothing. The command line words these for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no account has this email address")]
    UnknownAccount,
    #[error("alternative-factor sign-in is not blocked for this account")]
    NotBlocked,
    #[error("no reason was given")]
    ReasonMissing,
    #[error("the reason is longer than {max_chars} characters")]
    ReasonTooLong { max_chars: usize },
    /// The account's devices changed under every attempt to reset them.
    #[error("the account's MFA devices kept changing during the reset")]
    KeptChanging,
    #[error("the account is disabled already")]
    AlreadyDisabled,
    #[error("the account is not disabled")]
    NotDisabled,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for OperatorError {
    fn from(error: StoreError) -> Self {
        Self::Service(error.into())
    }
}

/// What `unblock-recovery` did.
#[derive(Debug, Clone)]
pub struct RecoveryUnblocked {
    pub account_id: AccountId,
    /// When `This wasn't me` had blocked alternative factors.
    pub blocked_at: Timestamp,
}

/// What `reset-mfa` did.
#[derive(Debug, Clone)]
pub struct MfaResetDone {
    pub account_id: AccountId,
    /// The devices removed (hardware tokens among them are back in the inventory).
    pub devices: Vec<DeviceView>,
    pub sessions_revoked: u64,
    /// Whether a `This wasn't me` block was lifted too.
    pub block_lifted: bool,
}

/// The reason as stored and mailed: whitespace runs (a pasted newline) become one space,
/// other control characters `?`, so it can forge neither an audit line nor a terminal.
fn parse_reason(text: &str) -> Result<String, OperatorError> {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Err(OperatorError::ReasonMissing);
    }
    if collapsed.chars().count() > MAX_REASON_CHARS {
        return Err(OperatorError::ReasonTooLong {
            max_chars: MAX_REASON_CHARS,
        });
    }
    Ok(sanitize_request_text(&collapsed, MAX_REASON_CHARS))
}

impl Service {
    /// The account an operator named, or a refusal recorded in the audit log.
    async fn operator_account(
        &self,
        email: &str,
        event: AuditEvent,
        ctx: &RequestContext,
    ) -> Result<AccountRecord, OperatorError> {
        let account = match EmailAddress::parse(email) {
            Ok(email) => self.store.account_by_email(&email).await?,
            Err(_) => None,
        };
        match account {
            Some(account) => Ok(account),
            None => {
                self.record(ctx, None, event, AuditOutcome::Failure, "unknown_account")
                    .await?;
                Err(OperatorError::UnknownAccount)
            }
        }
    }

    /// What every operator command on an account begins with: its reason checked, the
    /// operator's request context, and the account (a refusal audited as `event`).
    pub(crate) async fn operator_command(
        &self,
        email: &str,
        reason: &str,
        event: AuditEvent,
    ) -> Result<(String, RequestContext, AccountRecord), OperatorError> {
        let reason = parse_reason(reason)?;
        let ctx = RequestContext::operator();
        let account = self.operator_account(email, event, &ctx).await?;
        Ok((reason, ctx, account))
    }

    /// `latchkey account unblock-recovery EMAIL --reason TEXT`: lifts a `This wasn't me`
    /// block, for an owner who has no MFA device older than the reported recovery. Devices,
    /// sessions and the password stay as they are.
    pub async fn unblock_recovery_by_operator(
        &self,
        email: &str,
        reason: &str,
    ) -> Result<RecoveryUnblocked, OperatorError> {
        let event = AuditEvent::OperatorUnblockedRecovery;
        let (reason, ctx, account) = self.operator_command(email, reason, event).await?;
        let Some(blocked_at) = self.store.recovery_blocked_at(&account.id).await? else {
            return Err(self.not_blocked(&account, &ctx).await);
        };
        let now = self.clock.now();
        let notice = Notice::OperatorUnblocked {
            at: format_time(now),
            blocked_at: format_time(blocked_at),
            reason: reason.clone(),
        };
        let mail = self.notice_email(&account, notice, &ctx);
        let audit = self.audit(
            &ctx,
            Some(&account.id),
            event,
            AuditOutcome::Success,
            &format!("reason: {reason}"),
        );
        if !self
            .store
            .unblock_recovery(&account.id, &[self.outbox.email(&mail, now)], &audit)
            .await?
        {
            // Lifted by the owner's own sign-in since it was read.
            return Err(self.not_blocked(&account, &ctx).await);
        }
        self.outbox.wake();
        Ok(RecoveryUnblocked {
            account_id: account.id,
            blocked_at,
        })
    }

    /// The refusal of an unblock for an account that is not blocked, recorded.
    async fn not_blocked(&self, account: &AccountRecord, ctx: &RequestContext) -> OperatorError {
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::OperatorUnblockedRecovery,
            AuditOutcome::Failure,
            "not_blocked",
        );
        match self.store.append_audit(&audit).await {
            Ok(()) => OperatorError::NotBlocked,
            Err(error) => error.into(),
        }
    }

    /// `latchkey account reset-mfa EMAIL --reason TEXT`: removes every MFA device, signs out
    /// every session, voids whatever sign-in or enrolment was in progress and lifts a
    /// `This wasn't me` block, for an owner who lost every device and cannot use alternative
    /// factors. The password is untouched: it alone signs in afterwards, so the owner is told
    /// to activate a device at once.
    pub async fn reset_mfa_by_operator(
        &self,
        email: &str,
        reason: &str,
    ) -> Result<MfaResetDone, OperatorError> {
        let (reason, ctx, account) = self
            .operator_command(email, reason, AuditEvent::OperatorResetMfa)
            .await?;
        for _ in 0..RESET_ATTEMPTS {
            let devices: Vec<DeviceView> = self
                .store
                .mfa_devices(&account.id)
                .await?
                .iter()
                .map(DeviceView::from)
                .collect();
            let blocked = self.store.recovery_blocked_at(&account.id).await?.is_some();
            let now = self.clock.now();
            let ids: Vec<DeviceId> = devices.iter().map(|d| d.id.clone()).collect();
            let mail = self.notice_email(
                &account,
                reset_notice(&devices, blocked, now, &reason),
                &ctx,
            );
            let removed = if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.iter()
                    .map(DeviceId::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let audit = self.audit(
                &ctx,
                Some(&account.id),
                AuditEvent::OperatorResetMfa,
                AuditOutcome::Success,
                &format!("removed: {removed}; reason: {reason}"),
            );
            let reset = MfaReset {
                account: &account.id,
                devices: &ids,
                blocked,
                now,
            };
            match self
                .store
                .reset_mfa(&reset, &[self.outbox.email(&mail, now)], &audit)
                .await?
            {
                MfaResetOutcome::Reset { sessions_revoked } => {
                    self.outbox.wake();
                    return Ok(MfaResetDone {
                        account_id: account.id,
                        devices,
                        sessions_revoked,
                        block_lifted: blocked,
                    });
                }
                MfaResetOutcome::Changed => continue,
                MfaResetOutcome::NoAccount => return Err(OperatorError::UnknownAccount),
            }
        }
        Err(OperatorError::KeptChanging)
    }
}

/// The owner's notice of a reset: what was removed, when, why, and what to do now.
fn reset_notice(devices: &[DeviceView], blocked: bool, now: Timestamp, reason: &str) -> Notice {
    Notice::OperatorReset {
        at: format_time(now),
        devices: devices
            .iter()
            .map(|d| ResetDevice {
                name: d.name.clone(),
                kind: d.kind,
                serial: d.serial.clone(),
            })
            .collect(),
        blocked,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_bounded_and_cannot_forge_lines() {
        assert!(matches!(
            parse_reason(" \n\t "),
            Err(OperatorError::ReasonMissing)
        ));
        assert!(matches!(
            parse_reason(&"x".repeat(MAX_REASON_CHARS + 1)),
            Err(OperatorError::ReasonTooLong { max_chars }) if max_chars == MAX_REASON_CHARS
        ));
        assert_eq!(
            parse_reason(&"é".repeat(MAX_REASON_CHARS))
                .unwrap()
                .chars()
                .count(),
            MAX_REASON_CHARS
        );
        assert_eq!(
            parse_reason("  ticket 42:\n owner\tcalled\u{1b}[2J ").unwrap(),
            "ticket 42: owner called?[2J"
        );
    }
}
