//! The outbox: leases, retries, and no message handed out twice.

use super::*;

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
