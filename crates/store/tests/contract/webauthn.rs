//! Security keys: the signature counter under races.

use super::devices::{device, mfa_session};
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
