//! The store contract: every behaviour the use cases rely on, checked against SQLite and
//! against PostgreSQL with the same assertions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "a test crate: a panic is a failed test, and its helpers are shared between its modules"
)]

mod account_admin;
mod accounts;
mod audit;
mod break_glass;
mod calls;
mod change_feed;
mod contact_changes;
mod dev;
mod devices;
mod durability;
mod hardware;
mod identity;
mod oidc;
mod outbox;
mod races;
mod recovery;
mod sealed;
mod sessions;
mod sign_in_attempts;
mod throttles;
mod webauthn;

use latchkey_domain::session::SessionKind;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};
use latchkey_service::store::*;
use latchkey_service::{SecretToken, TokenHash};
use latchkey_test_support::{Backend, backends};
use std::sync::Arc;

/// The stored session whose token hashes to `hash`, whatever its state, as every check of a
/// session reads it (with its account's identity).
async fn stored_session(store: &Arc<dyn Store>, hash: &TokenHash) -> Option<SessionRecord> {
    store
        .session_identity(hash)
        .await
        .unwrap()
        .map(|found| found.session)
}

/// The account's password generation now, as a sign-in reads it before its hash.
async fn generation(store: &Arc<dyn Store>, id: &AccountId) -> i64 {
    store
        .account_by_id(id)
        .await
        .unwrap()
        .expect("account")
        .password_generation
}

use latchkey_test_support::fixtures::T0;

fn account(id: u64, email: &str) -> NewAccount {
    latchkey_test_support::fixtures::new_account(id, email)
}

fn audit(account: Option<&AccountId>, event: &str) -> AuditRecord {
    latchkey_test_support::fixtures::audit_record(account, event)
}

fn token(
    account: &AccountId,
    purpose: TokenPurpose,
    created: Timestamp,
) -> (SecretToken, NewEmailToken) {
    let secret = SecretToken::generate();
    let stored = NewEmailToken {
        token_hash: secret.hash(),
        account_id: account.clone(),
        purpose,
        created_at: created,
        expires_at: created + purpose.lifetime(),
    };
    (secret, stored)
}

fn outbox(recipient: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        kind: "email",
        recipient: recipient.to_owned(),
        payload: vec![1, 2, 3],
        created_at: T0,
    }
}

fn session(account: &AccountId) -> (SecretToken, NewSession) {
    let secret = SecretToken::generate();
    let new = NewSession {
        token_hash: secret.hash(),
        public_id: latchkey_service::secrets::new_id("ses"),
        account_id: account.clone(),
        kind: SessionKind::Full,
        mfa_device_id: None,
        created_at: T0,
        expires_at: T0 + latchkey_domain::Duration::hours(12),
        client_addr: "127.0.0.1".to_owned(),
        user_agent: "contract-test".to_owned(),
        replaces: None,
    };
    (secret, new)
}

/// A live session of `account` (the "who asked" of changes that need one).
async fn live_session(store: &Arc<dyn Store>, account: &AccountId) -> TokenHash {
    let (secret, new) = session(account);
    assert_eq!(
        store
            .start_session(
                &new,
                generation(store, &new.account_id).await,
                "*",
                &audit(Some(account), "sign_in")
            )
            .await
            .unwrap(),
        SessionStart::Started
    );
    secret.hash()
}

async fn active_account(store: &Arc<dyn Store>, id: u64, email: &str) -> AccountId {
    let mut new = account(id, email);
    new.status = AccountStatus::Active;
    store
        .insert_account(&new, None, &[], &audit(Some(&new.id), "sign_up"))
        .await
        .unwrap();
    new.id
}

fn reservation(key: &ThrottleKey) -> AttemptReservation<'_> {
    AttemptReservation {
        key,
        judged: 0,
        device: None,
        device_limit: latchkey_domain::mfa::DEVICE_FAILURE_LIMIT,
    }
}

async fn failures_of(store: &Arc<dyn Store>, id: &AccountId, source: &str) -> u32 {
    store
        .failure_counts(id.as_str())
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| s == source)
        .map_or(0, |(_, n)| n)
}
