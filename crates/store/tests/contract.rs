//! The store contract: every behaviour the use cases rely on, checked against SQLite and
//! against PostgreSQL with the same assertions.

use std::sync::Arc;

use latchkey_domain::session::SessionKind;
use latchkey_domain::token::TokenPurpose;
use latchkey_domain::{AccountId, AccountStatus, EmailAddress, PhoneNumber, Timestamp};
use latchkey_service::store::*;

use latchkey_service::{SecretToken, TokenHash};
use latchkey_test_support::{Backend, backends};

/// The account's password generation now, as a sign-in reads it before its hash.
async fn generation(store: &Arc<dyn Store>, id: &AccountId) -> i64 {
    store
        .account_by_id(id)
        .await
        .unwrap()
        .expect("account")
        .password_generation
}

const T0: Timestamp = Timestamp(1_800_000_000);

fn account(id: u64, email: &str) -> NewAccount {
    NewAccount {
        id: AccountId::from_random(id),
        email: EmailAddress::parse(email).unwrap(),
        name: "Acme".to_owned(),
        phone: PhoneNumber::parse("+442079460958").unwrap(),
        phone_verified_at: None,
        email_verified_at: None,
        status: AccountStatus::PendingVerification,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
        created_at: T0,
    }
}

fn audit(account: Option<&AccountId>, event: &str) -> AuditRecord {
    AuditRecord {
        at: T0,
        account_id: account.cloned(),
        client_addr: "127.0.0.1".to_owned(),
        user_agent: "contract-test".to_owned(),
        event: event.to_owned(),
        outcome: "success".to_owned(),
        detail: String::new(),
    }
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

/// A sign-in checks the password, then (a slow hash later) writes its session or its
/// attempt. A password change committed in between must win: the write refuses a password
/// generation that is no longer the account's, so nothing the old password began survives.
#[tokio::test]
async fn a_sign_in_checked_against_a_password_since_changed_issues_nothing() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 90, "race@example.com").await;
        let checked = generation(&store, &id).await;
        let keep = live_session(&store, &id).await;
        assert!(
            store
                .change_password(&id, "$argon2id$new", &keep, T0, &[], &audit(Some(&id), "x"))
                .await
                .unwrap(),
            "{name}"
        );
        let (_, new) = session(&id);
        assert_eq!(
            store
                .start_session(&new, checked, "*", &audit(Some(&id), "sign_in"))
                .await
                .unwrap(),
            SessionStart::PasswordChanged,
            "{name}"
        );
        assert!(
            store.session(&new.token_hash).await.unwrap().is_none(),
            "{name}"
        );
        let attempt = SecretToken::generate();
        assert!(
            !store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &id,
                    checked,
                    "*",
                    T0,
                    T0 + latchkey_domain::Duration::minutes(10),
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .sign_in_attempt(&attempt.hash(), T0)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        // With the generation it now has, both go through.
        assert_eq!(
            store
                .start_session(&new, checked + 1, "*", &audit(Some(&id), "sign_in"))
                .await
                .unwrap(),
            SessionStart::Started,
            "{name}"
        );
    }
}

#[tokio::test]
async fn accounts_are_found_by_email_and_id_and_emails_are_unique() {
    for Backend { name, store, .. } in backends().await {
        let new = account(1, "ann@example.com");
        let (_, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(
                &new,
                Some(&stored),
                &[outbox("ann@example.com")],
                &audit(Some(&new.id), "sign_up"),
            )
            .await
            .unwrap();
        let by_email = store
            .account_by_email(&new.email)
            .await
            .unwrap()
            .expect(name);
        assert_eq!(by_email.id, new.id, "{name}");
        assert_eq!(
            by_email.status,
            AccountStatus::PendingVerification,
            "{name}"
        );
        assert_eq!(by_email.phone.as_str(), "+442079460958", "{name}");
        let by_id = store.account_by_id(&new.id).await.unwrap().expect(name);
        assert_eq!(by_id.email, new.email, "{name}");

        let duplicate_email = account(2, "ann@example.com");
        let err = store
            .insert_account(
                &duplicate_email,
                None,
                &[outbox("x")],
                &audit(None, "sign_up"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("email")),
            "{name}: {err:?}"
        );
        let duplicate_id = account(1, "bob@example.com");
        let err = store
            .insert_account(&duplicate_id, None, &[], &audit(None, "sign_up"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("account id")),
            "{name}: {err:?}"
        );

        // The failed inserts left nothing behind: one message queued, one audit line.
        assert_eq!(store.outbox_status(10).await.unwrap().len(), 1, "{name}");
        assert_eq!(
            store.recent_audit(None, 10).await.unwrap().len(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_verification_link_is_consumed_exactly_once_even_under_concurrency() {
    for Backend { name, store, .. } in backends().await {
        // The phone is already verified, so the email link is the last step.
        let mut new = account(3, "cy@example.com");
        new.phone_verified_at = Some(T0);
        let (secret, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(&new, Some(&stored), &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::VerifyEmail, T0)
                .await
                .unwrap(),
            Some(new.id.clone()),
            "{name}"
        );
        // A token is only good for its own purpose.
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::ResetPassword, T0)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        let attempts: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let hash = secret.hash();
                let id = new.id.clone();
                tokio::spawn(async move {
                    store
                        .verify_email(&hash, &id, T0, None, &audit(Some(&id), "email_verified"))
                        .await
                })
            })
            .collect();
        let mut successes = 0;
        for attempt in attempts {
            if attempt.await.unwrap().unwrap() {
                successes += 1;
            }
        }
        assert_eq!(successes, 1, "{name}");
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Active, "{name}");
        assert_eq!(account.email_verified_at, Some(T0), "{name}");
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::VerifyEmail, T0)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        // Only the winning attempt wrote an audit line (plus the sign-up).
        let events = store.recent_audit(Some(&new.id), 100).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event == "email_verified")
                .count(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_account_is_active_only_once_email_and_phone_are_verified() {
    for Backend { name, store, .. } in backends().await {
        let new = account(30, "both@example.com");
        let (secret, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(&new, Some(&stored), &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        let (next, next_stored) = token(&new.id, TokenPurpose::ContinueSignUp, T0);
        assert!(
            store
                .verify_email(
                    &secret.hash(),
                    &new.id,
                    T0,
                    Some(&next_stored),
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap()
        );
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.email_verified_at, Some(T0), "{name}");
        assert_eq!(
            account.status,
            AccountStatus::PendingVerification,
            "{name}: the phone is next"
        );
        assert_eq!(
            store
                .email_token_account(&next.hash(), TokenPurpose::ContinueSignUp, T0)
                .await
                .unwrap(),
            Some(new.id.clone()),
            "{name}"
        );
        let call = NewCall {
            id: "call-1".into(),
            account_id: new.id.clone(),
            purpose: CallPurpose::SignUp,
            flow_id: "sign-up".into(),
            to_number: "+442079460958".into(),
            client_network: "192.0.2.1".into(),
            code_hash: "hash".into(),
            code_expires_at: T0 + latchkey_domain::Duration::minutes(10),
            created_at: T0,
        };
        assert_eq!(
            store
                .place_call(
                    &call,
                    None,
                    &[],
                    &[outbox("+442079460958")],
                    &audit(Some(&new.id), "x"),
                )
                .await
                .unwrap(),
            CallPlacement::Placed
        );
        assert!(
            !store
                .verify_call("call-1", "CA1", T0, &audit(Some(&new.id), "x"))
                .await
                .unwrap(),
            "{name}: not placed yet"
        );
        assert!(store.bind_call("call-1", "CA1", T0).await.unwrap());
        assert!(
            !store.bind_call("call-1", "CA2", T0).await.unwrap(),
            "{name}: bound once"
        );
        assert!(
            !store
                .verify_call("call-1", "CA2", T0, &audit(Some(&new.id), "x"))
                .await
                .unwrap(),
            "{name}: another call's id"
        );
        assert!(
            store
                .verify_call("call-1", "CA1", T0, &audit(Some(&new.id), "x"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .verify_call("call-1", "CA1", T0, &audit(Some(&new.id), "x"))
                .await
                .unwrap(),
            "{name}: one-shot"
        );
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Active, "{name}");
        assert_eq!(account.phone_verified_at, Some(T0), "{name}");
    }
}

#[tokio::test]
async fn reset_links_stay_valid_when_more_are_asked_for_within_a_budget_and_expire() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 4, "di@example.com").await;
        let budget = (3, T0);
        let (first, first_stored) = token(&id, TokenPurpose::ResetPassword, T0);
        assert!(
            store
                .issue_email_token(
                    &first_stored,
                    budget,
                    &[outbox("di@example.com")],
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        let later = T0 + latchkey_domain::Duration::minutes(1);
        let (second, second_stored) = token(&id, TokenPurpose::ResetPassword, later);
        assert!(
            store
                .issue_email_token(&second_stored, budget, &[], &audit(Some(&id), "x"))
                .await
                .unwrap()
        );
        // Asking again leaves the first link working.
        assert_eq!(
            store
                .email_token_account(&first.hash(), TokenPurpose::ResetPassword, later)
                .await
                .unwrap(),
            Some(id.clone()),
            "{name}"
        );
        // Sixteen more at once: exactly one fits the budget of three.
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let (_, stored) = token(&id, TokenPurpose::ResetPassword, later);
                tokio::spawn(async move {
                    store
                        .issue_email_token(&stored, budget, &[], &audit(None, "x"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut issued = 0;
        for task in tasks {
            issued += usize::from(task.await.unwrap());
        }
        assert_eq!(issued, 1, "{name}");

        // The second expires after its lifetime.
        let expired = later + TokenPurpose::ResetPassword.lifetime();
        assert_eq!(
            store
                .email_token_account(&second.hash(), TokenPurpose::ResetPassword, expired)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        assert!(
            !store
                .reset_password(
                    &second.hash(),
                    &id,
                    "new",
                    expired,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        // Using one link ends the others.
        assert!(
            store
                .reset_password(
                    &first.hash(),
                    &id,
                    "new",
                    later,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            store
                .email_token_account(&second.hash(), TokenPurpose::ResetPassword, later)
                .await
                .unwrap(),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_password_reset_changes_the_hash_clears_failures_and_revokes_every_session() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 5, "ed@example.com").await;
        let (s1, new1) = session(&id);
        store
            .start_session(
                &new1,
                generation(&store, &new1.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let (s2, new2) = session(&id);
        store
            .start_session(
                &new2,
                generation(&store, &new2.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let policy = latchkey_domain::lockout::LockoutPolicy::default();
        for source in ["*", "device:abc"] {
            let key = ThrottleKey {
                subject: id.as_str().to_owned(),
                source: source.to_owned(),
            };
            assert_eq!(
                store
                    .reserve_attempt(&reservation(&key), &policy, T0)
                    .await
                    .unwrap(),
                Reservation::Reserved,
                "{name}"
            );
        }
        store
            .create_enrollment(&NewEnrollment {
                id: "enr-r".into(),
                account_id: id.clone(),
                kind: latchkey_domain::mfa::DeviceKind::Virtual,
                secret_sealed: vec![9; 40],
                created_at: T0,
                expires_at: T0 + latchkey_domain::Duration::minutes(15),
            })
            .await
            .unwrap();
        let device = NewDevice {
            id: "dev-r".into(),
            account_id: id.clone(),
            kind: latchkey_domain::mfa::DeviceKind::Virtual,
            name: "Phone".into(),
            secret_sealed: vec![7; 40],
            params: latchkey_domain::totp::TotpParams::VIRTUAL,
            last_used_step: 100,
            created_at: T0,
            serial: None,
            added_by: None,
        };
        store
            .assign_device("enr-r", &device, 8, T0, &[], &audit(Some(&id), "x"))
            .await
            .unwrap();
        let code_key = ThrottleKey {
            subject: id.as_str().to_owned(),
            source: "device:x".to_owned(),
        };
        store
            .reserve_attempt(
                &AttemptReservation {
                    key: &code_key,
                    judged: 0,
                    device: Some((&id, "dev-r")),
                    device_limit: 100,
                },
                &policy,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(store.mfa_devices(&id).await.unwrap()[0].failed_attempts, 1);
        let (reset, stored) = token(&id, TokenPurpose::ResetPassword, T0);
        store
            .issue_email_token(&stored, (3, T0), &[], &audit(Some(&id), "x"))
            .await
            .unwrap();

        let later = T0 + latchkey_domain::Duration::minutes(5);
        assert!(
            store
                .reset_password(
                    &reset.hash(),
                    &id,
                    "$argon2id$new",
                    later,
                    &[outbox("ed@example.com")],
                    &audit(Some(&id), "password_reset")
                )
                .await
                .unwrap(),
            "{name}"
        );
        let account = store.account_by_id(&id).await.unwrap().unwrap();
        assert_eq!(account.password_hash, "$argon2id$new", "{name}");
        assert_eq!(account.password_changed_at, later, "{name}");
        assert_eq!(
            store.failure_counts(id.as_str()).await.unwrap(),
            vec![],
            "every counter of the account is cleared: {name}"
        );
        assert!(
            store
                .mfa_devices(&id)
                .await
                .unwrap()
                .iter()
                .all(|d| d.failed_attempts == 0),
            "the devices' own counts too: {name}"
        );
        for s in [s1, s2] {
            assert_eq!(
                store.session(&s.hash()).await.unwrap().unwrap().revoked_at,
                Some(later),
                "{name}"
            );
        }
        // Single use.
        assert!(
            !store
                .reset_password(
                    &reset.hash(),
                    &id,
                    "$argon2id$again",
                    later,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
    }
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

#[tokio::test]
async fn twenty_concurrent_attempts_are_reserved_one_after_the_other() {
    use latchkey_domain::lockout::{Admission, LockoutPolicy};
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 6, "fay@example.com").await;
        let policy = LockoutPolicy::default();
        let key = ThrottleKey {
            subject: id.as_str().to_owned(),
            source: "*".to_owned(),
        };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = Arc::clone(&store);
                let key = key.clone();
                tokio::spawn(async move {
                    store
                        .reserve_attempt(&reservation(&key), &LockoutPolicy::default(), T0)
                        .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().unwrap());
        }
        let reserved = outcomes
            .iter()
            .filter(|o| **o == Reservation::Reserved)
            .count();
        assert_eq!(
            reserved, policy.free_failures as usize,
            "only the free failures pass at once: {name} {outcomes:?}"
        );
        assert!(
            outcomes.iter().all(|o| *o == Reservation::Reserved
                || *o
                    == Reservation::Refused(Admission::Throttled {
                        until: T0 + policy.base_delay
                    })),
            "{name} {outcomes:?}"
        );
        assert_eq!(failures_of(&store, &id, "*").await, 5, "{name}");

        // Another source of the same account has a counter of its own.
        let device = ThrottleKey {
            subject: id.as_str().to_owned(),
            source: "device:d1".to_owned(),
        };
        assert_eq!(
            store
                .reserve_attempt(&reservation(&device), &policy, T0)
                .await
                .unwrap(),
            Reservation::Reserved,
            "{name}"
        );
        // A refund gives one reservation back; a session from a source clears that source
        // only.
        store
            .settle_attempt(&device, latchkey_domain::lockout::Settle::Refund)
            .await
            .unwrap();
        assert_eq!(failures_of(&store, &id, "device:d1").await, 0, "{name}");
        store
            .reserve_attempt(&reservation(&device), &policy, T0)
            .await
            .unwrap();
        let (old, old_session) = session(&id);
        store
            .start_session(
                &old_session,
                generation(&store, &old_session.account_id).await,
                "device:d1",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        assert_eq!(failures_of(&store, &id, "device:d1").await, 0, "{name}");
        assert_eq!(
            failures_of(&store, &id, "*").await,
            5,
            "failures from elsewhere stay: {name}"
        );

        // A new sign-in from the same browser rotates the session: the old one is revoked.
        let (new, mut new_session) = session(&id);
        new_session.replaces = Some(old.hash());
        store
            .start_session(
                &new_session,
                generation(&store, &new_session.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        assert_eq!(failures_of(&store, &id, "*").await, 0, "{name}");
        assert!(
            store
                .session(&old.hash())
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}"
        );
        assert!(
            store
                .session(&new.hash())
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn spent_counters_are_purged_and_live_ones_kept() {
    use latchkey_domain::lockout::LockoutPolicy;
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 8, "pat@example.com").await;
        let policy = LockoutPolicy::default();
        let key = |subject: &str, source: &str| ThrottleKey {
            subject: subject.to_owned(),
            source: source.to_owned(),
        };
        let failing = key(id.as_str(), "*");
        let cleared = key(id.as_str(), "device:old");
        let unknown_old = key("email:aaaa", "*");
        let unknown_new = key("email:bbbb", "*");
        for k in [&failing, &cleared, &unknown_old] {
            store
                .reserve_attempt(&reservation(k), &policy, T0)
                .await
                .unwrap();
        }
        store
            .settle_attempt(&cleared, latchkey_domain::lockout::Settle::Clear)
            .await
            .unwrap();
        let later = T0 + latchkey_domain::Duration::hours(2);
        store
            .reserve_attempt(&reservation(&unknown_new), &policy, later)
            .await
            .unwrap();
        let purged = store
            .purge_throttles(later - latchkey_domain::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            purged, 2,
            "{name}: the cleared one and the old unknown address"
        );
        assert_eq!(failures_of(&store, &id, "*").await, 1, "{name}");
        assert_eq!(
            store.failure_counts("email:bbbb").await.unwrap(),
            vec![("*".to_owned(), 1)],
            "{name}"
        );
        assert!(
            store.failure_counts("email:aaaa").await.unwrap().is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn sessions_are_touched_and_revoked_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 7, "gus@example.com").await;
        let (secret, new) = session(&id);
        store
            .start_session(
                &new,
                generation(&store, &new.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let record = store.session(&secret.hash()).await.unwrap().unwrap();
        assert_eq!(record.account_id, id, "{name}");
        assert_eq!(record.kind, SessionKind::Full, "{name}");
        assert_eq!(record.last_seen_at, T0, "{name}");

        let later = T0 + latchkey_domain::Duration::minutes(2);
        store.touch_session(&secret.hash(), later).await.unwrap();
        // A touch never moves time backwards.
        store.touch_session(&secret.hash(), T0).await.unwrap();
        assert_eq!(
            store
                .session(&secret.hash())
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            later,
            "{name}"
        );

        assert!(
            store
                .revoke_session(&secret.hash(), later, &audit(Some(&id), "sign_out"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .revoke_session(&secret.hash(), later, &audit(Some(&id), "sign_out"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .session(&TokenHash("0".repeat(64)))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        let sign_outs = store.recent_audit(Some(&id), 10).await.unwrap();
        assert_eq!(
            sign_outs.iter().filter(|e| e.event == "sign_out").count(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn only_old_unverified_sign_ups_can_be_replaced() {
    for Backend { name, store, .. } in backends().await {
        let pending = account(8, "hal@example.com");
        store
            .insert_account(&pending, None, &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        assert!(
            !store
                .delete_unverified_account(&pending.email, T0)
                .await
                .unwrap(),
            "{name}: too recent"
        );
        let id = active_account(&store, 9, "ivy@example.com").await;
        let ivy = EmailAddress::parse("ivy@example.com").unwrap();
        assert!(
            !store
                .delete_unverified_account(&ivy, Timestamp(T0.0 + 1))
                .await
                .unwrap(),
            "{name}: active"
        );
        assert!(store.account_by_id(&id).await.unwrap().is_some(), "{name}");
        assert!(
            store
                .delete_unverified_account(&pending.email, Timestamp(T0.0 + 1))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .account_by_email(&pending.email)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_outbox_leases_messages_retries_and_erases_delivered_payloads() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 10, "jo@example.com").await;
        let (_, stored) = token(&id, TokenPurpose::ResetPassword, T0);
        store
            .issue_email_token(
                &stored,
                (3, T0),
                &[outbox("jo@example.com"), outbox("jo@example.com")],
                &audit(Some(&id), "x"),
            )
            .await
            .unwrap();

        let lease = T0 + latchkey_domain::Duration::seconds(60);
        let claimed = store.claim_outbox(T0, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 2, "{name}");
        assert_eq!(claimed[0].payload, vec![1, 2, 3], "{name}");
        assert_eq!(claimed[0].attempts, 1, "{name}");
        // Leased messages are not handed out twice.
        assert!(
            store.claim_outbox(T0, lease, 10).await.unwrap().is_empty(),
            "{name}"
        );

        store.complete_outbox(claimed[0].id, T0).await.unwrap();
        let retry_at = T0 + latchkey_domain::Duration::seconds(30);
        store
            .fail_outbox(claimed[1].id, "421 try later", Some(retry_at), T0)
            .await
            .unwrap();
        assert!(
            store.claim_outbox(T0, lease, 10).await.unwrap().is_empty(),
            "{name}: not due yet"
        );
        let again = store
            .claim_outbox(retry_at, lease + latchkey_domain::Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1, "{name}");
        assert_eq!(again[0].attempts, 2, "{name}");
        store
            .fail_outbox(again[0].id, "550 no such user", None, retry_at)
            .await
            .unwrap();

        let status = store.outbox_status(10).await.unwrap();
        let failed = status.iter().find(|s| s.id == again[0].id).unwrap();
        assert_eq!(failed.failed_at, Some(retry_at), "{name}");
        assert_eq!(
            failed.last_error.as_deref(),
            Some("550 no such user"),
            "{name}"
        );
        let delivered = status.iter().find(|s| s.id == claimed[0].id).unwrap();
        assert_eq!(delivered.delivered_at, Some(T0), "{name}");
        // Nothing is due any more, ever.
        assert!(
            store
                .claim_outbox(Timestamp(T0.0 + 100_000), Timestamp(T0.0 + 100_060), 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_expired_lease_makes_a_message_due_again() {
    for Backend { name, store, .. } in backends().await {
        let new = account(11, "kit@example.com");
        store
            .insert_account(
                &new,
                None,
                &[outbox("kit@example.com")],
                &audit(None, "sign_up"),
            )
            .await
            .unwrap();
        let lease = T0 + latchkey_domain::Duration::seconds(60);
        assert_eq!(
            store.claim_outbox(T0, lease, 10).await.unwrap().len(),
            1,
            "{name}"
        );
        let reclaimed = store
            .claim_outbox(lease, lease + latchkey_domain::Duration::seconds(60), 10)
            .await
            .unwrap();
        assert_eq!(reclaimed.len(), 1, "{name}");
        assert_eq!(reclaimed[0].attempts, 2, "{name}");
    }
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_one_message_twice() {
    for Backend { name, store, .. } in backends().await {
        let new = account(12, "lu@example.com");
        let messages: Vec<_> = (0..20).map(|_| outbox("lu@example.com")).collect();
        store
            .insert_account(&new, None, &messages, &audit(None, "sign_up"))
            .await
            .unwrap();
        let lease = T0 + latchkey_domain::Duration::seconds(60);
        let claims: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.claim_outbox(T0, lease, 3).await })
            })
            .collect();
        let mut ids = Vec::new();
        for claim in claims {
            ids.extend(
                claim
                    .await
                    .unwrap()
                    .unwrap()
                    .into_iter()
                    .map(|item| item.id),
            );
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{name}: a message was claimed twice");
        assert_eq!(count, 20, "{name}");
    }
}

#[tokio::test]
async fn the_built_in_mailbox_files_a_redelivered_message_once() {
    for Backend { name, store, .. } in backends().await {
        let mail = NewDevMail {
            outbox_id: 42,
            recipient: "mo@example.com".to_owned(),
            subject: "Hello".to_owned(),
            text_body: "text".to_owned(),
            html_body: "<p>html</p>".to_owned(),
            created_at: T0,
        };
        store.insert_dev_mail(&mail).await.unwrap();
        store.insert_dev_mail(&mail).await.unwrap();
        let mails = store.dev_mails(10).await.unwrap();
        assert_eq!(mails.len(), 1, "{name}");
        let one = store.dev_mail(mails[0].id).await.unwrap().unwrap();
        assert_eq!(one.subject, "Hello", "{name}");
        assert_eq!(one.html_body, "<p>html</p>", "{name}");
        assert!(
            store.dev_mail(mails[0].id + 1).await.unwrap().is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn audit_records_read_back_newest_first_and_per_account() {
    for Backend { name, store, .. } in backends().await {
        let a = AccountId::from_random(13);
        for (i, event) in ["one", "two", "three"].iter().enumerate() {
            let mut record = audit(Some(&a), event);
            record.at = Timestamp(T0.0 + i as i64);
            store.append_audit(&record).await.unwrap();
        }
        store.append_audit(&audit(None, "anonymous")).await.unwrap();
        let all = store.recent_audit(None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["anonymous", "three", "two", "one"],
            "{name}"
        );
        let mine = store.recent_audit(Some(&a), 2).await.unwrap();
        assert_eq!(
            mine.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["three", "two"],
            "{name}"
        );
        assert_eq!(mine[0].user_agent, "contract-test", "{name}");
    }
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_audit_records() {
    for backend in backends().await {
        backend
            .store
            .append_audit(&audit(None, "kept"))
            .await
            .unwrap();
        let statements = [
            "UPDATE audit_log SET event = 'forged'",
            "DELETE FROM audit_log",
        ];
        for sql in statements {
            let refused = match (&backend.sqlite, &backend.postgres) {
                (Some(s), _) => sqlx::query(sql).execute(s.pool()).await.is_err(),
                (_, Some(p)) => sqlx::query(sql).execute(p.pool()).await.is_err(),
                _ => unreachable!(),
            };
            assert!(refused, "{}: {sql} was allowed", backend.name);
        }
        let records = backend.store.recent_audit(None, 10).await.unwrap();
        assert_eq!(records.len(), 1, "{}", backend.name);
        assert_eq!(records[0].event, "kept", "{}", backend.name);
    }
}

#[tokio::test]
async fn committed_data_survives_reopening_the_database() {
    for backend in backends().await {
        let id = active_account(&backend.store, 14, "ned@example.com").await;
        let reopened =
            latchkey_store::open(Some(&backend.url), std::path::Path::new("/nonexistent"))
                .await
                .unwrap()
                .0;
        let account = reopened
            .account_by_id(&id)
            .await
            .unwrap()
            .expect(backend.name);
        assert_eq!(
            account.email.as_str(),
            "ned@example.com",
            "{}",
            backend.name
        );
    }
}

#[tokio::test]
async fn sqlite_runs_with_wal_full_sync_and_a_busy_timeout() {
    let backend = latchkey_test_support::sqlite_backend().await;
    let settings = backend.sqlite.unwrap().settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, 2, "synchronous=FULL");
    assert!(settings.busy_timeout_ms >= 1000);
    assert_eq!(settings.foreign_keys, 1);
}

#[tokio::test]
async fn postgres_commits_synchronously() {
    if let Some(url) = latchkey_test_support::postgres_admin_url() {
        let backend = latchkey_test_support::postgres_backend(&url).await;
        let info = backend.postgres.unwrap().info().await.unwrap();
        assert_eq!(info.durability, "synchronous_commit=on");
    }
}

mod mfa {
    use super::*;
    use latchkey_domain::Duration;
    use latchkey_domain::mfa::DeviceKind;
    use latchkey_domain::totp::TotpParams;

    fn enrollment(account: &AccountId, id: &str) -> NewEnrollment {
        NewEnrollment {
            id: id.to_owned(),
            account_id: account.clone(),
            kind: DeviceKind::Virtual,
            secret_sealed: vec![9; 40],
            created_at: T0,
            expires_at: T0 + Duration::minutes(15),
        }
    }

    fn device(account: &AccountId, id: &str, name: &str) -> NewDevice {
        NewDevice {
            id: id.to_owned(),
            account_id: account.clone(),
            kind: DeviceKind::Virtual,
            name: name.to_owned(),
            secret_sealed: vec![7; 40],
            params: TotpParams::VIRTUAL,
            last_used_step: 100,
            created_at: T0,
            serial: None,
            added_by: None,
        }
    }

    async fn add(
        store: &Arc<dyn Store>,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> AssignOutcome {
        store
            .create_enrollment(&enrollment(account, &format!("enr-{id}")))
            .await
            .unwrap();
        store
            .assign_device(
                &format!("enr-{id}"),
                &device(account, id, name),
                8,
                T0,
                &[],
                &audit(Some(account), "mfa_activated"),
            )
            .await
            .unwrap()
    }

    fn mfa_session(account: &AccountId, device: &str) -> (SecretToken, NewSession) {
        let (secret, mut new) = session(account);
        new.mfa_device_id = Some(device.to_owned());
        (secret, new)
    }

    #[tokio::test]
    async fn an_enrolment_becomes_one_device_once() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 20, "mfa1@example.com").await;
            store
                .create_enrollment(&enrollment(&id, "enr-1"))
                .await
                .unwrap();
            assert!(
                store.enrollment("enr-1", &id, T0).await.unwrap().is_some(),
                "{name}"
            );
            let other = AccountId::from_random(999);
            assert!(
                store
                    .enrollment("enr-1", &other, T0)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}: another account's"
            );
            let outcome = store
                .assign_device(
                    "enr-1",
                    &device(&id, "dev-1", "Phone"),
                    8,
                    T0,
                    &[],
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            assert_eq!(outcome, AssignOutcome::Assigned, "{name}");
            let again = store
                .assign_device(
                    "enr-1",
                    &device(&id, "dev-2", "Phone 2"),
                    8,
                    T0,
                    &[],
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            assert_eq!(
                again,
                AssignOutcome::EnrollmentGone,
                "{name}: a stale page cannot add a second device"
            );
            assert!(
                store.enrollment("enr-1", &id, T0).await.unwrap().is_none(),
                "{name}"
            );

            let devices = store.mfa_devices(&id).await.unwrap();
            assert_eq!(devices.len(), 1, "{name}");
            assert_eq!(devices[0].name, "Phone");
            assert_eq!(
                devices[0].last_used_step,
                Some(100),
                "{name}: enrolment steps are consumed"
            );
            assert_eq!(devices[0].params, TotpParams::VIRTUAL);
            assert_eq!(devices[0].secret_sealed, vec![7; 40]);

            assert_eq!(
                add(&store, &id, "dev-3", "Phone").await,
                AssignOutcome::NameTaken,
                "{name}"
            );
            store
                .create_enrollment(&enrollment(&id, "enr-old"))
                .await
                .unwrap();
            let late = T0 + Duration::minutes(15);
            assert!(
                store
                    .enrollment("enr-old", &id, late)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}: expired"
            );
            let outcome = store
                .assign_device(
                    "enr-old",
                    &device(&id, "dev-4", "Late"),
                    8,
                    late,
                    &[],
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            assert_eq!(outcome, AssignOutcome::EnrollmentGone, "{name}");
        }
    }

    #[tokio::test]
    async fn concurrent_activations_never_exceed_eight_devices() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 21, "mfa2@example.com").await;
            for i in 0..12 {
                store
                    .create_enrollment(&enrollment(&id, &format!("enr-{i}")))
                    .await
                    .unwrap();
            }
            let tasks: Vec<_> = (0..12)
                .map(|i| {
                    let store = Arc::clone(&store);
                    let id = id.clone();
                    tokio::spawn(async move {
                        store
                            .assign_device(
                                &format!("enr-{i}"),
                                &device(&id, &format!("dev-{i}"), &format!("Device {i}")),
                                8,
                                T0,
                                &[],
                                &audit(Some(&id), "x"),
                            )
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut assigned = 0;
            let mut refused = 0;
            for task in tasks {
                match task.await.unwrap() {
                    AssignOutcome::Assigned => assigned += 1,
                    AssignOutcome::LimitReached => refused += 1,
                    other => panic!("{name}: {other:?}"),
                }
            }
            assert_eq!((assigned, refused), (8, 4), "{name}");
            assert_eq!(store.mfa_devices(&id).await.unwrap().len(), 8, "{name}");
        }
    }

    #[tokio::test]
    async fn one_step_signs_in_once_even_with_sixteen_concurrent_attempts() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 22, "mfa3@example.com").await;
            assert_eq!(
                add(&store, &id, "dev-1", "Phone").await,
                AssignOutcome::Assigned
            );
            let attempts: Vec<SecretToken> = (0..16).map(|_| SecretToken::generate()).collect();
            for attempt in &attempts {
                store
                    .start_sign_in_attempt(
                        &attempt.hash(),
                        &id,
                        generation(&store, &id).await,
                        "*",
                        T0,
                        T0 + Duration::minutes(10),
                        &audit(Some(&id), "x"),
                    )
                    .await
                    .unwrap();
            }
            let tasks: Vec<_> = attempts
                .iter()
                .map(|attempt| {
                    let store = Arc::clone(&store);
                    let id = id.clone();
                    let hash = attempt.hash();
                    tokio::spawn(async move {
                        let (_, new) = mfa_session(&id, "dev-1");
                        store
                            .complete_mfa_sign_in(
                                &hash,
                                "dev-1",
                                101,
                                &new,
                                &audit(Some(&id), "sign_in"),
                            )
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut wins = 0;
            for task in tasks {
                if task.await.unwrap() {
                    wins += 1;
                }
            }
            assert_eq!(wins, 1, "{name}");
            // The winner's attempt is spent; the others are still open but step 101 and
            // every earlier step are gone for good.
            let open: Vec<_> = {
                let mut open = Vec::new();
                for attempt in &attempts {
                    if store
                        .sign_in_attempt(&attempt.hash(), T0)
                        .await
                        .unwrap()
                        .is_some()
                    {
                        open.push(attempt.hash());
                    }
                }
                open
            };
            assert_eq!(open.len(), 15, "{name}");
            let (_, new) = mfa_session(&id, "dev-1");
            assert!(
                !store
                    .complete_mfa_sign_in(&open[0], "dev-1", 101, &new, &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .complete_mfa_sign_in(&open[0], "dev-1", 100, &new, &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
            let (_, new) = mfa_session(&id, "dev-1");
            assert!(
                store
                    .complete_mfa_sign_in(&open[0], "dev-1", 102, &new, &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
            // An attempt is single-use too.
            let (_, new) = mfa_session(&id, "dev-1");
            assert!(
                !store
                    .complete_mfa_sign_in(&open[0], "dev-1", 103, &new, &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
            let sessions = store
                .recent_audit(Some(&id), 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.event == "sign_in")
                .count();
            assert_eq!(
                sessions, 1,
                "{name}: only the winner was audited as a sign-in"
            );
        }
    }

    #[tokio::test]
    async fn attempts_expire_and_belong_to_their_account() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 23, "mfa4@example.com").await;
            add(&store, &id, "dev-1", "Phone").await;
            let attempt = SecretToken::generate();
            store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &id,
                    generation(&store, &id).await,
                    "*",
                    T0,
                    T0 + Duration::minutes(10),
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            let record = store
                .sign_in_attempt(&attempt.hash(), T0)
                .await
                .unwrap()
                .expect(name);
            assert_eq!(record.account_id, id);
            let late = T0 + Duration::minutes(10);
            assert!(
                store
                    .sign_in_attempt(&attempt.hash(), late)
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
            let (_, mut new) = mfa_session(&id, "dev-1");
            new.created_at = late;
            assert!(
                !store
                    .complete_mfa_sign_in(
                        &attempt.hash(),
                        "dev-1",
                        101,
                        &new,
                        &audit(Some(&id), "x")
                    )
                    .await
                    .unwrap(),
                "{name}"
            );
            // The failed completion rolled back: step 101 is still unused.
            assert_eq!(
                store.mfa_devices(&id).await.unwrap()[0].last_used_step,
                Some(100),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_code_reserves_on_the_attempts_source_and_the_device_and_a_sign_in_clears_both() {
        use latchkey_domain::lockout::LockoutPolicy;
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 24, "mfa5@example.com").await;
            add(&store, &id, "dev-1", "Phone").await;
            let policy = LockoutPolicy::default();
            // Two wrong passwords from a known device, then the right one: the attempt
            // remembers the source and the count the password left.
            let key = ThrottleKey {
                subject: id.as_str().to_owned(),
                source: "device:k1".to_owned(),
            };
            for _ in 0..3 {
                store
                    .reserve_attempt(&reservation(&key), &policy, T0)
                    .await
                    .unwrap();
            }
            let attempt = SecretToken::generate();
            store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &id,
                    generation(&store, &id).await,
                    "device:k1",
                    T0,
                    T0 + Duration::minutes(10),
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            let record = store
                .sign_in_attempt(&attempt.hash(), T0)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (record.source.as_str(), record.failures_at_start),
                ("device:k1", 2),
                "the right password was refunded: {name}"
            );
            let code = |limit| AttemptReservation {
                key: &key,
                judged: record.failures_at_start,
                device: Some((&id, "dev-1")),
                device_limit: limit,
            };
            for _ in 0..2 {
                assert_eq!(
                    store
                        .reserve_attempt(&code(100), &policy, T0)
                        .await
                        .unwrap(),
                    Reservation::Reserved,
                    "{name}"
                );
            }
            assert_eq!(
                store.reserve_attempt(&code(2), &policy, T0).await.unwrap(),
                Reservation::DeviceLocked,
                "{name}"
            );
            assert_eq!(failures_of(&store, &id, "device:k1").await, 4, "{name}");
            assert_eq!(
                store.mfa_devices(&id).await.unwrap()[0].failed_attempts,
                2,
                "a refused reservation counts nothing: {name}"
            );
            let (_, new) = mfa_session(&id, "dev-1");
            assert!(
                store
                    .complete_mfa_sign_in(
                        &attempt.hash(),
                        "dev-1",
                        101,
                        &new,
                        &audit(Some(&id), "sign_in")
                    )
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(failures_of(&store, &id, "device:k1").await, 0, "{name}");
            assert_eq!(
                store.mfa_devices(&id).await.unwrap()[0].failed_attempts,
                0,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_security_keys_counter_only_moves_forward_even_when_two_assertions_race() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 26, "key@example.com").await;
            let key = NewDevice {
                kind: DeviceKind::SecurityKey,
                ..device(&id, "key-1", "Key")
            };
            assert_eq!(
                store
                    .assign_security_key(&key, "cred-1", 8, &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                AssignOutcome::Assigned
            );
            let attempt = || async {
                let attempt = SecretToken::generate();
                store
                    .start_sign_in_attempt(
                        &attempt.hash(),
                        &id,
                        generation(&store, &id).await,
                        "*",
                        T0,
                        T0 + Duration::minutes(10),
                        &audit(Some(&id), "x"),
                    )
                    .await
                    .unwrap();
                attempt
            };
            let complete = |attempt: SecretToken, counter: u32| {
                let store = Arc::clone(&store);
                let id = id.clone();
                async move {
                    let (_, new) = mfa_session(&id, "key-1");
                    store
                        .complete_security_key_sign_in(
                            &attempt.hash(),
                            "key-1",
                            &[1, 2, 3],
                            counter,
                            &new,
                            &audit(Some(&id), "sign_in"),
                        )
                        .await
                        .unwrap()
                }
            };
            // Two assertions verified against counter 4, completing in the wrong order:
            // the later write may not lower the counter.
            let (a, b) = (attempt().await, attempt().await);
            assert!(complete(a, 6).await, "{name}");
            assert!(!complete(b, 5).await, "{name}: a lower counter is refused");
            let c = attempt().await;
            assert!(!complete(c, 6).await, "{name}: an equal counter too");
            let d = attempt().await;
            assert!(complete(d, 7).await, "{name}");
            // A key that keeps no counter (always 0) signs in every time.
            let id0 = active_account(&store, 27, "key0@example.com").await;
            let key0 = NewDevice {
                kind: DeviceKind::SecurityKey,
                ..device(&id0, "key-0", "Key")
            };
            store
                .assign_security_key(&key0, "cred-0", 8, &[], &audit(Some(&id0), "x"))
                .await
                .unwrap();
            for _ in 0..2 {
                let attempt = SecretToken::generate();
                store
                    .start_sign_in_attempt(
                        &attempt.hash(),
                        &id0,
                        generation(&store, &id0).await,
                        "*",
                        T0,
                        T0 + Duration::minutes(10),
                        &audit(Some(&id0), "x"),
                    )
                    .await
                    .unwrap();
                let (_, new) = mfa_session(&id0, "key-0");
                assert!(
                    store
                        .complete_security_key_sign_in(
                            &attempt.hash(),
                            "key-0",
                            &[1],
                            0,
                            &new,
                            &audit(Some(&id0), "x")
                        )
                        .await
                        .unwrap(),
                    "{name}"
                );
            }
        }
    }

    #[tokio::test]
    async fn resync_records_drift_and_only_moves_forward() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 25, "mfa6@example.com").await;
            add(&store, &id, "dev-1", "Phone").await;
            assert!(
                !store
                    .resync_device(&id, "dev-1", 100, -3, &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}: used step"
            );
            assert!(
                store
                    .resync_device(&id, "dev-1", 110, -3, &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
            let device = &store.mfa_devices(&id).await.unwrap()[0];
            assert_eq!(
                (device.drift_steps, device.last_used_step),
                (-3, Some(110)),
                "{name}"
            );
            assert!(
                !store
                    .resync_device(&id, "no-such", 200, 0, &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn removing_a_device_keeps_its_record_and_revokes_the_sessions_it_authorised() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 26, "mfa7@example.com").await;
            add(&store, &id, "dev-1", "Phone").await;
            add(&store, &id, "dev-2", "Tablet").await;
            let (by_phone, new) = mfa_session(&id, "dev-1");
            store
                .start_session(
                    &new,
                    generation(&store, &new.account_id).await,
                    "*",
                    &audit(Some(&id), "sign_in"),
                )
                .await
                .unwrap();
            let (by_tablet, new) = mfa_session(&id, "dev-2");
            store
                .start_session(
                    &new,
                    generation(&store, &new.account_id).await,
                    "*",
                    &audit(Some(&id), "sign_in"),
                )
                .await
                .unwrap();

            assert_eq!(
                store
                    .remove_device(
                        &id,
                        "dev-1",
                        &live_session(&store, &id).await,
                        T0,
                        &[],
                        &audit(Some(&id), "mfa_removed")
                    )
                    .await
                    .unwrap(),
                Some(1),
                "{name}"
            );
            assert_eq!(
                store
                    .remove_device(
                        &id,
                        "dev-1",
                        &live_session(&store, &id).await,
                        T0,
                        &[],
                        &audit(Some(&id), "mfa_removed")
                    )
                    .await
                    .unwrap(),
                None,
                "{name}"
            );
            assert!(
                store
                    .session(&by_phone.hash())
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at
                    .is_some(),
                "{name}"
            );
            assert!(
                store
                    .session(&by_tablet.hash())
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at
                    .is_none(),
                "{name}"
            );
            let left: Vec<String> = store
                .mfa_devices(&id)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect();
            assert_eq!(left, ["dev-2"], "{name}");
            // A removed device's codes can never be used again, and its name is free.
            let (_, new) = mfa_session(&id, "dev-1");
            let attempt = SecretToken::generate();
            store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &id,
                    generation(&store, &id).await,
                    "*",
                    T0,
                    T0 + Duration::minutes(10),
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap();
            assert!(
                !store
                    .complete_mfa_sign_in(
                        &attempt.hash(),
                        "dev-1",
                        500,
                        &new,
                        &audit(Some(&id), "x")
                    )
                    .await
                    .unwrap(),
                "{name}"
            );
            assert_eq!(
                add(&store, &id, "dev-3", "Phone").await,
                AssignOutcome::Assigned,
                "{name}"
            );
            assert_eq!(
                store
                    .remove_device(
                        &id,
                        "dev-2",
                        &live_session(&store, &id).await,
                        T0,
                        &[],
                        &audit(Some(&id), "x")
                    )
                    .await
                    .unwrap(),
                Some(1),
                "{name}"
            );
        }
    }
}

mod calls {
    use super::*;
    use latchkey_domain::Duration;

    fn call(account: &AccountId, n: usize, purpose: CallPurpose, to: &str, net: &str) -> NewCall {
        NewCall {
            id: format!("call-{}-{n}", purpose.as_str()),
            account_id: account.clone(),
            purpose,
            flow_id: format!("flow-{n}"),
            to_number: to.into(),
            client_network: net.into(),
            code_hash: "hash".into(),
            code_expires_at: T0 + Duration::minutes(10),
            created_at: T0,
        }
    }

    fn limit(scope: CallScope, max: u32) -> CallLimit {
        CallLimit {
            scope,
            since: T0 - Duration::hours(1),
            max,
        }
    }

    #[tokio::test]
    async fn sixteen_concurrent_calls_fit_a_budget_exactly() {
        for Backend { name, store, .. } in backends().await {
            let mut accounts = Vec::new();
            for i in 0..16 {
                accounts.push(active_account(&store, 60 + i, &format!("c{i}@example.com")).await);
            }
            // Sixteen sign-ups to one number from sixteen networks, at once: the
            // per-destination budget of three holds.
            let tasks: Vec<_> = accounts
                .iter()
                .enumerate()
                .map(|(n, account)| {
                    let store = Arc::clone(&store);
                    let call = call(
                        account,
                        n,
                        CallPurpose::SignUp,
                        "+442079460958",
                        &format!("net-{n}"),
                    );
                    tokio::spawn(async move {
                        store
                            .place_call(
                                &call,
                                None,
                                &[limit(CallScope::Destination, 3)],
                                &[],
                                &audit(None, "sign_up_call_placed"),
                            )
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut placed = 0;
            for task in tasks {
                match task.await.unwrap() {
                    CallPlacement::Placed => placed += 1,
                    CallPlacement::OverBudget(CallScope::Destination) => {}
                    other => panic!("{name}: {other:?}"),
                }
            }
            assert_eq!(placed, 3, "{name}");
            // Sign-up's server budget is spent; recovery's is its own.
            assert_eq!(
                store
                    .place_call(
                        &call(
                            &accounts[0],
                            99,
                            CallPurpose::SignUp,
                            "+14155552671",
                            "net-x"
                        ),
                        None,
                        &[limit(CallScope::Server, 3)],
                        &[],
                        &audit(None, "x"),
                    )
                    .await
                    .unwrap(),
                CallPlacement::OverBudget(CallScope::Server),
                "{name}"
            );
            assert_eq!(
                store
                    .place_call(
                        &call(
                            &accounts[1],
                            99,
                            CallPurpose::Recovery,
                            "+442079460958",
                            "net-x"
                        ),
                        None,
                        &[
                            limit(CallScope::Server, 3),
                            limit(CallScope::Destination, 3)
                        ],
                        &[],
                        &audit(None, "x"),
                    )
                    .await
                    .unwrap(),
                CallPlacement::Placed,
                "{name}: sign-ups cannot starve recovery"
            );
        }
    }

    #[tokio::test]
    async fn a_call_superseded_before_it_rang_costs_nothing() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 90, "sup@example.com").await;
            let budget = [limit(CallScope::Account, 2)];
            for n in 0..4 {
                // Each new sign-up call supersedes the previous, still queued one.
                assert_eq!(
                    store
                        .place_call(
                            &call(&id, n, CallPurpose::SignUp, "+442079460958", "net"),
                            None,
                            &budget,
                            &[],
                            &audit(None, "x"),
                        )
                        .await
                        .unwrap(),
                    CallPlacement::Placed,
                    "{name}: call {n}"
                );
            }
            // One that rang (bound by the provider) counts, even once superseded.
            assert!(store.bind_call("call-sign_up-3", "CA3", T0).await.unwrap());
            store
                .place_call(
                    &call(&id, 4, CallPurpose::SignUp, "+442079460958", "net"),
                    None,
                    &budget,
                    &[],
                    &audit(None, "x"),
                )
                .await
                .unwrap();
            assert_eq!(
                store
                    .place_call(
                        &call(&id, 5, CallPurpose::SignUp, "+442079460958", "net"),
                        None,
                        &budget,
                        &[],
                        &audit(None, "x"),
                    )
                    .await
                    .unwrap(),
                CallPlacement::OverBudget(CallScope::Account),
                "{name}"
            );
        }
    }
}

mod recovery {
    use super::*;
    use latchkey_domain::Duration;
    use latchkey_domain::mfa::DeviceKind;
    use latchkey_domain::totp::TotpParams;

    async fn device_at(store: &Arc<dyn Store>, account: &AccountId, id: &str, at: Timestamp) {
        let device = NewDevice {
            id: id.to_owned(),
            account_id: account.clone(),
            kind: DeviceKind::Virtual,
            name: id.to_owned(),
            secret_sealed: vec![7; 40],
            params: TotpParams::VIRTUAL,
            last_used_step: 100,
            created_at: at,
            serial: None,
            added_by: None,
        };
        store
            .create_enrollment(&NewEnrollment {
                id: format!("enr-{id}"),
                account_id: account.clone(),
                kind: DeviceKind::Virtual,
                secret_sealed: vec![9; 40],
                created_at: at,
                expires_at: at + Duration::minutes(15),
            })
            .await
            .unwrap();
        assert_eq!(
            store
                .assign_device(
                    &format!("enr-{id}"),
                    &device,
                    8,
                    at,
                    &[],
                    &audit(Some(account), "x")
                )
                .await
                .unwrap(),
            AssignOutcome::Assigned
        );
    }

    /// A sign-in with `device` from a fresh attempt; whether the block is still there after.
    async fn sign_in_with(
        store: &Arc<dyn Store>,
        account: &AccountId,
        device: &str,
        step: i64,
    ) -> bool {
        let attempt = SecretToken::generate();
        store
            .start_sign_in_attempt(
                &attempt.hash(),
                account,
                generation(store, account).await,
                "*",
                T0,
                T0 + Duration::hours(24 * 30),
                &audit(Some(account), "x"),
            )
            .await
            .unwrap();
        let (_, mut new) = session(account);
        new.mfa_device_id = Some(device.to_owned());
        assert!(
            store
                .complete_mfa_sign_in(
                    &attempt.hash(),
                    device,
                    step,
                    &new,
                    &audit(Some(account), "sign_in")
                )
                .await
                .unwrap()
        );
        store.recovery_blocked_at(account).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn a_report_of_a_flow_that_never_completed_removes_nothing_and_voids_every_link() {
        for Backend { name, store, .. } in backends().await {
            let id = active_account(&store, 41, "rec2@example.com").await;
            let flow = |n: u8, at: i64| NewRecoveryFlow {
                id: format!("rec-{n}"),
                attempt_hash: SecretToken::generate().hash(),
                source: "*".to_owned(),
                started_from: "192.0.2.9".to_owned(),
                started_agent: "test".to_owned(),
                token_hash: SecretToken::generate().hash(),
                account_id: id.clone(),
                cancel_token_hash: SecretToken::generate().hash(),
                created_at: T0 + Duration::seconds(at),
                expires_at: T0 + Duration::minutes(30),
            };
            for (n, at) in [(1, 10), (2, 20)] {
                store
                    .create_recovery_flow(&flow(n, at), (5, T0), &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap();
            }
            // The owner's own device, added after the flows began by a full session.
            device_at(&store, &id, "dev-owner", T0 + Duration::seconds(100)).await;
            let report = |flow_id| RecoveryReport {
                flow_id,
                account: &id,
                undo_window: Duration::hours(24 * 7),
                revoked_password_hash: "$argon2id$revoked",
                now: T0 + Duration::seconds(200),
            };
            let undone = store
                .report_recovery(&report("rec-1"), &[], &audit(Some(&id), "x"))
                .await
                .unwrap()
                .expect(name);
            assert!(
                undone.devices_removed.is_empty(),
                "{name}: no session was granted"
            );
            assert!(
                store
                    .report_recovery(&report("rec-2"), &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap()
                    .is_none(),
                "{name}: a sibling's saved link died with the report"
            );
            assert_eq!(store.mfa_devices(&id).await.unwrap().len(), 1, "{name}");
        }
    }

    /// The intruder completes one recovery, adds a device, then starts another; the owner
    /// presses `This wasn't me` in the newest notice. That kills the first flow's link too,
    /// so it must undo the first flow as well.
    #[tokio::test]
    async fn a_report_of_a_later_flow_undoes_an_earlier_completed_one_whose_link_it_kills() {
        for backend in backends().await {
            let (name, store) = (backend.name, backend.store.clone());
            let id = active_account(&store, 42, "rec3@example.com").await;
            device_at(&store, &id, "dev-owner", T0).await;
            let flow = |n: u8, at: i64| NewRecoveryFlow {
                id: format!("rec-{n}"),
                attempt_hash: SecretToken::generate().hash(),
                source: "*".to_owned(),
                started_from: "192.0.2.9".to_owned(),
                started_agent: "test".to_owned(),
                token_hash: SecretToken::generate().hash(),
                account_id: id.clone(),
                cancel_token_hash: SecretToken::generate().hash(),
                created_at: T0 + Duration::seconds(at),
                expires_at: T0 + Duration::seconds(at) + Duration::minutes(30),
            };
            store
                .create_recovery_flow(&flow(1, 10), (5, T0), &[], &audit(Some(&id), "x"))
                .await
                .unwrap();
            mark_completed(&backend, "rec-1", T0 + Duration::seconds(50)).await;
            device_at(&store, &id, "dev-intruder", T0 + Duration::seconds(60)).await;
            store
                .create_recovery_flow(&flow(2, 100), (5, T0), &[], &audit(Some(&id), "x"))
                .await
                .unwrap();
            let report = RecoveryReport {
                flow_id: "rec-2",
                account: &id,
                undo_window: Duration::hours(24 * 7),
                revoked_password_hash: "$argon2id$revoked",
                now: T0 + Duration::seconds(200),
            };
            let undone = store
                .report_recovery(&report, &[], &audit(Some(&id), "x"))
                .await
                .unwrap()
                .expect(name);
            assert_eq!(undone.devices_removed, ["dev-intruder"], "{name}");
            let left: Vec<_> = store
                .mfa_devices(&id)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect();
            assert_eq!(left, ["dev-owner"], "{name}");
        }
    }

    /// Marks a flow completed, going around the port (driving a whole flow through email
    /// and call is the HTTP tests' business).
    async fn mark_completed(backend: &Backend, flow_id: &str, at: Timestamp) {
        let sql = "UPDATE recovery_flows SET state = 'completed', completed_at = $1 WHERE id = $2";
        if let Some(sqlite) = &backend.sqlite {
            sqlx::query(sql)
                .bind(at.0)
                .bind(flow_id)
                .execute(sqlite.pool())
                .await
                .unwrap();
        }
        if let Some(postgres) = &backend.postgres {
            sqlx::query(sql)
                .bind(at.0)
                .bind(flow_id)
                .execute(postgres.pool())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_report_undoes_what_came_after_and_only_a_reset_and_an_older_device_lift_the_block() {
        for backend in backends().await {
            let (name, store) = (backend.name, backend.store.clone());
            let id = active_account(&store, 40, "rec1@example.com").await;
            device_at(&store, &id, "dev-old", T0).await;
            let flow_token = SecretToken::generate();
            let flow = NewRecoveryFlow {
                id: "rec-1".to_owned(),
                attempt_hash: SecretToken::generate().hash(),
                source: "*".to_owned(),
                started_from: "192.0.2.9".to_owned(),
                started_agent: "test".to_owned(),
                token_hash: flow_token.hash(),
                account_id: id.clone(),
                cancel_token_hash: SecretToken::generate().hash(),
                created_at: T0 + Duration::seconds(100),
                expires_at: T0 + Duration::minutes(30),
            };
            assert_eq!(
                store
                    .create_recovery_flow(&flow, (5, T0), &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                FlowStart::Started,
                "{name}"
            );
            mark_completed(&backend, "rec-1", T0 + Duration::seconds(150)).await;
            device_at(&store, &id, "dev-intruder", T0 + Duration::seconds(200)).await;
            let now = T0 + Duration::seconds(300);
            let report = RecoveryReport {
                flow_id: "rec-1",
                account: &id,
                undo_window: Duration::hours(24 * 7),
                revoked_password_hash: "$argon2id$revoked",
                now,
            };
            let undone = store
                .report_recovery(&report, &[], &audit(Some(&id), "recovery_cancelled"))
                .await
                .unwrap()
                .expect(name);
            assert_eq!(
                undone.devices_removed,
                vec!["dev-intruder".to_owned()],
                "{name}"
            );
            assert_eq!(undone.since, flow.created_at, "{name}");
            assert!(
                store
                    .report_recovery(&report, &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap()
                    .is_none(),
                "{name}: once"
            );
            let account = store.account_by_id(&id).await.unwrap().unwrap();
            assert_eq!(account.password_hash, "$argon2id$revoked", "{name}");
            assert!(store.recovery_blocked_at(&id).await.unwrap().is_some());
            // A new flow cannot start while blocked.
            let blocked = NewRecoveryFlow {
                id: "rec-2".to_owned(),
                attempt_hash: SecretToken::generate().hash(),
                token_hash: SecretToken::generate().hash(),
                cancel_token_hash: SecretToken::generate().hash(),
                ..flow.clone()
            };
            assert_eq!(
                store
                    .create_recovery_flow(&blocked, (5, T0), &[], &audit(Some(&id), "x"))
                    .await
                    .unwrap(),
                FlowStart::Blocked,
                "{name}"
            );

            // Without a reset, even the older device does not lift the block.
            assert!(sign_in_with(&store, &id, "dev-old", 101).await, "{name}");
            // A device added after the recovery began does not lift it after a reset either.
            device_at(&store, &id, "dev-later", T0 + Duration::seconds(400)).await;
            let (reset, stored) = token(&id, TokenPurpose::ResetPassword, now);
            store
                .issue_email_token(&stored, (3, T0), &[], &audit(Some(&id), "x"))
                .await
                .unwrap();
            assert!(
                store
                    .reset_password(
                        &reset.hash(),
                        &id,
                        "$argon2id$owner",
                        now,
                        &[],
                        &audit(Some(&id), "x")
                    )
                    .await
                    .unwrap()
            );
            assert!(sign_in_with(&store, &id, "dev-later", 102).await, "{name}");
            // The reset and a device that predates the recovery do.
            assert!(!sign_in_with(&store, &id, "dev-old", 103).await, "{name}");
        }
    }
}

mod hardware {
    use super::*;
    use latchkey_domain::mfa::DeviceKind;
    use latchkey_domain::totp::TotpParams;

    fn token(serial: &str) -> NewHardwareToken {
        NewHardwareToken {
            serial: serial.to_owned(),
            manufacturer: Some("Acme Tokens".into()),
            params: TotpParams {
                digits: 8,
                period: 60,
                ..TotpParams::VIRTUAL
            },
            secret_sealed: vec![5; 40],
            imported_at: T0,
        }
    }

    fn device(account: &AccountId, id: &str, serial: &str) -> NewDevice {
        NewDevice {
            id: id.to_owned(),
            account_id: account.clone(),
            kind: DeviceKind::Hardware,
            name: format!("Token {serial}"),
            secret_sealed: vec![6; 40],
            params: TotpParams {
                digits: 8,
                period: 60,
                ..TotpParams::VIRTUAL
            },
            last_used_step: 10,
            created_at: T0,
            serial: Some(serial.to_owned()),
            added_by: None,
        }
    }

    #[tokio::test]
    async fn an_import_is_all_or_nothing_and_serials_are_unique() {
        for Backend { name, store, .. } in backends().await {
            store
                .import_tokens(
                    &[token("A-1"), token("A-2")],
                    &audit(None, "tokens_imported"),
                )
                .await
                .unwrap();
            let err = store
                .import_tokens(
                    &[token("A-3"), token("A-1")],
                    &audit(None, "tokens_imported"),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Conflict("serial")),
                "{name}: {err:?}"
            );
            let serials: Vec<String> = store
                .hardware_tokens()
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.serial)
                .collect();
            assert_eq!(
                serials,
                ["A-1", "A-2"],
                "{name}: A-3 was rolled back with the batch"
            );
            let one = store.hardware_token("A-2").await.unwrap().unwrap();
            assert_eq!((one.params.digits, one.params.period), (8, 60), "{name}");
            assert_eq!(one.manufacturer.as_deref(), Some("Acme Tokens"));
            assert!(
                one.device_id.is_none() && one.account_id.is_none(),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_is_bound_to_one_device_and_returns_to_the_inventory_on_removal() {
        for Backend { name, store, .. } in backends().await {
            let ann = active_account(&store, 40, "hw1@example.com").await;
            let bob = active_account(&store, 41, "hw2@example.com").await;
            store
                .import_tokens(&[token("B-1")], &audit(None, "x"))
                .await
                .unwrap();
            let outcome = store
                .assign_hardware_device(
                    &device(&ann, "dev-a", "B-1"),
                    8,
                    &[],
                    &audit(Some(&ann), "x"),
                )
                .await
                .unwrap();
            assert_eq!(outcome, AssignOutcome::Assigned, "{name}");
            let taken = store
                .assign_hardware_device(
                    &device(&bob, "dev-b", "B-1"),
                    8,
                    &[],
                    &audit(Some(&bob), "x"),
                )
                .await
                .unwrap();
            assert_eq!(
                taken,
                AssignOutcome::TokenUnavailable,
                "{name}: already bound"
            );
            let unknown = store
                .assign_hardware_device(
                    &device(&bob, "dev-c", "NOPE"),
                    8,
                    &[],
                    &audit(Some(&bob), "x"),
                )
                .await
                .unwrap();
            assert_eq!(
                unknown,
                AssignOutcome::TokenUnavailable,
                "{name}: not in the inventory"
            );
            assert!(
                store.mfa_devices(&bob).await.unwrap().is_empty(),
                "{name}: nothing created for bob"
            );
            let held = store.hardware_token("B-1").await.unwrap().unwrap();
            assert_eq!(held.account_id, Some(ann.clone()), "{name}");
            assert_eq!(
                store.mfa_devices(&ann).await.unwrap()[0].serial.as_deref(),
                Some("B-1"),
                "{name}"
            );

            store
                .remove_device(
                    &ann,
                    "dev-a",
                    &live_session(&store, &ann).await,
                    T0,
                    &[],
                    &audit(Some(&ann), "x"),
                )
                .await
                .unwrap();
            assert!(
                store
                    .hardware_token("B-1")
                    .await
                    .unwrap()
                    .unwrap()
                    .device_id
                    .is_none(),
                "{name}: free again"
            );
            let reused = store
                .assign_hardware_device(
                    &device(&bob, "dev-d", "B-1"),
                    8,
                    &[],
                    &audit(Some(&bob), "x"),
                )
                .await
                .unwrap();
            assert_eq!(reused, AssignOutcome::Assigned, "{name}");
        }
    }
}
