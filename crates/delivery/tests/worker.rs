//! The outbox worker against real stores: delivery into the built-in mailbox, retries,
//! permanent failures and payloads that do not open.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "a test crate: a panic is a failed test, and its helpers are shared between its modules"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use latchkey_delivery::OutboxWorker;
use latchkey_domain::Duration;
use latchkey_service::email::Email;
use latchkey_service::outbox::OutboxWriter;
use latchkey_service::store::{AuditRecord, NewAccount};
use latchkey_service::{EmailSender, OutgoingEmail, SendError, ServerKey};

use latchkey_test_support::backends;
use latchkey_test_support::fixtures::{T0, built_in_worker, fixed_clock};

/// A sign-up's verification email to `to`.
fn verify_email(to: &str, link: &str) -> OutgoingEmail {
    Email::VerifyEmail {
        phone: "+**********58".to_owned(),
        link: link.to_owned(),
    }
    .render(to, "Acme")
}

fn audit() -> AuditRecord {
    latchkey_test_support::fixtures::audit_record(None, "sign_up")
}

fn account(n: u64) -> NewAccount {
    latchkey_test_support::fixtures::new_account(n, &format!("user{n}@example.com"))
}

/// Fails the first `failures` sends with the given error kind, then accepts.
struct Flaky {
    failures: usize,
    permanent: bool,
    calls: AtomicUsize,
}

#[async_trait]
impl EmailSender for Flaky {
    async fn send(&self, _: &OutgoingEmail, _: i64) -> Result<(), SendError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return Err(if self.permanent {
                SendError::Permanent("550 mailbox unavailable".into())
            } else {
                SendError::Temporary("421 try again later".into())
            });
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

#[tokio::test]
async fn queued_mail_lands_in_the_built_in_mailbox_once() {
    for backend in backends().await {
        let (store, dev) = (backend.store, backend.dev);
        let clock = fixed_clock();
        let writer = OutboxWriter::new(&ServerKey::generate());
        let mail = verify_email("user1@example.com", "https://x/signup/verify?token=abc");
        store
            .insert_account(&account(1), None, &[writer.email(&mail, T0)], &audit())
            .await
            .unwrap();

        let worker = built_in_worker(
            store.clone(),
            dev.clone(),
            clock.clone(),
            writer.reader(),
            Arc::new(latchkey_delivery::DevPhone),
            writer.signal(),
        );
        assert_eq!(worker.deliver_due().await.unwrap(), 1, "{}", backend.name);
        assert_eq!(worker.deliver_due().await.unwrap(), 0, "{}", backend.name);
        let mails = dev.dev_mails(10).await.unwrap();
        assert_eq!(mails.len(), 1, "{}", backend.name);
        assert_eq!(mails[0].recipient, "user1@example.com");
        assert!(
            mails[0]
                .text_body
                .contains("https://x/signup/verify?token=abc")
        );
        let status = store.outbox_status(10).await.unwrap();
        assert_eq!(status[0].delivered_at, Some(T0), "{}", backend.name);
    }
}

#[tokio::test]
async fn temporary_failures_are_retried_after_a_back_off() {
    for backend in backends().await {
        let store = backend.store;
        let clock = fixed_clock();
        let writer = OutboxWriter::new(&ServerKey::generate());
        let mail = verify_email("user2@example.com", "https://x/");
        store
            .insert_account(&account(2), None, &[writer.email(&mail, T0)], &audit())
            .await
            .unwrap();
        let sender = Arc::new(Flaky {
            failures: 2,
            permanent: false,
            calls: AtomicUsize::new(0),
        });
        let worker = OutboxWorker::new(
            store.clone(),
            clock.clone(),
            writer.reader(),
            sender.clone(),
            Arc::new(latchkey_delivery::DevPhone),
            writer.signal(),
        );

        assert_eq!(worker.deliver_due().await.unwrap(), 1);
        assert_eq!(
            worker.deliver_due().await.unwrap(),
            0,
            "{}: waits for the back-off",
            backend.name
        );
        clock.advance(Duration::seconds(15));
        assert_eq!(worker.deliver_due().await.unwrap(), 1);
        clock.advance(Duration::seconds(29));
        assert_eq!(
            worker.deliver_due().await.unwrap(),
            0,
            "{}: second back-off is longer",
            backend.name
        );
        clock.advance(Duration::seconds(1));
        assert_eq!(worker.deliver_due().await.unwrap(), 1);
        assert_eq!(sender.calls.load(Ordering::SeqCst), 3);
        let status = store.outbox_status(10).await.unwrap();
        assert!(status[0].delivered_at.is_some(), "{}", backend.name);
        assert_eq!(status[0].attempts, 3);
        assert_eq!(status[0].last_error.as_deref(), Some("421 try again later"));
    }
}

#[tokio::test]
async fn permanent_failures_and_unreadable_payloads_are_given_up() {
    for backend in backends().await {
        let store = backend.store;
        let clock = fixed_clock();
        let writer = OutboxWriter::new(&ServerKey::generate());
        let other_key = OutboxWriter::new(&ServerKey::generate());
        let mail = verify_email("user3@example.com", "https://x/");
        store
            .insert_account(
                &account(3),
                None,
                &[writer.email(&mail, T0), other_key.email(&mail, T0)],
                &audit(),
            )
            .await
            .unwrap();
        let sender = Arc::new(Flaky {
            failures: 1,
            permanent: true,
            calls: AtomicUsize::new(0),
        });
        let worker = OutboxWorker::new(
            store.clone(),
            clock.clone(),
            writer.reader(),
            sender.clone(),
            Arc::new(latchkey_delivery::DevPhone),
            writer.signal(),
        );
        assert_eq!(worker.deliver_due().await.unwrap(), 2);
        // The message sealed under another key never reached the sender.
        assert_eq!(sender.calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::hours(48));
        assert_eq!(
            worker.deliver_due().await.unwrap(),
            0,
            "{}: given up for good",
            backend.name
        );
        let status = store.outbox_status(10).await.unwrap();
        assert!(
            status
                .iter()
                .all(|s| s.failed_at.is_some() && s.delivered_at.is_none()),
            "{}: {status:?}",
            backend.name
        );
    }
}

/// A message sealed under a key this instance does not hold yet (another instance made the
/// rotated key current first) is retried, not given up: it opens once this instance runs with
/// the rotated key file.
#[tokio::test]
async fn a_message_sealed_under_a_newer_key_waits_for_an_instance_that_holds_it() {
    for backend in backends().await {
        let store = backend.store;
        let clock = fixed_clock();
        let old = ServerKey::generate();
        let rotated = old.staged().unwrap().promoted().unwrap();
        let newer = OutboxWriter::new(&rotated);
        let mail = verify_email("user4@example.com", "https://x/");
        store
            .insert_account(&account(4), None, &[newer.email(&mail, T0)], &audit())
            .await
            .unwrap();
        let sender = Arc::new(Flaky {
            failures: 0,
            permanent: false,
            calls: AtomicUsize::new(0),
        });
        let behind = OutboxWorker::new(
            store.clone(),
            clock.clone(),
            OutboxWriter::new(&old).reader(),
            sender.clone(),
            Arc::new(latchkey_delivery::DevPhone),
            newer.signal(),
        );
        assert_eq!(behind.deliver_due().await.unwrap(), 1);
        assert_eq!(sender.calls.load(Ordering::SeqCst), 0, "{}", backend.name);
        let status = store.outbox_status(10).await.unwrap();
        assert!(
            status[0].failed_at.is_none() && status[0].delivered_at.is_none(),
            "{}: kept for a retry, not given up: {status:?}",
            backend.name
        );
        // An instance with the rotated key file delivers it.
        clock.advance(Duration::hours(1));
        let current = OutboxWorker::new(
            store.clone(),
            clock.clone(),
            newer.reader(),
            sender.clone(),
            Arc::new(latchkey_delivery::DevPhone),
            newer.signal(),
        );
        assert_eq!(current.deliver_due().await.unwrap(), 1);
        assert_eq!(sender.calls.load(Ordering::SeqCst), 1, "{}", backend.name);
    }
}
