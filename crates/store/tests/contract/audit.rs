//! The audit log: read back in order, and never edited.

use super::*;

#[tokio::test]
async fn audit_records_read_back_newest_first_and_per_account() {
    for Backend { name, store, .. } in backends().await {
        let a = AccountId::from_random(13);
        for (i, event) in ["one", "two", "three"].iter().enumerate() {
            let mut record = audit(Some(&a), event);
            record.at = Timestamp(T0.0 + i as i64);
            store.append_audit(&record).await.unwrap();
        }
        store.append_audit(&audit(None, "anonymous")).await.unwrap();
        let all = store.recent_audit(None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["anonymous", "three", "two", "one"],
            "{name}"
        );
        let mine = store.recent_audit(Some(&a), 2).await.unwrap();
        assert_eq!(
            mine.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["three", "two"],
            "{name}"
        );
        assert_eq!(mine[0].user_agent, "test", "{name}");
    }
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_audit_records() {
    for backend in backends().await {
        backend
            .store
            .append_audit(&audit(None, "kept"))
            .await
            .unwrap();
        let statements = [
            "UPDATE audit_log SET event = 'forged'",
            "DELETE FROM audit_log",
        ];
        for sql in statements {
            let refused = match (&backend.sqlite, &backend.postgres) {
                (Some(s), _) => sqlx::query(sql).execute(s.pool()).await.is_err(),
                (_, Some(p)) => sqlx::query(sql).execute(p.pool()).await.is_err(),
                _ => unreachable!(),
            };
            assert!(refused, "{}: {sql} was allowed", backend.name);
        }
        let records = backend.store.recent_audit(None, 10).await.unwrap();
        assert_eq!(records.len(), 1, "{}", backend.name);
        assert_eq!(records[0].event, "kept", "{}", backend.name);
    }
}
