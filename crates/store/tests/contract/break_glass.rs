//! The store contract of the operator's break-glass commands (`latchkey account reset-mfa`,
//! `account unblock-recovery`), on SQLite and PostgreSQL with the same assertions: what each
//! changes, that its audit record and the owner's notice commit with the change, and that a
//! refused call writes nothing at all.

use super::*;

use latchkey_domain::Duration;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::session::SessionKind;
use latchkey_domain::totp::TotpParams;

const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA";

fn audit(account: &AccountId, event: &str) -> AuditRecord {
    AuditRecord {
        at: T0,
        account_id: Some(account.clone()),
        client_addr: "cli".to_owned(),
        user_agent: "operator-contract-test".to_owned(),
        event: event.to_owned(),
        outcome: "success".to_owned(),
        detail: format!("{event} detail"),
    }
}

fn notice(to: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        kind: "email",
        recipient: to.to_owned(),
        payload: vec![1, 2, 3],
        created_at: T0,
    }
}

async fn active_account(store: &Arc<dyn Store>, id: u64, email: &str) -> AccountId {
    let account = NewAccount {
        id: AccountId::from_random(id),
        email: EmailAddress::parse(email).unwrap(),
        name: "Acme".to_owned(),
        phone: PhoneNumber::parse("+442079460958").unwrap(),
        phone_verified_at: Some(T0),
        email_verified_at: Some(T0),
        status: AccountStatus::Active,
        password_hash: PASSWORD_HASH.to_owned(),
        created_at: T0,
    };
    store
        .insert_account(&account, None, &[], &audit(&account.id, "sign_up"))
        .await
        .unwrap();
    account.id
}

async fn virtual_device(store: &Arc<dyn Store>, account: &AccountId, id: &str) {
    store
        .create_enrollment(&NewEnrollment {
            id: latchkey_domain::EnrollmentId::new(format!("enr-{id}")),
            account_id: account.clone(),
            kind: DeviceKind::Virtual,
            secret_sealed: vec![9; 40],
            created_at: T0,
            expires_at: T0 + Duration::minutes(15),
        })
        .await
        .unwrap();
    let device = NewDevice {
        id: latchkey_domain::DeviceId::new(id.to_owned()),
        account_id: account.clone(),
        kind: DeviceKind::Virtual,
        name: id.to_owned(),
        secret_sealed: vec![7; 40],
        params: TotpParams::VIRTUAL,
        last_used_step: 100,
        created_at: T0,
        serial: None,
        added_by: None,
    };
    let outcome = store
        .assign_device(
            &latchkey_domain::EnrollmentId::new(format!("enr-{id}")),
            &device,
            8,
            T0,
            &[],
            &audit(account, "mfa_activated"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AssignOutcome::Assigned);
}

async fn hardware_device(store: &Arc<dyn Store>, account: &AccountId, id: &str, serial: &str) {
    store
        .import_tokens(
            &[NewHardwareToken {
                serial: serial.to_owned(),
                manufacturer: None,
                params: TotpParams::VIRTUAL,
                secret_sealed: vec![5; 40],
                imported_at: T0,
            }],
            &audit(account, "tokens_imported"),
        )
        .await
        .unwrap();
    let device = NewDevice {
        id: latchkey_domain::DeviceId::new(id.to_owned()),
        account_id: account.clone(),
        kind: DeviceKind::Hardware,
        name: format!("Token {serial}"),
        secret_sealed: vec![6; 40],
        params: TotpParams::VIRTUAL,
        last_used_step: 10,
        created_at: T0,
        serial: Some(serial.to_owned()),
        added_by: None,
    };
    let outcome = store
        .assign_hardware_device(&device, 8, &[], &audit(account, "mfa_activated"))
        .await
        .unwrap();
    assert_eq!(outcome, AssignOutcome::Assigned);
}

async fn signed_in(
    store: &Arc<dyn Store>,
    account: &AccountId,
    device: Option<&str>,
) -> SecretToken {
    let token = SecretToken::generate();
    let session = NewSession {
        token_hash: token.hash(),
        public_id: latchkey_service::secrets::new_id("ses"),
        account_id: account.clone(),
        kind: SessionKind::Full,
        mfa_device_id: device.map(latchkey_domain::DeviceId::new),
        created_at: T0,
        expires_at: T0 + Duration::hours(12),
        client_addr: "192.0.2.1".to_owned(),
        user_agent: "test".to_owned(),
        replaces: None,
    };
    match device {
        // A sign-in with a device, as the code step issues it (also while blocked).
        Some(device) => {
            let attempt = SecretToken::generate();
            store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    account,
                    generation(store, account).await,
                    "*",
                    T0,
                    T0 + Duration::minutes(10),
                    &audit(account, "x"),
                )
                .await
                .unwrap();
            assert!(
                store
                    .complete_mfa_sign_in(
                        &attempt.hash(),
                        &latchkey_domain::DeviceId::new(device),
                        1000,
                        &session,
                        &audit(account, "sign_in")
                    )
                    .await
                    .unwrap()
            );
        }
        None => assert_eq!(
            store
                .start_session(
                    &session,
                    generation(store, account).await,
                    "*",
                    &audit(account, "sign_in")
                )
                .await
                .unwrap(),
            SessionStart::Started
        ),
    }
    token
}

fn flow(account: &AccountId, id: &str, at: Timestamp) -> NewRecoveryFlow {
    NewRecoveryFlow {
        id: latchkey_domain::FlowId::new(id.to_owned()),
        attempt_hash: SecretToken::generate().hash(),
        source: "*".to_owned(),
        started_from: "192.0.2.9".to_owned(),
        started_agent: "test".to_owned(),
        token_hash: SecretToken::generate().hash(),
        account_id: account.clone(),
        cancel_token_hash: SecretToken::generate().hash(),
        created_at: at,
        expires_at: at + Duration::minutes(30),
    }
}

/// Blocks alternative factors the way the owner does: a recovery flow, then `This wasn't me`.
async fn block(store: &Arc<dyn Store>, account: &AccountId) {
    let started = flow(
        account,
        &format!("rec-block-{account}"),
        T0 + Duration::seconds(100),
    );
    assert_eq!(
        store
            .create_recovery_flow(&started, (5, T0), &[], &audit(account, "recovery_started"))
            .await
            .unwrap(),
        FlowStart::Started
    );
    store
        .report_recovery(
            &RecoveryReport {
                flow_id: &started.id,
                account,
                undo_window: Duration::hours(24 * 7),
                revoked_password_hash: "$argon2id$revoked",
                now: T0 + Duration::seconds(300),
            },
            &[],
            &audit(account, "recovery_cancelled"),
        )
        .await
        .unwrap()
        .expect("reported");
    assert!(store.recovery_blocked_at(account).await.unwrap().is_some());
}

/// Whether a new recovery flow may start: the observable meaning of "not blocked".
async fn recovery_can_start(store: &Arc<dyn Store>, account: &AccountId, id: &str) -> bool {
    let new = flow(account, id, T0 + Duration::seconds(1000));
    match store
        .create_recovery_flow(&new, (50, T0), &[], &audit(account, "recovery_started"))
        .await
        .unwrap()
    {
        FlowStart::Started => true,
        FlowStart::Blocked => false,
        other => panic!("unexpected {other:?}"),
    }
}

async fn events_of(store: &Arc<dyn Store>, account: &AccountId) -> Vec<String> {
    store
        .recent_audit(Some(account), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect()
}

async fn notices_to(store: &Arc<dyn Store>, to: &str) -> usize {
    store
        .outbox_status(1000)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.recipient == to)
        .count()
}

/// Columns the `Store` port does not read back, straight from the database.
async fn raw_i64s(backend: &Backend, sql: &str) -> Vec<Option<i64>> {
    use sqlx::Row;
    match &backend.postgres {
        Some(pg) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pg.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<Option<i64>, _>(0))
            .collect(),
        None => {
            let pool = sqlx::SqlitePool::connect(&backend.url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<Option<i64>, _>(0))
                .collect();
            pool.close().await;
            rows
        }
    }
}

#[tokio::test]
async fn an_mfa_reset_removes_every_device_ends_every_session_and_lifts_the_block() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let ann = active_account(&store, 70, "ann@example.com").await;
        let bob = active_account(&store, 71, "bob@example.com").await;
        virtual_device(&store, &ann, "mfa-ann-phone").await;
        hardware_device(&store, &ann, "mfa-ann-token", "TOK-1").await;
        virtual_device(&store, &bob, "mfa-bob-phone").await;
        block(&store, &ann).await;
        // What the owner had begun since, none of which may finish after the reset.
        let by_device = signed_in(&store, &ann, Some("mfa-ann-phone")).await;
        let by_password = signed_in(&store, &ann, Some("mfa-ann-token")).await;
        let bobs = signed_in(&store, &bob, Some("mfa-bob-phone")).await;
        let attempt = SecretToken::generate();
        store
            .start_sign_in_attempt(
                &attempt.hash(),
                &ann,
                generation(&store, &ann).await,
                "*",
                T0,
                T0 + Duration::minutes(10),
                &audit(&ann, "sign_in_password_verified"),
            )
            .await
            .unwrap();
        store
            .create_enrollment(&NewEnrollment {
                id: latchkey_domain::EnrollmentId::new("enr-pending".to_owned()),
                account_id: ann.clone(),
                kind: DeviceKind::Virtual,
                secret_sealed: vec![9; 40],
                created_at: T0,
                expires_at: T0 + Duration::minutes(15),
            })
            .await
            .unwrap();
        store
            .create_ceremony(&NewCeremony {
                id: latchkey_domain::CeremonyId::new("cer-pending".to_owned()),
                account_id: ann.clone(),
                purpose: "register",
                state_sealed: vec![1; 16],
                name: "Key".to_owned(),
                created_at: T0,
                expires_at: T0 + Duration::minutes(30),
            })
            .await
            .unwrap();
        let events_before = events_of(&store, &ann).await;
        let now = T0 + Duration::seconds(500);

        // An expectation that no longer holds (the operator's notice would name one device
        // too few) changes nothing and writes nothing.
        let stale = store
            .reset_mfa(
                &MfaReset {
                    account: &ann,
                    devices: &[latchkey_domain::DeviceId::new("mfa-ann-phone")],
                    blocked: true,
                    now,
                },
                &[notice("ann@example.com")],
                &audit(&ann, "operator_reset_mfa"),
            )
            .await
            .unwrap();
        assert_eq!(stale, MfaResetOutcome::Changed, "{name}");
        let not_blocked = store
            .reset_mfa(
                &MfaReset {
                    account: &ann,
                    devices: &[
                        latchkey_domain::DeviceId::new("mfa-ann-token"),
                        latchkey_domain::DeviceId::new("mfa-ann-phone"),
                    ],
                    blocked: false,
                    now,
                },
                &[notice("ann@example.com")],
                &audit(&ann, "operator_reset_mfa"),
            )
            .await
            .unwrap();
        assert_eq!(not_blocked, MfaResetOutcome::Changed, "{name}");
        assert_eq!(store.mfa_devices(&ann).await.unwrap().len(), 2, "{name}");
        assert_eq!(events_of(&store, &ann).await, events_before, "{name}");
        assert_eq!(notices_to(&store, "ann@example.com").await, 0, "{name}");

        // The expectation in any order.
        let done = store
            .reset_mfa(
                &MfaReset {
                    account: &ann,
                    devices: &[
                        latchkey_domain::DeviceId::new("mfa-ann-token"),
                        latchkey_domain::DeviceId::new("mfa-ann-phone"),
                    ],
                    blocked: true,
                    now,
                },
                &[notice("ann@example.com")],
                &audit(&ann, "operator_reset_mfa"),
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            MfaResetOutcome::Reset {
                sessions_revoked: 2
            },
            "{name}"
        );
        assert!(store.mfa_devices(&ann).await.unwrap().is_empty(), "{name}");
        let token = store.hardware_token("TOK-1").await.unwrap().unwrap();
        assert!(
            token.device_id.is_none() && token.account_id.is_none(),
            "{name}: the token is back in the inventory"
        );
        // Kept as records, with their secrets erased.
        assert_eq!(
            raw_i64s(
                &backend,
                &format!(
                    "SELECT removed_at FROM mfa_devices WHERE account_id = '{ann}' \
                     AND secret_sealed IS NULL ORDER BY id"
                )
            )
            .await,
            [Some(now.0), Some(now.0)],
            "{name}"
        );
        for token in [&by_device, &by_password] {
            let session = stored_session(&store, &token.hash()).await.unwrap();
            assert_eq!(session.revoked_at, Some(now), "{name}");
        }
        assert!(
            store
                .sign_in_attempt(&attempt.hash(), now)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert!(
            store
                .enrollment(
                    &latchkey_domain::EnrollmentId::new("enr-pending"),
                    &ann,
                    now
                )
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert!(
            store
                .take_ceremony(
                    &latchkey_domain::CeremonyId::new("cer-pending"),
                    &ann,
                    "register",
                    now
                )
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert!(
            store.recovery_blocked_at(&ann).await.unwrap().is_none(),
            "{name}"
        );
        assert_eq!(
            raw_i64s(
                &backend,
                &format!(
                    "SELECT COALESCE(recovery_block_since, recovery_block_reset_at) \
                     FROM accounts WHERE id = '{ann}'"
                )
            )
            .await,
            [None],
            "{name}: the whole block is gone"
        );
        let account = store.account_by_id(&ann).await.unwrap().unwrap();
        assert_eq!(
            account.password_hash, "$argon2id$revoked",
            "{name}: the password is the operator's to leave alone"
        );
        let events = events_of(&store, &ann).await;
        assert_eq!(events[0], "operator_reset_mfa", "{name}");
        assert_eq!(events.len(), events_before.len() + 1, "{name}");
        assert_eq!(notices_to(&store, "ann@example.com").await, 1, "{name}");
        assert!(
            recovery_can_start(&store, &ann, "rec-after").await,
            "{name}"
        );

        // The other account is untouched.
        assert_eq!(store.mfa_devices(&bob).await.unwrap().len(), 1, "{name}");
        let session = stored_session(&store, &bobs.hash()).await.unwrap();
        assert!(session.revoked_at.is_none(), "{name}");

        // An account without devices can be reset too (sessions, attempts); one that does
        // not exist cannot.
        assert_eq!(
            store
                .reset_mfa(
                    &MfaReset {
                        account: &ann,
                        devices: &[],
                        blocked: false,
                        now,
                    },
                    &[],
                    &audit(&ann, "operator_reset_mfa"),
                )
                .await
                .unwrap(),
            MfaResetOutcome::Reset {
                sessions_revoked: 0
            },
            "{name}"
        );
        let nobody = AccountId::from_random(99);
        assert_eq!(
            store
                .reset_mfa(
                    &MfaReset {
                        account: &nobody,
                        devices: &[],
                        blocked: false,
                        now,
                    },
                    &[notice("nobody@example.com")],
                    &audit(&nobody, "operator_reset_mfa"),
                )
                .await
                .unwrap(),
            MfaResetOutcome::NoAccount,
            "{name}"
        );
        assert_eq!(notices_to(&store, "nobody@example.com").await, 0, "{name}");
    }
}

#[tokio::test]
async fn an_unblock_lifts_only_a_block_and_commits_with_its_record_and_notice() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let ann = active_account(&store, 72, "ann@example.com").await;
        virtual_device(&store, &ann, "mfa-ann-phone").await;
        let session = signed_in(&store, &ann, Some("mfa-ann-phone")).await;
        let events_before = events_of(&store, &ann).await;

        // Not blocked: refused, nothing written.
        assert!(
            !store
                .unblock_recovery(
                    &ann,
                    &[notice("ann@example.com")],
                    &audit(&ann, "operator_unblocked_recovery")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(events_of(&store, &ann).await, events_before, "{name}");
        assert_eq!(notices_to(&store, "ann@example.com").await, 0, "{name}");

        block(&store, &ann).await;
        assert!(
            !recovery_can_start(&store, &ann, "rec-blocked").await,
            "{name}"
        );
        let devices_before = store.mfa_devices(&ann).await.unwrap().len();
        assert!(
            store
                .unblock_recovery(
                    &ann,
                    &[notice("ann@example.com")],
                    &audit(&ann, "operator_unblocked_recovery")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store.recovery_blocked_at(&ann).await.unwrap().is_none(),
            "{name}"
        );
        assert_eq!(
            raw_i64s(
                &backend,
                &format!(
                    "SELECT COALESCE(recovery_block_since, recovery_block_reset_at) \
                     FROM accounts WHERE id = '{ann}'"
                )
            )
            .await,
            [None],
            "{name}"
        );
        assert_eq!(
            events_of(&store, &ann).await[0],
            "operator_unblocked_recovery",
            "{name}"
        );
        assert_eq!(notices_to(&store, "ann@example.com").await, 1, "{name}");
        assert!(
            recovery_can_start(&store, &ann, "rec-unblocked").await,
            "{name}"
        );
        // Nothing else changes: devices stay; the session `This wasn't me` ended stays ended.
        assert_eq!(
            store.mfa_devices(&ann).await.unwrap().len(),
            devices_before,
            "{name}"
        );
        assert!(
            stored_session(&store, &session.hash())
                .await
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}"
        );

        // Once: the block is gone now.
        assert!(
            !store
                .unblock_recovery(
                    &ann,
                    &[notice("ann@example.com")],
                    &audit(&ann, "operator_unblocked_recovery")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(notices_to(&store, "ann@example.com").await, 1, "{name}");
        let nobody = AccountId::from_random(98);
        assert!(
            !store
                .unblock_recovery(&nobody, &[], &audit(&nobody, "operator_unblocked_recovery"))
                .await
                .unwrap(),
            "{name}"
        );
    }
}
