//! What the HTTP, store and delivery suites each built for themselves before: the instant
//! tests start at, a clock standing there, an account and an audit line to seed, and the
//! delivery worker that files mail in the built-in mailbox.

use std::sync::Arc;

use latchkey_delivery::{DevMailbox, OutboxWorker};
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};
use latchkey_service::outbox::OutboxReader;
use latchkey_service::store::{DevStore, NewAccount};
use latchkey_service::{AuditRecord, FixedClock, ServerKey, Store, VoiceCaller};

/// The instant every suite starts at (2027-01-15): far from the epoch, so subtracting a
/// window never goes below it.
pub const T0: Timestamp = Timestamp(1_800_000_000);

/// A clock standing at [`T0`] until the test moves it.
pub fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(T0))
}

/// The server key of every test database and the services on it: the stores chain the
/// audit log with its subkey, so a service built with it can verify the chain. (Tests that
/// need a key of their own for something else generate one.)
pub fn server_key() -> ServerKey {
    ServerKey::from_bytes([0x5a; 32])
}

/// An account waiting for its email verification, created at [`T0`].
pub fn new_account(n: u64, email: &str) -> NewAccount {
    NewAccount {
        id: AccountId::from_random(n),
        email: EmailAddress::parse(email).expect("a valid test address"),
        name: "Acme".to_owned(),
        phone: PhoneNumber::parse("+442079460958").expect("a valid test number"),
        phone_verified_at: None,
        email_verified_at: None,
        status: AccountStatus::PendingVerification,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
        created_at: T0,
    }
}

/// A successful audit line at [`T0`].
pub fn audit_record(account: Option<&AccountId>, event: &str) -> AuditRecord {
    AuditRecord {
        at: T0,
        account_id: account.cloned(),
        client_addr: "127.0.0.1".to_owned(),
        user_agent: "test".to_owned(),
        event: event.to_owned(),
        outcome: "success".to_owned(),
        detail: String::new(),
    }
}

/// The delivery worker as `serve` runs it with the built-in providers: mail filed in the
/// built-in mailbox of `dev`, calls placed through `voice`.
pub fn built_in_worker(
    store: Arc<dyn Store>,
    dev: Arc<dyn DevStore>,
    clock: Arc<FixedClock>,
    reader: OutboxReader,
    voice: Arc<dyn VoiceCaller>,
    signal: Arc<tokio::sync::Notify>,
) -> OutboxWorker {
    let mailbox = Arc::new(DevMailbox::new(dev, clock.clone()));
    OutboxWorker::new(store, clock, reader, mailbox, voice, signal)
}
