//! Emails latchkey sends, and the port that delivers them.
//!
//! Use cases never send: they render an [`OutgoingEmail`] and queue it, sealed, in the same
//! transaction as the change it reports (see `outbox`). A worker hands it to an
//! [`EmailSender`] later, and retries when delivery fails.
//!
//! What an email says is a typed [`Email`] (a [`Notice`] for security notices): the variant
//! carries the facts, and the words are in `templates/email/`, as text and as HTML.

mod messages;

pub use messages::{AddedDevice, Email, Notice, ResetDevice};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A rendered email: a plain-text part and an HTML part with the same content.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // Bodies carry live links; they never go to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server was unreachable or answered with a transient error.
    #[error("temporary delivery failure: {0}")]
    Temporary(String),
    /// Will never succeed as it is (the address was refused, the message is malformed).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// Delivers an email. `delivery_id` is stable across retries of one message, so a sender
/// that can deduplicate (the built-in mailbox) files it once.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, email: &OutgoingEmail, delivery_id: i64) -> Result<(), SendError>;
    /// A short name for start-up logs: "smtp://mail.example.com:587", "built-in mailbox".
    fn describe(&self) -> String;
}
