//! Virtual MFA devices: enrolment, the cap, resync and removal.

use super::*;
use latchkey_domain::Duration;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::totp::TotpParams;

pub(super) fn enrollment(account: &AccountId, id: &str) -> NewEnrollment {
    NewEnrollment {
        id: latchkey_domain::EnrollmentId::new(id.to_owned()),
        account_id: account.clone(),
        kind: DeviceKind::Virtual,
        secret_sealed: vec![9; 40],
        created_at: T0,
        expires_at: T0 + Duration::minutes(15),
    }
}

pub(super) fn device(account: &AccountId, id: &str, name: &str) -> NewDevice {
    NewDevice {
        id: latchkey_domain::DeviceId::new(id.to_owned()),
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

pub(super) async fn add(
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
            &latchkey_domain::EnrollmentId::new(format!("enr-{id}")),
            &device(account, id, name),
            8,
            T0,
            &[],
            &audit(Some(account), "mfa_activated"),
        )
        .await
        .unwrap()
}

pub(super) fn mfa_session(account: &AccountId, device: &str) -> (SecretToken, NewSession) {
    let (secret, mut new) = session(account);
    new.mfa_device_id = Some(latchkey_domain::DeviceId::new(device.to_owned()));
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
            store
                .enrollment(&latchkey_domain::EnrollmentId::new("enr-1"), &id, T0)
                .await
                .unwrap()
                .is_some(),
            "{name}"
        );
        let other = AccountId::from_random(999);
        assert!(
            store
                .enrollment(&latchkey_domain::EnrollmentId::new("enr-1"), &other, T0)
                .await
                .unwrap()
                .is_none(),
            "{name}: another account's"
        );
        let outcome = store
            .assign_device(
                &latchkey_domain::EnrollmentId::new("enr-1"),
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
                &latchkey_domain::EnrollmentId::new("enr-1"),
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
            store
                .enrollment(&latchkey_domain::EnrollmentId::new("enr-1"), &id, T0)
                .await
                .unwrap()
                .is_none(),
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
                .enrollment(&latchkey_domain::EnrollmentId::new("enr-old"), &id, late)
                .await
                .unwrap()
                .is_none(),
            "{name}: expired"
        );
        let outcome = store
            .assign_device(
                &latchkey_domain::EnrollmentId::new("enr-old"),
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
                            &latchkey_domain::EnrollmentId::new(format!("enr-{i}")),
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
async fn resync_records_drift_and_only_moves_forward() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 25, "mfa6@example.com").await;
        add(&store, &id, "dev-1", "Phone").await;
        assert!(
            !store
                .resync_device(
                    &id,
                    &latchkey_domain::DeviceId::new("dev-1"),
                    100,
                    -3,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}: used step"
        );
        assert!(
            store
                .resync_device(
                    &id,
                    &latchkey_domain::DeviceId::new("dev-1"),
                    110,
                    -3,
                    &[],
                    &audit(Some(&id), "x")
                )
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
                .resync_device(
                    &id,
                    &latchkey_domain::DeviceId::new("no-such"),
                    200,
                    0,
                    &[],
                    &audit(Some(&id), "x")
                )
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
                    &latchkey_domain::DeviceId::new("dev-1"),
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
                    &latchkey_domain::DeviceId::new("dev-1"),
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
            stored_session(&store, &by_phone.hash())
                .await
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}"
        );
        assert!(
            stored_session(&store, &by_tablet.hash())
                .await
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
            .map(|d| d.id.to_string())
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
                    &latchkey_domain::DeviceId::new("dev-1"),
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
                    &latchkey_domain::DeviceId::new("dev-2"),
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
