//! Recovery flows and `This wasn't me`.

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
