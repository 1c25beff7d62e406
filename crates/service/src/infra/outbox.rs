//! Queuing messages: sealing them for the outbox table and opening them for delivery.
//!
//! Payloads are encrypted with a key derived from the server key, because a queued email
//! carries a live link: a copy of the database must not be a copy of everyone's links. The
//! recipient and kind are bound in as associated data, so a payload moved to another row no
//! longer opens.

use std::sync::Arc;

use latchkey_domain::Timestamp;
use tokio::sync::Notify;

use crate::email::OutgoingEmail;
use crate::server_key::{OpenError, Sealer, ServerKey};
use crate::store::NewOutboxMessage;

pub const KIND_EMAIL: &str = "email";
pub const KIND_CALL: &str = "call";

/// What a queued message's seal is bound to: its kind and recipient.
pub(crate) fn context(kind: &str, recipient: &str) -> Vec<u8> {
    format!("latchkey outbox\0{kind}\0{recipient}").into_bytes()
}

#[derive(Clone)]
pub struct OutboxWriter {
    sealer: Sealer,
    signal: Arc<Notify>,
}

impl OutboxWriter {
    pub fn new(key: &ServerKey) -> Self {
        Self {
            sealer: key.sealer("outbox"),
            signal: Arc::new(Notify::new()),
        }
    }

    /// The sealer of queued messages, for re-sealing them under a rotated key.
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    #[expect(clippy::expect_used, reason = "an email serialises")]
    pub fn email(&self, email: &OutgoingEmail, now: Timestamp) -> NewOutboxMessage {
        let plaintext = serde_json::to_vec(email).expect("an email serialises");
        NewOutboxMessage {
            kind: KIND_EMAIL,
            recipient: email.to.clone(),
            payload: self
                .sealer
                .seal(&plaintext, &context(KIND_EMAIL, &email.to)),
            created_at: now,
        }
    }

    #[expect(clippy::expect_used, reason = "a call serialises")]
    pub fn call(&self, call: &crate::voice::OutgoingCall, now: Timestamp) -> NewOutboxMessage {
        let plaintext = serde_json::to_vec(call).expect("a call serialises");
        NewOutboxMessage {
            kind: KIND_CALL,
            recipient: call.to.clone(),
            payload: self.sealer.seal(&plaintext, &context(KIND_CALL, &call.to)),
            created_at: now,
        }
    }

    /// Called after a commit that queued messages, so delivery starts without waiting for
    /// the worker's next poll.
    pub fn wake(&self) {
        self.signal.notify_one();
    }

    pub fn signal(&self) -> Arc<Notify> {
        Arc::clone(&self.signal)
    }

    pub fn reader(&self) -> OutboxReader {
        OutboxReader {
            sealer: self.sealer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct OutboxReader {
    sealer: Sealer,
}

impl std::fmt::Debug for OutboxReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxReader")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("queued payload is not a valid message: {0}")]
    Decode(String),
    /// Sealed under a server key this instance does not hold (yet): an instance with the
    /// current key file can open it.
    #[error("queued payload is sealed under a server key this instance does not hold")]
    UnknownKey,
}

impl OutboxReader {
    pub fn call(
        &self,
        recipient: &str,
        payload: &[u8],
    ) -> Result<crate::voice::OutgoingCall, ReadError> {
        let plaintext = self.open(payload, &context(KIND_CALL, recipient))?;
        serde_json::from_slice(&plaintext).map_err(|e| ReadError::Decode(e.to_string()))
    }

    fn open(&self, payload: &[u8], context: &[u8]) -> Result<Vec<u8>, ReadError> {
        self.sealer.open(payload, context).map_err(|e| {
            if self.sealer.names_unknown_key(payload) {
                ReadError::UnknownKey
            } else {
                ReadError::Open(e)
            }
        })
    }

    pub fn email(&self, recipient: &str, payload: &[u8]) -> Result<OutgoingEmail, ReadError> {
        let plaintext = self.open(payload, &context(KIND_EMAIL, recipient))?;
        serde_json::from_slice(&plaintext).map_err(|e| ReadError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_email_opens_only_for_its_recipient() {
        let key = ServerKey::generate();
        let writer = OutboxWriter::new(&key);
        let email = crate::email::Email::VerifyEmail {
            phone: "+****58".to_owned(),
            link: "https://x/?token=t".to_owned(),
        }
        .render("a@example.com", "Acme");
        let queued = writer.email(&email, Timestamp(1));
        assert!(!String::from_utf8_lossy(&queued.payload).contains("token=t"));
        let reader = writer.reader();
        assert_eq!(
            reader.email("a@example.com", &queued.payload).unwrap(),
            email
        );
        assert!(reader.email("b@example.com", &queued.payload).is_err());
    }
}
