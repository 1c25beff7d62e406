//! Security keys: the signature counter under races, and ceremonies taken once.

use super::devices::{device, mfa_session};
use super::races::{RACERS, race, read_i64, winners};
use super::*;
use latchkey_domain::Duration;
use latchkey_domain::mfa::DeviceKind;

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
                        &latchkey_domain::DeviceId::new("key-1"),
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
                        &latchkey_domain::DeviceId::new("key-0"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_finishes_take_one_ceremony_once() {
    for backend in backends().await {
        let (name, store) = (backend.name, Arc::clone(&backend.store));
        let id = active_account(&store, 320, "race-ceremony@example.com").await;
        for purpose in ["register", "authenticate"] {
            let ceremony = NewCeremony {
                id: latchkey_domain::CeremonyId::new(format!("cer-{purpose}")),
                account_id: id.clone(),
                purpose,
                state_sealed: purpose.as_bytes().to_vec(),
                name: format!("Key for {purpose}"),
                created_at: T0,
                expires_at: T0 + Duration::minutes(5),
            };
            store.create_ceremony(&ceremony).await.unwrap();
            // Each finish takes it at its own moment, so `used_at` tells which one won.
            let at = |n: usize| T0 + Duration::seconds(1 + n as i64);
            let results = race(|n| {
                let (store, id, ceremony) = (Arc::clone(&store), id.clone(), ceremony.id.clone());
                async move {
                    store
                        .take_ceremony(&ceremony, &id, purpose, at(n))
                        .await
                        .unwrap()
                }
            })
            .await;
            let won = winners(&results, Option::is_some);
            assert_eq!(won.len(), 1, "{name}: {purpose} taken once, got {won:?}");
            let taken = results[won[0]].as_ref().unwrap();
            assert_eq!(taken.state_sealed, ceremony.state_sealed, "{name}");
            assert_eq!(taken.name, ceremony.name, "{name}");
            assert_eq!(
                read_i64(
                    &backend,
                    "SELECT used_at FROM webauthn_ceremonies WHERE id = $1",
                    ceremony.id.as_str()
                )
                .await,
                Some(at(won[0]).0),
                "{name}: the winner's take is the one stored"
            );
            assert!(
                store
                    .take_ceremony(&ceremony.id, &id, purpose, at(RACERS))
                    .await
                    .unwrap()
                    .is_none(),
                "{name}: {purpose} is gone for good"
            );
        }
    }
}
