//! The built-in mailbox and phone.

use async_trait::async_trait;
use latchkey_domain::Timestamp;
use latchkey_service::store::*;
use sqlx::Row;

use super::calls::call_from_row;
use super::{Backend, DbRow};
use crate::db_error;

pub(super) fn dev_mail_from_row(row: &DbRow) -> StoreResult<DevMail> {
    Ok(DevMail {
        id: row.try_get("id").map_err(db_error)?,
        recipient: row.try_get("recipient").map_err(db_error)?,
        subject: row.try_get("subject").map_err(db_error)?,
        text_body: row.try_get("text_body").map_err(db_error)?,
        html_body: row.try_get("html_body").map_err(db_error)?,
        created_at: Timestamp(row.try_get("created_at").map_err(db_error)?),
    })
}

#[async_trait]
impl DevStore for Backend {
    async fn dev_calls(&self, limit: i64) -> StoreResult<Vec<CallRecord>> {
        let rows = sqlx::query(concat!(
            crate::columns::select_calls!(),
            " \
             WHERE provider_call_id LIKE 'dev-%' ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(call_from_row).collect()
    }

    async fn insert_dev_mail(&self, mail: &NewDevMail) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dev_mailbox (outbox_id, recipient, subject, text_body, \
             html_body, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (outbox_id) DO NOTHING",
        )
        .bind(mail.outbox_id)
        .bind(&mail.recipient)
        .bind(&mail.subject)
        .bind(&mail.text_body)
        .bind(&mail.html_body)
        .bind(mail.created_at.0)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn dev_mails(&self, limit: i64) -> StoreResult<Vec<DevMail>> {
        let rows = sqlx::query(
            "SELECT id, recipient, subject, text_body, html_body, created_at \
             FROM dev_mailbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(dev_mail_from_row).collect()
    }

    async fn dev_mail(&self, id: i64) -> StoreResult<Option<DevMail>> {
        sqlx::query(
            "SELECT id, recipient, subject, text_body, html_body, created_at \
             FROM dev_mailbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(dev_mail_from_row)
        .transpose()
    }
}
