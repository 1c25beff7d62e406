//! A password typed again by someone already signed in: before changing factors when the
//! session is not recent (re-authentication), and as the current password of `Change
//! password`. Throttled, counted and audited like a sign-in, so these forms are no password
//! oracle for whoever holds an old session.

use latchkey_domain::lockout::Settle;
use latchkey_domain::{AuditEvent, AuditOutcome};

use crate::error::{Problem, ServiceError};
use crate::sessions::CurrentSession;
use crate::store::AccountRecord;
use crate::{RequestContext, Service};
use latchkey_domain::sign_in::{PasswordVerdict, refusal_detail};

impl Service {
    /// Checks the password when the session is not recent enough to change factors. The
    /// check is throttled, counted and audited like a sign-in (on this client's counter), so
    /// this form is no password oracle for whoever holds an old session.
    pub(crate) async fn check_reauthentication(
        &self,
        session: &CurrentSession,
        account: &AccountRecord,
        password: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        if !self.needs_reauthentication(session) {
            return Ok(());
        }
        let password = password.unwrap_or_default();
        if password.is_empty() {
            return Err(ServiceError::field("password", Problem::PasswordMissing));
        }
        self.confirm_password(
            account,
            password,
            "password",
            AuditEvent::Reauthentication,
            ctx,
        )
        .await
    }

    /// A password typed again by a signed-in person (re-authentication, `Change password`):
    /// reserved, checked, audited as `event`, refunded when right. `field` names the input
    /// for the error.
    pub(crate) async fn confirm_password(
        &self,
        account: &AccountRecord,
        password: &str,
        field: &'static str,
        event: AuditEvent,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        latchkey_domain::password::check_length(password)
            .map_err(|e| ServiceError::field(field, e))?;
        let source = self.source_for(ctx, account);
        let key = self.account_throttle(&account.id, &source);
        let priority = match source {
            latchkey_domain::lockout::Source::KnownDevice { .. } => crate::Priority::KnownDevice,
            latchkey_domain::lockout::Source::Unknown => crate::Priority::Normal,
        };
        let (check, failures) = self
            .check_password(&key, Some(&account.password_hash), password, priority)
            .await?;
        let (outcome, detail) = match check {
            PasswordVerdict::Right => (AuditOutcome::Success, ""),
            PasswordVerdict::Wrong => (AuditOutcome::Failure, "wrong_password"),
            PasswordVerdict::Refused(admission) => {
                (AuditOutcome::Failure, refusal_detail(admission))
            }
        };
        let audit = self.audit(ctx, Some(&account.id), event, outcome, detail);
        match check {
            PasswordVerdict::Right => {
                self.store.settle_attempt(&key, Settle::Refund).await?;
                self.store.append_audit(&audit).await?;
                Ok(())
            }
            PasswordVerdict::Wrong => {
                self.store.append_audit(&audit).await?;
                if let Some(failures) = failures {
                    self.tell_if_throttled(account, &key, failures, ctx).await?;
                }
                Err(ServiceError::field(
                    field,
                    Problem::PasswordWrong {
                        current: field == "current_password",
                    },
                ))
            }
            PasswordVerdict::Refused(_) => {
                self.store.append_audit(&audit).await?;
                Err(ServiceError::field(field, Problem::TooManyWrongPasswords))
            }
        }
    }
}
