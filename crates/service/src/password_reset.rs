//! `Forgot password?`: a single-use emailed link that changes the password and nothing else.
//!
//! A reset proves control of the email address only. It therefore never removes or bypasses
//! MFA (Keycloak's reset flow did, for years): sign-in after a reset still asks for every
//! factor the account has.

use crate::Link;
use crate::store::AccountRecord;
use latchkey_domain::password::check_new_password;
use latchkey_domain::token::{RESET_EMAIL_WINDOW, RESET_EMAILS_PER_WINDOW, TokenPurpose};
use latchkey_domain::{AccountStatus, AuditEvent, AuditOutcome, EmailAddress};

use crate::email::Email;
use crate::error::ServiceError;
use crate::secrets::SecretToken;
use crate::store::NewEmailToken;
use crate::{RequestContext, Service};

impl Service {
    /// Sends a reset link if the address belongs to an active account and the account's
    /// hourly budget of reset emails is not spent. Earlier links stay valid. The caller shows
    /// the same page in every case.
    pub async fn request_password_reset(
        &self,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.admit(ctx)?;
        let email = EmailAddress::parse(email).map_err(|e| ServiceError::field("email", e))?;
        let now = self.clock.now();
        let account = self.store.account_by_email(&email).await?;
        let Some(account) = account.filter(|a| a.status == AccountStatus::Active) else {
            self.record(
                ctx,
                None,
                AuditEvent::PasswordResetRequested,
                AuditOutcome::Failure,
                "unknown_email",
            )
            .await?;
            return Ok(());
        };
        let token = SecretToken::generate();
        let link = self.link(Link::ResetPassword {
            token: token.expose(),
        });
        let mail = Email::ResetPassword { link }.render(account.email.as_str(), &account.name);
        let stored = NewEmailToken {
            token_hash: token.hash(),
            account_id: account.id.clone(),
            purpose: TokenPurpose::ResetPassword,
            created_at: now,
            expires_at: now + TokenPurpose::ResetPassword.lifetime(),
        };
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::PasswordResetRequested,
            AuditOutcome::Success,
            "",
        );
        let sent = self
            .store
            .issue_email_token(
                &stored,
                (RESET_EMAILS_PER_WINDOW, now - RESET_EMAIL_WINDOW),
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?;
        if sent {
            self.outbox.wake();
        } else {
            // The same answer as a sent link: the caller cannot tell. A disabled account
            // gets no link (the store refuses it under the lock a disable takes): it could
            // set a password that waits for the enable.
            let detail = match account.disabled_at {
                Some(_) => "account_disabled",
                None => "reset_email_budget",
            };
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::PasswordResetRequested,
                AuditOutcome::Failure,
                detail,
            )
            .await?;
        }
        Ok(())
    }

    /// Sets a new password from a reset link. Every session of the account is signed out and
    /// the owner is told by email. Returns a known-device token for the browser (see
    /// `known_devices`).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> Result<String, ServiceError> {
        self.admit(ctx)?;
        let now = self.clock.now();
        let token = SecretToken::from_presented(token);
        let account_id = match &token {
            Some(token) => {
                self.store
                    .email_token_account(&token.hash(), TokenPurpose::ResetPassword, now)
                    .await?
            }
            None => None,
        };
        let account = match &account_id {
            Some(id) => self.store.account_by_id(id).await?,
            None => None,
        };
        let (Some(token), Some(account)) = (token, account) else {
            return Err(self.refuse_link(ctx, AuditEvent::PasswordReset).await);
        };
        let (hash, mail) = self.new_password(&account, new_password, now, ctx).await?;
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::PasswordReset,
            AuditOutcome::Success,
            "",
        );
        let done = self
            .store
            .reset_password(
                &token.hash(),
                &account.id,
                &hash,
                now,
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?;
        if !done {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::PasswordReset,
                AuditOutcome::Failure,
                "link_already_used",
            )
            .await?;
            return Err(ServiceError::LinkInvalid);
        }
        self.outbox.wake();
        // Whoever finished the reset proved control of the email: their browser becomes a
        // known device, with a failure counter of its own, so someone who keeps the account's
        // shared counter throttled cannot keep the owner out of the sign-in that follows.
        // The reset moved the account to its next password generation.
        Ok(self.known_device_token(&account.email, account.password_generation + 1, now))
    }
}

/// `2026-11-28 06:20`, in UTC, for emails.
pub fn format_time(at: latchkey_domain::Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.0.to_string())
}

impl Service {
    /// A new password for the account: refused if weak or made of the account's own address
    /// or name, else hashed, with the owner's notice that it changed.
    async fn new_password(
        &self,
        account: &AccountRecord,
        new_password: &str,
        now: latchkey_domain::Timestamp,
        ctx: &RequestContext,
    ) -> Result<(String, crate::OutgoingEmail), ServiceError> {
        let local_part = account.email.as_str().split('@').next().unwrap_or_default();
        check_new_password(
            new_password,
            &[account.email.as_str(), local_part, &account.name],
        )
        .map_err(|problem| ServiceError::field("password", problem))?;
        let hash = self.hasher.hash(new_password).await?;
        Ok((hash, self.password_changed_email(account, now, ctx)))
    }

    /// The owner's notice of a new password, with the way to undo it.
    fn password_changed_email(
        &self,
        account: &AccountRecord,
        now: latchkey_domain::Timestamp,
        ctx: &RequestContext,
    ) -> crate::OutgoingEmail {
        Email::PasswordChanged {
            when: format_time(now),
            client_addr: ctx.client_addr.clone(),
            link: self.link(Link::ForgotPassword),
            history: self.link(Link::EventHistory),
        }
        .render(account.email.as_str(), &account.name)
    }

    /// `Change password` on Security credentials: the current password (also from a recovery
    /// session, whose holder typed it minutes ago) and a new one. The current password is
    /// reserved and counted like a sign-in, refused while this client is throttled, so this
    /// form cannot be used to guess it.
    pub async fn change_password(
        &self,
        session: &crate::sessions::CurrentSession,
        current: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ChangePassword,
        )?;
        self.admit(ctx)?;
        let account = self
            .store
            .account_by_id(&session.account_id)
            .await?
            .ok_or(ServiceError::AccountGone)?;
        let now = self.clock.now();
        // Throttled, counted and audited like a sign-in: this form is no password oracle.
        self.confirm_password(
            &account,
            current,
            "current_password",
            AuditEvent::Reauthentication,
            ctx,
        )
        .await?;
        let (hash, mail) = self.new_password(&account, new_password, now, ctx).await?;
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::PasswordChanged,
            AuditOutcome::Success,
            "",
        );
        // The write holds only while this session is live: a change under way when `This
        // wasn't me` revoked it must not land after the undo.
        if !self
            .store
            .change_password(
                &account.id,
                &hash,
                &session.token_hash,
                now,
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?
        {
            return Err(ServiceError::SignInExpired);
        }
        self.outbox.wake();
        Ok(())
    }
}
