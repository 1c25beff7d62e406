//! The built-in mailbox and phone. Not part of [`Store`](super::Store): production code paths cannot reach it; only the development providers and their pages are handed it.

use super::StoreResult;
use super::calls::CallRecord;
use async_trait::async_trait;
use latchkey_domain::Timestamp;

#[derive(Debug, Clone)]
pub struct NewDevMail {
    pub outbox_id: i64,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct DevMail {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait DevStore: Send + Sync {
    /// Recent calls placed through the built-in phone, newest first.
    async fn dev_calls(&self, limit: i64) -> StoreResult<Vec<CallRecord>>;

    /// Files a mail in the built-in mailbox. Keyed by the outbox id, so a redelivery after a
    /// crash does not file it twice.
    async fn insert_dev_mail(&self, mail: &NewDevMail) -> StoreResult<()>;

    async fn dev_mails(&self, limit: i64) -> StoreResult<Vec<DevMail>>;

    async fn dev_mail(&self, id: i64) -> StoreResult<Option<DevMail>>;
}
