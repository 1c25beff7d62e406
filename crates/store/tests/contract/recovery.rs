//! Recovery flows and `This wasn't me`, and each of their steps taken once under races.

use super::races::{
    RACERS, audit_details, race, racer_audit, racer_mail, racers_with_mail, winners,
};
use super::*;
use latchkey_domain::Duration;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::recovery::RecoveryState;
use latchkey_domain::totp::TotpParams;

async fn device_at(store: &Arc<dyn Store>, account: &AccountId, id: &str, at: Timestamp) {
    let device = NewDevice {
        id: latchkey_domain::DeviceId::new(id.to_owned()),
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
            id: latchkey_domain::EnrollmentId::new(format!("enr-{id}")),
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
                &latchkey_domain::EnrollmentId::new(format!("enr-{id}")),
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
    new.mfa_device_id = Some(latchkey_domain::DeviceId::new(device.to_owned()));
    assert!(
        store
            .complete_mfa_sign_in(
                &attempt.hash(),
                &latchkey_domain::DeviceId::new(device),
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
            id: latchkey_domain::FlowId::new(format!("rec-{n}")),
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
        let (rec1, rec2) = (
            latchkey_domain::FlowId::new("rec-1"),
            latchkey_domain::FlowId::new("rec-2"),
        );
        let undone = store
            .report_recovery(&report(&rec1), &[], &audit(Some(&id), "x"))
            .await
            .unwrap()
            .expect(name);
        assert!(
            undone.devices_removed.is_empty(),
            "{name}: no session was granted"
        );
        assert!(
            store
                .report_recovery(&report(&rec2), &[], &audit(Some(&id), "x"))
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
            id: latchkey_domain::FlowId::new(format!("rec-{n}")),
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
        // The owner allowed an application before; the intruder, signed in, another after.
        super::oidc::consents_given(
            &store,
            &id,
            T0 + Duration::seconds(5),
            T0 + Duration::seconds(60),
        )
        .await;
        mark_completed(&backend, "rec-1", T0 + Duration::seconds(50)).await;
        device_at(&store, &id, "dev-intruder", T0 + Duration::seconds(60)).await;
        store
            .create_recovery_flow(&flow(2, 100), (5, T0), &[], &audit(Some(&id), "x"))
            .await
            .unwrap();
        let report = RecoveryReport {
            flow_id: &latchkey_domain::FlowId::new("rec-2"),
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
        assert_eq!(
            super::oidc::consents_left(&store, &id).await,
            (true, false),
            "{name}: the intruder's consent goes with its devices, the owner's stays"
        );
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
            id: latchkey_domain::FlowId::new("rec-1".to_owned()),
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
            flow_id: &latchkey_domain::FlowId::new("rec-1"),
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
            vec![latchkey_domain::DeviceId::new("dev-intruder")],
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
            id: latchkey_domain::FlowId::new("rec-2".to_owned()),
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

/// A flow of `account` begun at `at` from a sign-in attempt of its own.
fn new_flow(account: &AccountId, id: &str, at: Timestamp) -> NewRecoveryFlow {
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

/// Starts `flow` and emails its link: the live link's secret.
async fn start_with_link(store: &Arc<dyn Store>, flow: &NewRecoveryFlow) -> SecretToken {
    let account = Some(&flow.account_id);
    assert_eq!(
        store
            .create_recovery_flow(flow, (100, T0), &[], &audit(account, "recovery_started"))
            .await
            .unwrap(),
        FlowStart::Started
    );
    let link = SecretToken::generate();
    let email = RecoveryEmail {
        flow_id: &flow.id,
        token_hash: &link.hash(),
        link_expires_at: flow.created_at + Duration::minutes(15),
        max_emails: 3,
        now: flow.created_at,
    };
    assert!(
        store
            .record_recovery_email(&email, &[], &audit(account, "recovery_email_sent"))
            .await
            .unwrap()
    );
    link
}

/// A flow begun at T0, through the port to step 2: the email proven, a call awaited.
pub(super) async fn flow_at_step_two(
    store: &Arc<dyn Store>,
    account: &AccountId,
    id: &str,
) -> NewRecoveryFlow {
    let flow = new_flow(account, id, T0);
    let link = start_with_link(store, &flow).await;
    assert!(
        store
            .verify_recovery_email(
                &flow.id,
                &link.hash(),
                T0 + Duration::seconds(1),
                &audit(Some(account), "recovery_email_verified")
            )
            .await
            .unwrap()
    );
    flow
}

/// A flow begun at T0, through the port to step 3: the phone proven too, by a call
/// answered with the right digits.
async fn flow_at_step_three(
    store: &Arc<dyn Store>,
    account: &AccountId,
    id: &str,
) -> NewRecoveryFlow {
    let flow = flow_at_step_two(store, account, id).await;
    let (call, provider) =
        super::calls::answered_recovery_call(store, account, flow.id.as_str()).await;
    let now = T0 + Duration::seconds(3);
    assert!(
        store
            .reserve_digit_attempt(&latchkey_domain::CallId::new(&*call), 0, 3, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .verify_call(
                &latchkey_domain::CallId::new(&*call),
                &provider,
                now,
                &audit(Some(account), "phone_code")
            )
            .await
            .unwrap()
    );
    flow
}

fn state(record: Option<RecoveryFlowRecord>) -> Option<RecoveryState> {
    record.map(|flow| flow.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_clicks_on_one_link_verify_the_email_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 300, "race-link@example.com").await;
        let flow = new_flow(&id, "rec-link", T0);
        let link = start_with_link(&store, &flow).await;
        let now = T0 + Duration::seconds(30);
        let results = race(|n| {
            let (store, id, flow_id, link) =
                (Arc::clone(&store), id.clone(), flow.id.clone(), link.hash());
            async move {
                store
                    .verify_recovery_email(
                        &flow_id,
                        &link,
                        now,
                        &racer_audit(&id, "recovery_email_verified", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |verified| *verified);
        assert_eq!(won.len(), 1, "{name}: one click verifies, got {won:?}");
        assert_eq!(
            audit_details(&store, &id, "recovery_email_verified").await,
            [format!("racer-{}", won[0])],
            "{name}: only the winner's step was audited"
        );
        assert_eq!(
            state(store.recovery_flow(&flow.token_hash).await.unwrap()),
            Some(RecoveryState::EmailVerified),
            "{name}"
        );
        assert!(
            store
                .recovery_flow_by_email_token(&link.hash(), now)
                .await
                .unwrap()
                .is_none(),
            "{name}: the link is spent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_completions_of_one_flow_issue_one_session() {
    use latchkey_domain::session::SessionKind;
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 301, "race-complete@example.com").await;
        let earlier = live_session(&store, &id).await;
        let flow = flow_at_step_three(&store, &id, "rec-complete").await;
        let now = T0 + Duration::seconds(60);
        let sessions: Vec<(SecretToken, NewSession)> = (0..RACERS)
            .map(|_| {
                let (secret, mut new) = session(&id);
                new.kind = SessionKind::AlternativeFactors;
                new.created_at = now;
                new.expires_at = now + Duration::hours(1);
                (secret, new)
            })
            .collect();
        let results = race(|n| {
            let (store, id, flow_id, new) = (
                Arc::clone(&store),
                id.clone(),
                flow.id.clone(),
                sessions[n].1.clone(),
            );
            async move {
                store
                    .complete_recovery(
                        &flow_id,
                        T0,
                        10,
                        &new,
                        &[racer_mail(n)],
                        &racer_audit(&id, "recovery_completed", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |done| *done == Completion::Completed);
        assert_eq!(won.len(), 1, "{name}: one completion, got {results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Completion::Completed | Completion::NotReady)),
            "{name}: {results:?}"
        );
        // Exactly one session was ever written (a second winner would have revoked the
        // first one's, so live sessions alone would not tell).
        let mut issued = Vec::new();
        for (n, (secret, _)) in sessions.iter().enumerate() {
            if let Some(record) = stored_session(&store, &secret.hash()).await {
                issued.push((n, record.revoked_at));
            }
        }
        assert_eq!(
            issued,
            [(won[0], None)],
            "{name}: one live recovery session"
        );
        assert!(
            stored_session(&store, &earlier)
                .await
                .expect(name)
                .revoked_at
                .is_some(),
            "{name}: every other session was signed out"
        );
        assert_eq!(
            audit_details(&store, &id, "recovery_completed").await,
            [format!("racer-{}", won[0])],
            "{name}"
        );
        assert_eq!(racers_with_mail(&store).await, won, "{name}: one notice");
        assert_eq!(
            state(store.recovery_flow(&flow.token_hash).await.unwrap()),
            Some(RecoveryState::Completed),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_reports_through_one_link_undo_the_recovery_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 302, "race-report@example.com").await;
        device_at(&store, &id, "dev-owner", T0 - Duration::hours(1)).await;
        let flow = flow_at_step_three(&store, &id, "rec-report").await;
        let (recovered, mut new) = session(&id);
        new.created_at = T0 + Duration::seconds(10);
        assert_eq!(
            store
                .complete_recovery(&flow.id, T0, 10, &new, &[], &audit(Some(&id), "x"))
                .await
                .unwrap(),
            Completion::Completed,
            "{name}"
        );
        device_at(&store, &id, "dev-intruder", T0 + Duration::seconds(20)).await;
        let before = generation(&store, &id).await;
        let now = T0 + Duration::seconds(60);
        let revoked = |n: usize| format!("$argon2id$revoked-by-racer-{n}");
        let results = race(|n| {
            let (store, id, flow_id, revoked) =
                (Arc::clone(&store), id.clone(), flow.id.clone(), revoked(n));
            async move {
                let report = RecoveryReport {
                    flow_id: &flow_id,
                    account: &id,
                    undo_window: Duration::hours(24 * 7),
                    revoked_password_hash: &revoked,
                    now,
                };
                store
                    .report_recovery(
                        &report,
                        &[racer_mail(n)],
                        &racer_audit(&id, "recovery_cancelled", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, Option::is_some);
        assert_eq!(won.len(), 1, "{name}: one report, got {results:?}");
        let undone = results[won[0]].clone().unwrap();
        assert_eq!(undone.devices_removed, ["dev-intruder"], "{name}");
        assert_eq!(undone.since, flow.created_at, "{name}");
        let account = store.account_by_id(&id).await.unwrap().expect(name);
        assert_eq!(
            account.password_generation,
            before + 1,
            "{name}: the password was replaced once"
        );
        assert_eq!(account.password_hash, revoked(won[0]), "{name}");
        assert_eq!(
            store.recovery_blocked_at(&id).await.unwrap(),
            Some(now),
            "{name}"
        );
        assert_eq!(
            audit_details(&store, &id, "recovery_cancelled").await,
            [format!("racer-{}", won[0])],
            "{name}"
        );
        assert_eq!(racers_with_mail(&store).await, won, "{name}: one notice");
        let left: Vec<_> = store
            .mfa_devices(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(left, ["dev-owner"], "{name}");
        assert_eq!(
            stored_session(&store, &recovered.hash())
                .await
                .expect(name)
                .revoked_at,
            Some(now),
            "{name}: the recovery session ended"
        );
        assert_eq!(
            store
                .recovery_flow(&flow.token_hash)
                .await
                .unwrap()
                .expect(name)
                .reported_at,
            Some(now),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_starts_from_one_attempt_start_one_flow() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 303, "race-start@example.com").await;
        let attempt = SecretToken::generate().hash();
        let flows: Vec<NewRecoveryFlow> = (0..RACERS)
            .map(|n| NewRecoveryFlow {
                attempt_hash: attempt.clone(),
                ..new_flow(&id, &format!("rec-start-{n}"), T0)
            })
            .collect();
        let results = race(|n| {
            let (store, id, flow) = (Arc::clone(&store), id.clone(), flows[n].clone());
            async move {
                store
                    .create_recovery_flow(
                        &flow,
                        (100, T0),
                        &[racer_mail(n)],
                        &racer_audit(&id, "recovery_started", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |start| *start == FlowStart::Started);
        assert_eq!(
            won.len(),
            1,
            "{name}: one flow per attempt, got {results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| matches!(r, FlowStart::Started | FlowStart::AlreadyStarted)),
            "{name}: {results:?}"
        );
        let mut stored = Vec::new();
        for (n, flow) in flows.iter().enumerate() {
            if store
                .recovery_flow(&flow.token_hash)
                .await
                .unwrap()
                .is_some()
            {
                stored.push(n);
            }
        }
        assert_eq!(stored, won, "{name}: only the winner's flow was stored");
        assert_eq!(
            audit_details(&store, &id, "recovery_started").await,
            [format!("racer-{}", won[0])],
            "{name}"
        );
        assert_eq!(racers_with_mail(&store).await, won, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_flows_started_at_once_fit_the_accounts_budget_exactly() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 304, "race-budget@example.com").await;
        let flows: Vec<NewRecoveryFlow> = (0..RACERS)
            .map(|n| new_flow(&id, &format!("rec-budget-{n}"), T0))
            .collect();
        let results = race(|n| {
            let (store, id, flow) = (Arc::clone(&store), id.clone(), flows[n].clone());
            async move {
                store
                    .create_recovery_flow(
                        &flow,
                        (3, T0),
                        &[racer_mail(n)],
                        &racer_audit(&id, "recovery_started", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |start| *start == FlowStart::Started);
        assert_eq!(won.len(), 3, "{name}: a budget of three, got {results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, FlowStart::Started | FlowStart::OverBudget)),
            "{name}: {results:?}"
        );
        let mut stored = Vec::new();
        for (n, flow) in flows.iter().enumerate() {
            if store
                .recovery_flow(&flow.token_hash)
                .await
                .unwrap()
                .is_some()
            {
                stored.push(n);
            }
        }
        assert_eq!(stored, won, "{name}");
        let mut audited = audit_details(&store, &id, "recovery_started").await;
        audited.sort_by_key(|detail| detail["racer-".len()..].parse::<usize>().unwrap());
        let expected: Vec<_> = won.iter().map(|n| format!("racer-{n}")).collect();
        assert_eq!(audited, expected, "{name}");
        assert_eq!(racers_with_mail(&store).await, won, "{name}");
    }
}

/// A contact changed after the flow began still stops it from issuing a session: the write
/// that would issue it reads the account's change dates itself. (An applied change also ends
/// running flows; this proves the write alone holds, whatever ended them or not.)
#[tokio::test]
async fn a_recovery_does_not_complete_while_a_changed_contact_cools_off() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let id = active_account(&store, 303, "cooling@example.com").await;
        let flow = flow_at_step_three(&store, &id, "rec-cooling").await;
        // The phone number's change date moves while the flow waits at step 3.
        let statement = format!(
            "UPDATE accounts SET phone_changed_at = {} WHERE id = '{}'",
            T0.0 + 5,
            id.as_str()
        );
        backend.execute_raw(&statement).await;
        let (_, mut new) = session(&id);
        new.created_at = T0 + Duration::seconds(10);
        // Changed after the cooling-off's start: refused, nothing issued.
        assert_eq!(
            store
                .complete_recovery(&flow.id, T0, 10, &new, &[], &audit(Some(&id), "x"))
                .await
                .unwrap(),
            Completion::NotReady,
            "{name}"
        );
        assert!(
            stored_session(&store, &new.token_hash).await.is_none(),
            "{name}"
        );
        // Changed before it: the flow completes.
        assert_eq!(
            store
                .complete_recovery(
                    &flow.id,
                    T0 + Duration::seconds(5),
                    10,
                    &new,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            Completion::Completed,
            "{name}"
        );
    }
}
