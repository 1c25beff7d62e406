//! The built-in mailbox: the embedded default when no SMTP server is configured. Mail is
//! filed in the database and read at `/dev/mailbox`, so the whole journey works on a fresh
//! machine with nothing else installed.

use std::sync::Arc;

use async_trait::async_trait;
use latchkey_service::store::{DevStore, NewDevMail};
use latchkey_service::{Clock, EmailSender, OutgoingEmail, SendError};

pub struct DevMailbox {
    store: Arc<dyn DevStore>,
    clock: Arc<dyn Clock>,
}

impl DevMailbox {
    pub fn new(store: Arc<dyn DevStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl EmailSender for DevMailbox {
    async fn send(&self, email: &OutgoingEmail, delivery_id: i64) -> Result<(), SendError> {
        let mail = NewDevMail {
            outbox_id: delivery_id,
            recipient: email.to.clone(),
            subject: email.subject.clone(),
            text_body: email.text.clone(),
            html_body: email.html.clone(),
            created_at: self.clock.now(),
        };
        self.store
            .insert_dev_mail(&mail)
            .await
            .map_err(|e| SendError::Temporary(e.to_string()))
    }

    fn describe(&self) -> String {
        "built-in mailbox (read it at /dev/mailbox)".to_owned()
    }
}
