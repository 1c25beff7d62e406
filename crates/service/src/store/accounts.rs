//! Accounts and their emailed links: sign-up, verification, password set and reset.

use super::StoreResult;
use super::audit::AuditRecord;
use super::outbox::NewOutboxMessage;
use crate::secrets::TokenHash;
use async_trait::async_trait;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    pub email: EmailAddress,
    pub name: String,
    pub phone: PhoneNumber,
    pub phone_verified_at: Option<Timestamp>,
    pub email_verified_at: Option<Timestamp>,
    pub status: AccountStatus,
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: AccountId,
    pub email: EmailAddress,
    pub name: String,
    pub phone: PhoneNumber,
    pub phone_verified_at: Option<Timestamp>,
    pub email_verified_at: Option<Timestamp>,
    pub status: AccountStatus,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    /// How many times the password was set after the first: known-device tokens are bound to
    /// it (see `known_devices`).
    pub password_generation: i64,
    /// When a contact change last replaced the email address or the phone number: until the
    /// cooling-off period has passed, alternative factors do not use them.
    pub email_changed_at: Option<Timestamp>,
    pub phone_changed_at: Option<Timestamp>,
    /// When an operator disabled the account (`latchkey account disable`); `None` while it
    /// may sign in.
    pub disabled_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub token_hash: TokenHash,
    pub account_id: AccountId,
    pub purpose: TokenPurpose,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Answers when the database can be reached (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts an account with, optionally, its first email token, plus queued messages and
    /// the audit record. `Conflict` when the email or id is taken.
    async fn insert_account(
        &self,
        account: &NewAccount,
        token: Option<&NewEmailToken>,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Removes a sign-up that was never verified and was created before `created_before`, so
    /// that an abandoned sign-up cannot hold an email address hostage.
    async fn delete_unverified_account(
        &self,
        email: &EmailAddress,
        created_before: Timestamp,
    ) -> StoreResult<bool>;

    async fn account_by_email(&self, email: &EmailAddress) -> StoreResult<Option<AccountRecord>>;

    async fn account_by_id(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>>;

    /// Stores a new emailed token within a budget: at most `budget.0` tokens of the same
    /// account and purpose created since `budget.1`, counted with the account row locked.
    /// Earlier links stay valid until used or expired. `false` (and nothing stored or
    /// queued) when the budget is spent.
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
        budget: (u32, Timestamp),
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// The account a live (unused, unexpired) token belongs to, without consuming it.
    async fn email_token_account(
        &self,
        token_hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>>;

    /// Consumes a verify-email token of `account`, records the email as verified, activates
    /// the account if its phone is verified too, and stores `next` (the token that lets this
    /// browser go on to the phone call). `false` if the token was not live.
    async fn verify_email(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        now: Timestamp,
        next: Option<&NewEmailToken>,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Stores a token without invalidating others (sign-up continuation after a sign-in).
    async fn insert_token(&self, token: &NewEmailToken) -> StoreResult<()>;

    /// Consumes a reset-password token of `account`, sets the new hash, clears every failure
    /// counter of the account (control of the email is proven) and revokes every session. `false` if the token was not live.
    async fn reset_password(
        &self,
        token_hash: &TokenHash,
        account: &AccountId,
        password_hash: &str,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;

    /// Sets a new password from a signed-in session, only while that session is live
    /// (checked with the account row locked): every other session of the account is revoked
    /// (the one that asked stays), and pending reset links, sign-in attempts and recovery
    /// flows begun with the old password stop working. `false` when the session was revoked.
    async fn change_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep_session: &TokenHash,
        now: Timestamp,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
}
