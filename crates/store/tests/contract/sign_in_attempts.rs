//! Sign-in attempts: a code step used once, reserved on the right counters.

use super::devices::{add, mfa_session};
use super::*;
use latchkey_domain::Duration;

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
                            &latchkey_domain::DeviceId::new("dev-1"),
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
                .complete_mfa_sign_in(
                    &open[0],
                    &latchkey_domain::DeviceId::new("dev-1"),
                    101,
                    &new,
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .complete_mfa_sign_in(
                    &open[0],
                    &latchkey_domain::DeviceId::new("dev-1"),
                    100,
                    &new,
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        let (_, new) = mfa_session(&id, "dev-1");
        assert!(
            store
                .complete_mfa_sign_in(
                    &open[0],
                    &latchkey_domain::DeviceId::new("dev-1"),
                    102,
                    &new,
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        // An attempt is single-use too.
        let (_, new) = mfa_session(&id, "dev-1");
        assert!(
            !store
                .complete_mfa_sign_in(
                    &open[0],
                    &latchkey_domain::DeviceId::new("dev-1"),
                    103,
                    &new,
                    &audit(Some(&id), "x")
                )
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
                    &latchkey_domain::DeviceId::new("dev-1"),
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
        for counted in [3, 4] {
            assert_eq!(
                store
                    .reserve_attempt(&code(100), &policy, T0)
                    .await
                    .unwrap(),
                Reservation::Reserved { failures: counted },
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
                    &latchkey_domain::DeviceId::new("dev-1"),
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
