//! Failure counters: reservations judged one after the other.

use super::*;

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
        let mut reserved: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| match o {
                Reservation::Reserved { failures } => Some(*failures),
                _ => None,
            })
            .collect();
        reserved.sort_unstable();
        assert_eq!(
            reserved,
            (1..=policy.free_failures).collect::<Vec<_>>(),
            "only the free failures pass at once, each reaching a count of its own (so one \
             of them, not several, is the crossing the owner hears of): {name} {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Reservation::Reserved { .. })
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
            Reservation::Reserved { failures: 1 },
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
            stored_session(&store, &old.hash())
                .await
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}"
        );
        assert!(
            stored_session(&store, &new.hash())
                .await
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
