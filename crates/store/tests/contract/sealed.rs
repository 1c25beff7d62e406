//! Sealed values as a key rotation walks them: every kind read a page at a time in key
//! order, and a re-seal that writes only over the value it read.

use super::*;
use latchkey_domain::totp::TotpParams;

fn token(serial: &str, byte: u8) -> NewHardwareToken {
    NewHardwareToken {
        serial: serial.to_owned(),
        manufacturer: None,
        params: TotpParams::VIRTUAL,
        secret_sealed: vec![byte; 40],
        imported_at: T0,
    }
}

async fn all(store: &Arc<dyn Store>, kind: SealedKind, page: i64) -> Vec<SealedRow> {
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let next = store
            .sealed_page(kind, after.as_deref(), page)
            .await
            .unwrap();
        let full = next.len() as i64 == page;
        after = next.last().map(|r| r.key.clone());
        rows.extend(next);
        if !full {
            return rows;
        }
    }
}

#[tokio::test]
async fn sealed_values_are_paged_in_key_order_and_resealed_only_over_what_was_read() {
    for Backend { name, store, .. } in backends().await {
        store
            .import_tokens(
                &[token("T-3", 3), token("T-1", 1), token("T-2", 2)],
                &audit(None, "tokens_imported"),
            )
            .await
            .unwrap();
        for n in 0..3 {
            store
                .append_audit_with_outbox(
                    &[NewOutboxMessage {
                        kind: "email",
                        recipient: format!("r{n}@example.com"),
                        payload: vec![10 + n; 30],
                        created_at: T0,
                    }],
                    &audit(None, "x"),
                )
                .await
                .unwrap();
        }
        let tokens = all(&store, SealedKind::HardwareToken, 2).await;
        assert_eq!(
            tokens.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["T-1", "T-2", "T-3"],
            "{name}"
        );
        assert_eq!(tokens[0].sealed, vec![1; 40], "{name}");
        let mail = all(&store, SealedKind::Outbox, 2).await;
        assert_eq!(mail.len(), 3, "{name}");
        assert_eq!(
            mail[1].bound_to,
            ["email".to_owned(), "r1@example.com".to_owned()],
            "{name}"
        );
        for kind in [
            SealedKind::MfaDevice,
            SealedKind::Enrollment,
            SealedKind::SecurityKeyCeremony,
        ] {
            assert!(all(&store, kind, 2).await.is_empty(), "{name}: {kind:?}");
        }

        // Only over the value read: a value changed meanwhile is left alone.
        assert!(
            !store
                .reseal(SealedKind::HardwareToken, "T-2", &[9; 40], &[7; 50])
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .reseal(SealedKind::HardwareToken, "T-2", &[2; 40], &[7; 50])
                .await
                .unwrap(),
            "{name}"
        );
        let tokens = all(&store, SealedKind::HardwareToken, 10).await;
        assert_eq!(tokens[1].sealed, vec![7; 50], "{name}");
        assert_eq!(
            tokens[0].sealed,
            vec![1; 40],
            "{name}: the others untouched"
        );
        let key = mail[2].key.clone();
        assert!(
            store
                .reseal(SealedKind::Outbox, &key, &mail[2].sealed, &[8; 31])
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .reseal(SealedKind::Outbox, "not-a-number", &[8; 31], &[8; 32])
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            all(&store, SealedKind::Outbox, 10).await[2].sealed,
            vec![8; 31],
            "{name}"
        );
    }
}
