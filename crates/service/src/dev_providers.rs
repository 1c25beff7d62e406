//! What the built-in mailbox and phone have received, for `/dev/mailbox` and `/dev/phone`.
//!
//! These read the development port ([`DevStore`]), which the service holds only when the
//! wiring hands it one ([`Service::with_dev_store`]): a deployment with real SMTP and Twilio
//! has no built-in provider, and then these answer with nothing.

use std::sync::Arc;

use crate::store::{CallRecord, DevMail, DevStore};
use crate::{Service, ServiceError};

/// How many mails `/dev/mailbox` lists.
const MAILS_LISTED: i64 = 200;
/// How many calls `/dev/phone` lists.
const CALLS_LISTED: i64 = 50;

impl Service {
    /// Lets the development pages read what the built-in providers filed.
    pub fn with_dev_store(mut self, dev: Arc<dyn DevStore>) -> Self {
        self.dev = Some(dev);
        self
    }

    /// Mails in the built-in mailbox, newest first.
    pub async fn dev_mails(&self) -> Result<Vec<DevMail>, ServiceError> {
        match &self.dev {
            Some(dev) => Ok(dev.dev_mails(MAILS_LISTED).await?),
            None => Ok(Vec::new()),
        }
    }

    /// One mail of the built-in mailbox.
    pub async fn dev_mail(&self, id: i64) -> Result<Option<DevMail>, ServiceError> {
        match &self.dev {
            Some(dev) => Ok(dev.dev_mail(id).await?),
            None => Ok(None),
        }
    }

    /// Calls of the built-in phone, newest first.
    pub async fn dev_calls(&self) -> Result<Vec<CallRecord>, ServiceError> {
        match &self.dev {
            Some(dev) => Ok(dev.dev_calls(CALLS_LISTED).await?),
            None => Ok(Vec::new()),
        }
    }
}
