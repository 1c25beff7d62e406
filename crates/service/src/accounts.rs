//! Creating accounts: sign-up with email verification, and operator bootstrap.

use latchkey_domain::account::AccountName;
use latchkey_domain::password::check_new_password;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{
    AccountId, AccountStatus, AuditEvent, AuditOutcome, EmailAddress, PhoneNumber,
};

use crate::email::Email;
use crate::email::Notice;
use crate::error::{FieldError, Problem, ServiceError};
use crate::secrets::{SecretToken, random_below};
use crate::store::{AccountRecord, NewAccount, NewEmailToken, StoreError};
use crate::{RequestContext, Service};

/// What a person types on `Create a new account`, as typed.
#[derive(Debug, Clone, Default)]
pub struct SignUpRequest {
    pub email: String,
    pub account_name: String,
    pub password: String,
    pub phone: String,
}

/// The answer to a sign-up: the same whether an account was created (it waits for its
/// email link) or the address was taken (its owner was told). It deliberately holds no
/// account id.
#[derive(Debug, Clone)]
pub struct SignUpReceipt {
    pub email: EmailAddress,
}

/// The outcome of following a sign-up link.
#[derive(Debug, Clone)]
pub struct EmailVerified {
    pub account_id: AccountId,
    /// Present while the phone still needs its call: the browser keeps it (a cookie) to ask
    /// for the call. `None` when the account is ready.
    pub continue_token: Option<SecretToken>,
}

/// A validated set of account details.
struct AccountDetails {
    email: EmailAddress,
    name: AccountName,
    phone: PhoneNumber,
}

fn validate(
    request: &SignUpRequest,
    calls: &latchkey_domain::calls::CallPolicy,
) -> Result<AccountDetails, ServiceError> {
    let mut problems = Vec::new();
    let email = EmailAddress::parse(&request.email)
        .map_err(|e| problems.push(FieldError::new("email", e)))
        .ok();
    let name = AccountName::parse(&request.account_name)
        .map_err(|e| problems.push(FieldError::new("account_name", e)))
        .ok();
    // The phone is called to verify it (and for recovery): a number latchkey may not call
    // is refused here, with the reason, rather than after the account exists.
    let phone = PhoneNumber::parse(&request.phone)
        .map_err(|e| problems.push(FieldError::new("phone", e)))
        .ok()
        .filter(|phone| match calls.may_call_number(phone) {
            Ok(()) => true,
            Err(refused) => {
                problems.push(FieldError::new("phone", refused));
                false
            }
        });
    let mut context = vec![request.account_name.as_str()];
    if let Some(email) = &email {
        context.push(email.as_str());
        context.push(email.as_str().split('@').next().unwrap_or_default());
    }
    if let Err(problem) = check_new_password(&request.password, &context) {
        problems.push(FieldError::new("password", problem));
    }
    match (email, name, phone) {
        (Some(email), Some(name), Some(phone)) if problems.is_empty() => {
            Ok(AccountDetails { email, name, phone })
        }
        _ => Err(ServiceError::Invalid(problems)),
    }
}

fn new_account_id() -> AccountId {
    AccountId::from_random(random_below(1_000_000_000_000))
}

impl Service {
    /// `Create a new account`: records the account as unverified and emails a single-use
    /// link. The answer, its cost (one Argon2 hash) and its writes are the same whether or
    /// not the address already has an account, so sign-up cannot be used to learn who has
    /// one; an existing owner is told by email (at most once a day) instead.
    pub async fn sign_up(
        &self,
        request: &SignUpRequest,
        ctx: &RequestContext,
    ) -> Result<SignUpReceipt, ServiceError> {
        self.admit(ctx)?;
        let details = validate(request, &self.config.calls)?;
        let password_hash = self.hasher.hash(&request.password).await?;
        let now = self.clock.now();
        let lifetime = TokenPurpose::VerifyEmail.lifetime();
        let receipt = SignUpReceipt {
            email: details.email.clone(),
        };
        if let Some(existing) = self.store.account_by_email(&details.email).await? {
            // An abandoned sign-up must not hold the address forever: once its link has
            // expired, a new sign-up replaces it.
            let replaced = existing.status == AccountStatus::PendingVerification
                && self
                    .store
                    .delete_unverified_account(&details.email, now - lifetime)
                    .await?;
            if !replaced {
                self.tell_owner_about_sign_up(&existing, ctx).await?;
                return Ok(receipt);
            }
        }
        for _ in 0..3 {
            let account = NewAccount {
                id: new_account_id(),
                email: details.email.clone(),
                name: details.name.as_str().to_owned(),
                phone: details.phone.clone(),
                phone_verified_at: None,
                email_verified_at: None,
                status: AccountStatus::PendingVerification,
                password_hash: password_hash.clone(),
                created_at: now,
            };
            let token = SecretToken::generate();
            let link = self.link(crate::Link::VerifySignUp {
                token: token.expose(),
            });
            let mail = Email::VerifyEmail {
                phone: details.phone.masked(),
                link,
            }
            .render(details.email.as_str(), details.name.as_str());
            let stored_token = NewEmailToken {
                token_hash: token.hash(),
                account_id: account.id.clone(),
                purpose: TokenPurpose::VerifyEmail,
                created_at: now,
                expires_at: now + lifetime,
            };
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::SignUp,
                AuditOutcome::Success,
                "pending_email_verification",
            );
            match self
                .store
                .insert_account(
                    &account,
                    Some(&stored_token),
                    &[self.outbox.email(&mail, now)],
                    &audit,
                )
                .await
            {
                Ok(()) => {
                    self.outbox.wake();
                    return Ok(receipt);
                }
                // A random id collided with an existing one: draw again.
                Err(StoreError::Conflict("account id")) => continue,
                // A concurrent sign-up took the address between the look-up and the insert:
                // the same answer as for any taken address.
                Err(StoreError::Conflict(_)) => {
                    if let Some(existing) = self.store.account_by_email(&details.email).await? {
                        self.tell_owner_about_sign_up(&existing, ctx).await?;
                    }
                    return Ok(receipt);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::AccountIdUnavailable)
    }

    /// Someone signed up with an address that has an account (or a sign-up waiting for its
    /// link): its owner hears about it, once a day at most, so a stranger cannot use this to
    /// flood the inbox.
    async fn tell_owner_about_sign_up(
        &self,
        existing: &AccountRecord,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mail = self.notice_email(existing, Notice::SignUpWithTakenEmail, ctx);
        let notified = self.audit(
            ctx,
            Some(&existing.id),
            AuditEvent::SignUp,
            AuditOutcome::Failure,
            DUPLICATE_NOTIFIED,
        );
        let sent = self
            .store
            .append_audit_once(
                &notified,
                now - latchkey_domain::Duration::hours(24),
                &[self.outbox.email(&mail, now)],
            )
            .await?;
        if sent {
            self.outbox.wake();
        } else {
            self.record(
                ctx,
                Some(&existing.id),
                AuditEvent::SignUp,
                AuditOutcome::Failure,
                "duplicate_email",
            )
            .await?;
        }
        Ok(())
    }

    /// Whether an emailed link is still good, without using it (to show the right page).
    pub async fn email_link_is_live(
        &self,
        token: &str,
        purpose: TokenPurpose,
    ) -> Result<bool, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(false);
        };
        Ok(self
            .store
            .email_token_account(&token.hash(), purpose, self.clock.now())
            .await?
            .is_some())
    }

    /// Follows the sign-up link: the email is proven. The account becomes usable once its
    /// phone is verified too; until then the browser gets a token to ask for the call.
    pub async fn verify_email(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<EmailVerified, ServiceError> {
        let now = self.clock.now();
        let token = SecretToken::from_presented(token);
        let account = match &token {
            Some(token) => {
                self.store
                    .email_token_account(&token.hash(), TokenPurpose::VerifyEmail, now)
                    .await?
            }
            None => None,
        };
        let (Some(token), Some(account)) = (token, account) else {
            return Err(self.refuse_link(ctx, AuditEvent::EmailVerified).await);
        };
        let audit = self.audit(
            ctx,
            Some(&account),
            AuditEvent::EmailVerified,
            AuditOutcome::Success,
            "",
        );
        let phone_verified = self
            .store
            .account_by_id(&account)
            .await?
            .is_some_and(|a| a.phone_verified_at.is_some());
        let next = (!phone_verified).then(|| self.continue_sign_up_token(&account, now));
        let stored = next.as_ref().map(|(_, stored)| stored);
        if self
            .store
            .verify_email(&token.hash(), &account, now, stored, &audit)
            .await?
        {
            Ok(EmailVerified {
                account_id: account,
                continue_token: next.map(|(token, _)| token),
            })
        } else {
            // Used by a concurrent request between the look-up and the consume.
            self.record(
                ctx,
                Some(&account),
                AuditEvent::EmailVerified,
                AuditOutcome::Failure,
                "link_already_used",
            )
            .await?;
            Err(ServiceError::LinkInvalid)
        }
    }

    pub(crate) fn continue_sign_up_token(
        &self,
        account: &AccountId,
        now: latchkey_domain::Timestamp,
    ) -> (SecretToken, NewEmailToken) {
        let token = SecretToken::generate();
        let stored = NewEmailToken {
            token_hash: token.hash(),
            account_id: account.clone(),
            purpose: TokenPurpose::ContinueSignUp,
            created_at: now,
            expires_at: now + TokenPurpose::ContinueSignUp.lifetime(),
        };
        (token, stored)
    }

    /// `latchkey account create`: an operator vouches for both contacts, so the account is
    /// active at once. The password policy still applies.
    pub async fn create_account_by_operator(
        &self,
        request: &SignUpRequest,
    ) -> Result<AccountId, ServiceError> {
        let details = validate(request, &self.config.calls)?;
        let now = self.clock.now();
        let password_hash = self.hasher.hash(&request.password).await?;
        let ctx = RequestContext::operator();
        for _ in 0..3 {
            let account = NewAccount {
                id: new_account_id(),
                email: details.email.clone(),
                name: details.name.as_str().to_owned(),
                phone: details.phone.clone(),
                phone_verified_at: Some(now),
                email_verified_at: Some(now),
                status: AccountStatus::Active,
                password_hash: password_hash.clone(),
                created_at: now,
            };
            let audit = self.audit(
                &ctx,
                Some(&account.id),
                AuditEvent::AccountCreatedByOperator,
                AuditOutcome::Success,
                "",
            );
            match self.store.insert_account(&account, None, &[], &audit).await {
                Ok(()) => return Ok(account.id),
                Err(StoreError::Conflict("account id")) => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(ServiceError::field("email", Problem::EmailTaken));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::AccountIdUnavailable)
    }

    /// The account behind a session, for Security credentials and "who am I".
    pub async fn account(&self, id: &AccountId) -> Result<Option<AccountRecord>, ServiceError> {
        Ok(self.store.account_by_id(id).await?)
    }
}

/// The audit detail of a duplicate sign-up whose owner was emailed about it.
const DUPLICATE_NOTIFIED: &str = "duplicate_email_owner_notified";
