//! Signing in with the root user's email and password (journey steps 1–2).
//!
//! Every path through here costs one Argon2 run — unknown email, throttled account, wrong
//! password, right password — so neither the answer nor its timing tells an attacker whether
//! an address has an account.

use latchkey_domain::lockout::{Settle, Source};
use latchkey_domain::mfa::SIGN_IN_ATTEMPT_LIFETIME;
use latchkey_domain::password::check_length;
use latchkey_domain::session::SessionKind;
use latchkey_domain::sign_in::{
    AccountFacts, PasswordDecision, PasswordFacts, PasswordVerdict, decide_password,
};
use latchkey_domain::{
    AccountId, AccountStatus, AuditEvent, AuditOutcome, EmailAddress, Timestamp,
};

use crate::error::ServiceError;
use crate::priority::Priority;
use crate::secrets::SecretToken;
use crate::store::{AccountRecord, NewSession, SessionStart};
use crate::{RequestContext, Service};

/// A session handed to a client. The token is the only copy: storage keeps its hash.
#[derive(Clone)]
pub struct IssuedSession {
    pub token: SecretToken,
    pub account_id: AccountId,
    pub expires_at: Timestamp,
    /// How it was earned: only a full session opens other applications (forward-auth).
    pub kind: SessionKind,
    /// Marks this client as a known device for the account's email (see `known_devices`):
    /// the console keeps it in a long-lived cookie, API clients send it with their next
    /// sign-in.
    pub device_token: String,
}

impl std::fmt::Debug for IssuedSession {
    // Both tokens are credentials (the known-device token lets its holder past the
    // throttling of strangers); a log line names the account only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub enum SignInOutcome {
    SignedIn(IssuedSession),
    /// Wrong email or password, an account that is throttled or locked, or a sign-up whose
    /// email link was never followed: one answer for all.
    Denied,
    /// The password was right and the email verified, but the phone call never completed:
    /// the token lets this browser ask for it.
    PhoneNotVerified(SecretToken),
    /// The password was right and the account has MFA devices: a code is needed next.
    MfaRequired(PendingMfa),
}

/// A sign-in waiting for its MFA code. The token is the only copy; it goes in a cookie.
#[derive(Debug, Clone)]
pub struct PendingMfa {
    pub attempt: SecretToken,
    pub expires_at: Timestamp,
    /// The devices to choose from (what `mfa_challenge` would list), read anyway.
    pub devices: Vec<crate::mfa::DeviceView>,
}

impl Service {
    /// The row of a session about to be issued to this client for `account` at `now`, and
    /// its token (the only copy). The session the browser presented is replaced by it
    /// (rotated).
    pub(crate) fn session_to_issue(
        &self,
        account: &AccountRecord,
        kind: SessionKind,
        mfa_device_id: Option<&latchkey_domain::DeviceId>,
        (now, expires_at): (Timestamp, Timestamp),
        ctx: &RequestContext,
    ) -> (SecretToken, NewSession) {
        let token = SecretToken::generate();
        let session = NewSession {
            token_hash: token.hash(),
            public_id: crate::secrets::new_id("ses"),
            account_id: account.id.clone(),
            kind,
            mfa_device_id: mfa_device_id.cloned(),
            created_at: now,
            expires_at,
            client_addr: ctx.client_addr.clone(),
            user_agent: ctx.user_agent.clone(),
            replaces: ctx.previous_session.clone(),
        };
        (token, session)
    }

    /// A full session (after the password, and the second factor if the account has one).
    pub(crate) fn full_session_to_issue(
        &self,
        account: &AccountRecord,
        mfa_device_id: Option<&latchkey_domain::DeviceId>,
        now: Timestamp,
        ctx: &RequestContext,
    ) -> (SecretToken, NewSession) {
        let expires_at = self.config.sessions.expires_at(now);
        self.session_to_issue(
            account,
            SessionKind::Full,
            mfa_device_id,
            (now, expires_at),
            ctx,
        )
    }

    /// What the client is handed once the store has issued `session`: its token and the
    /// known-device token for this browser.
    pub(crate) fn issued(
        &self,
        account: &AccountRecord,
        token: SecretToken,
        session: &NewSession,
    ) -> IssuedSession {
        IssuedSession {
            token,
            account_id: account.id.clone(),
            expires_at: session.expires_at,
            kind: session.kind,
            device_token: self.known_device_token(
                &account.email,
                account.password_generation,
                session.created_at,
            ),
        }
    }

    /// Checks the password and, when it is right, issues a session that replaces the one the
    /// browser presented (the session identifier is rotated at every sign-in).
    pub async fn sign_in_with_password(
        &self,
        email: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<SignInOutcome, ServiceError> {
        let typed = email;
        let email = EmailAddress::parse(email).ok();
        let device = email.as_ref().and_then(|e| self.known_device(ctx, e));
        self.admit_sign_in(ctx, device.as_ref())?;
        let priority = match device {
            Some(_) => Priority::KnownDevice,
            None => Priority::Normal,
        };
        self.room_to_hash(priority)?;
        if let Err(problem) = check_length(password) {
            return Err(ServiceError::field("password", problem));
        }
        let now = self.clock.now();
        let account = match &email {
            Some(email) => self.store.account_by_email(email).await?,
            None => None,
        };
        let source = match &account {
            Some(account) => Self::source_of(device, account),
            None => Source::Unknown,
        };
        // An address without an account is reserved, checked against a dummy hash and
        // audited exactly like a wrong password: same answer, same cost, same writes.
        let key = match &account {
            Some(account) => self.account_throttle(&account.id, &source),
            None => self.unknown_email_throttle(typed, &source),
        };
        let (check, failures) = self
            .check_password(
                &key,
                account.as_ref().map(|a| a.password_hash.as_str()),
                password,
                priority,
            )
            .await?;
        // Devices matter only once the password is right for an active account.
        let devices = match &account {
            Some(account)
                if check == PasswordVerdict::Right && account.status == AccountStatus::Active =>
            {
                self.store.mfa_devices(&account.id).await?
            }
            _ => Vec::new(),
        };
        let decision = decide_password(&PasswordFacts {
            account: account.as_ref().map(|a| AccountFacts {
                status: a.status,
                email_verified: a.email_verified_at.is_some(),
                phone_verified: a.phone_verified_at.is_some(),
                devices: devices.len(),
                disabled: a.disabled_at.is_some(),
            }),
            verdict: check,
        });
        let detail = decision.audit_detail();
        let account = match (decision, account) {
            (PasswordDecision::Deny { refund, .. }, account) => {
                if refund {
                    self.store.settle_attempt(&key, Settle::Refund).await?;
                }
                self.record(
                    ctx,
                    account.as_ref().map(|a| &a.id),
                    AuditEvent::SignIn,
                    AuditOutcome::Failure,
                    detail,
                )
                .await?;
                if let (Some(account), PasswordVerdict::Wrong, Some(failures)) =
                    (&account, check, failures)
                {
                    self.tell_if_throttled(account, &key, failures, ctx).await?;
                }
                return Ok(SignInOutcome::Denied);
            }
            (_, Some(account)) => account,
            // Only a denial is decided without an account.
            (_, None) => return Ok(SignInOutcome::Denied),
        };
        if matches!(
            decision,
            PasswordDecision::Disabled | PasswordDecision::ContinueSignUp
        ) {
            // The password was right, and no session follows here.
            self.store.settle_attempt(&key, Settle::Refund).await?;
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::SignIn,
                AuditOutcome::Failure,
                detail,
            )
            .await?;
        }
        if decision == PasswordDecision::Disabled {
            return Err(ServiceError::AccountDisabled);
        }
        if decision == PasswordDecision::ContinueSignUp {
            let (token, stored) = self.continue_sign_up_token(&account.id, now);
            self.store.insert_token(&stored).await?;
            return Ok(SignInOutcome::PhoneNotVerified(token));
        }
        if decision == PasswordDecision::RequireSecondFactor {
            // The failure count is refunded, not cleared: a code guesser must not be able to
            // reset it by re-entering a known password between guesses.
            let attempt = SecretToken::generate();
            let expires_at = now + SIGN_IN_ATTEMPT_LIFETIME;
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::SignInPasswordVerified,
                AuditOutcome::Success,
                detail,
            );
            if !self
                .store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &account.id,
                    account.password_generation,
                    &key.source,
                    now,
                    expires_at,
                    &audit,
                )
                .await?
            {
                return self.password_changed_meanwhile(ctx, &account.id).await;
            }
            return Ok(SignInOutcome::MfaRequired(PendingMfa {
                attempt,
                expires_at,
                devices: devices.iter().map(crate::mfa::DeviceView::from).collect(),
            }));
        }
        let (token, session) = self.full_session_to_issue(&account, None, now, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::SignIn,
            AuditOutcome::Success,
            detail,
        );
        match self
            .store
            .start_session(&session, account.password_generation, &key.source, &audit)
            .await?
        {
            SessionStart::Started => {}
            SessionStart::PasswordChanged => {
                return self.password_changed_meanwhile(ctx, &account.id).await;
            }
            SessionStart::Blocked => {
                // `This wasn't me` blocked the account and it has no MFA device left: it must
                // not become an email-and-password account. The operator unblocks it.
                self.record(
                    ctx,
                    Some(&account.id),
                    AuditEvent::SignIn,
                    AuditOutcome::Failure,
                    "blocked_without_device",
                )
                .await?;
                return Err(ServiceError::RecoveryBlocked);
            }
        }
        Ok(SignInOutcome::SignedIn(
            self.issued(&account, token, &session),
        ))
    }

    /// The password was reset or changed while this sign-in's hash ran: it was checked
    /// against a password that no longer exists, so it is answered like a wrong one.
    async fn password_changed_meanwhile(
        &self,
        ctx: &RequestContext,
        account: &latchkey_domain::AccountId,
    ) -> Result<SignInOutcome, ServiceError> {
        self.record(
            ctx,
            Some(account),
            AuditEvent::SignIn,
            AuditOutcome::Failure,
            "password_changed",
        )
        .await?;
        Ok(SignInOutcome::Denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_session_never_prints_its_tokens() {
        let issued = IssuedSession {
            token: SecretToken::generate(),
            account_id: AccountId::from_random(7),
            expires_at: Timestamp(1),
            kind: SessionKind::Full,
            device_token: "known-device-secret".to_owned(),
        };
        let shown = format!("{issued:?}");
        assert!(!shown.contains("known-device-secret"), "{shown}");
        assert!(!shown.contains(issued.token.expose()), "{shown}");
        assert!(shown.contains(&issued.account_id.to_string()), "{shown}");
    }
}
