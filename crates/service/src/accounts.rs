//! Creating accounts: sign-up with email verification, and operator bootstrap.

use latchkey_domain::account::AccountName;
use latchkey_domain::password::check_new_password;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{
    AccountId, AccountStatus, AuditEvent, AuditOutcome, EmailAddress, PhoneNumber,
};

use crate::error::{FieldError, ServiceError};
use crate::secrets::{SecretToken, random_below};
use crate::store::{AccountRecord, NewAccount, NewEmailToken, StoreError};
use crate::{RequestContext, Service, email};

/// What a person types on `Create a new account`, as typed.
#[derive(Debug, Clone, Default)]
pub struct SignUpRequest {
    pub email: String,
    pub account_name: String,
    pub password: String,
    pub phone: String,
}

/// A sign-up that was accepted: the account waits for its email link.
#[derive(Debug, Clone)]
pub struct SignUpReceipt {
    pub account_id: AccountId,
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

fn validate(request: &SignUpRequest) -> Result<AccountDetails, ServiceError> {
    let mut problems = Vec::new();
    let email = EmailAddress::parse(&request.email)
        .map_err(|e| problems.push(FieldError::new("email", e)))
        .ok();
    let name = AccountName::parse(&request.account_name)
        .map_err(|e| problems.push(FieldError::new("account_name", e)))
        .ok();
    let phone = PhoneNumber::parse(&request.phone)
        .map_err(|e| problems.push(FieldError::new("phone", e)))
        .ok();
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
    /// link. The phone number is kept unverified until voice verification exists.
    pub async fn sign_up(
        &self,
        request: &SignUpRequest,
        ctx: &RequestContext,
    ) -> Result<SignUpReceipt, ServiceError> {
        self.admit(ctx)?;
        let details = validate(request)?;
        let now = self.clock.now();
        let lifetime = TokenPurpose::VerifyEmail.lifetime();
        if let Some(existing) = self.store.account_by_email(&details.email).await? {
            // An abandoned sign-up must not hold the address forever: once its link has
            // expired, a new sign-up replaces it.
            let replaced = existing.status == AccountStatus::PendingVerification
                && self
                    .store
                    .delete_unverified_account(&details.email, now - lifetime)
                    .await?;
            if !replaced {
                let audit = self.audit(
                    ctx,
                    Some(&existing.id),
                    AuditEvent::SignUp,
                    AuditOutcome::Failure,
                    "duplicate_email",
                );
                self.store.append_audit(&audit).await?;
                return Err(ServiceError::Conflict(duplicate_message(&existing)));
            }
        }
        let password_hash = self.hasher.hash(&request.password).await?;
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
            let link = self.link(&format!("/signup/verify?token={}", token.expose()));
            let mail = email::verify_email(details.email.as_str(), details.name.as_str(), &link);
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
                    return Ok(SignUpReceipt {
                        account_id: account.id,
                        email: details.email,
                    });
                }
                // A random id collided with an existing one: draw again.
                Err(StoreError::Conflict("account id")) => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(ServiceError::Conflict(
                        "An account with this email address already exists.".to_owned(),
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Conflict(
            "Could not allocate an account id; try again.".to_owned(),
        ))
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
            let audit = self.audit(
                ctx,
                None,
                AuditEvent::EmailVerified,
                AuditOutcome::Failure,
                "invalid_link",
            );
            self.store.append_audit(&audit).await?;
            return Err(ServiceError::LinkInvalid);
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
            let audit = self.audit(
                ctx,
                Some(&account),
                AuditEvent::EmailVerified,
                AuditOutcome::Failure,
                "link_already_used",
            );
            self.store.append_audit(&audit).await?;
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
        let details = validate(request)?;
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
                    return Err(ServiceError::field(
                        "email",
                        "An account with this email address already exists.",
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::Conflict(
            "Could not allocate an account id; try again.".to_owned(),
        ))
    }

    /// The account behind a session, for Security credentials and "who am I".
    pub async fn account(&self, id: &AccountId) -> Result<Option<AccountRecord>, ServiceError> {
        Ok(self.store.account_by_id(id).await?)
    }
}

fn duplicate_message(existing: &AccountRecord) -> String {
    match existing.status {
        AccountStatus::Active => {
            "An account with this email address already exists. Sign in, or use Forgot password? if you cannot.".to_owned()
        }
        AccountStatus::PendingVerification if existing.email_verified_at.is_some() => {
            "A sign-up with this email address is waiting for its phone verification. Sign in with its password to finish it.".to_owned()
        }
        AccountStatus::PendingVerification => {
            "A sign-up with this email address is waiting for its verification link. Follow the link in that email; if it expires, you can sign up again.".to_owned()
        }
    }
}
