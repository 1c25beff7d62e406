//! Durability: what each backend promises about a commit.

use super::*;

#[tokio::test]
async fn committed_data_survives_reopening_the_database() {
    for backend in backends().await {
        let id = active_account(&backend.store, 14, "ned@example.com").await;
        let reopened = latchkey_store::open(
            Some(&backend.url),
            std::path::Path::new("/nonexistent"),
            latchkey_test_support::fixtures::server_key().audit_chain_key(),
        )
        .await
        .unwrap()
        .0;
        let account = reopened
            .account_by_id(&id)
            .await
            .unwrap()
            .expect(backend.name);
        assert_eq!(
            account.email.as_str(),
            "ned@example.com",
            "{}",
            backend.name
        );
    }
}

#[tokio::test]
async fn sqlite_runs_with_wal_full_sync_and_a_busy_timeout() {
    let backend = latchkey_test_support::sqlite_backend().await;
    let settings = backend.sqlite.unwrap().settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, 2, "synchronous=FULL");
    assert!(settings.busy_timeout_ms >= 1000);
    assert_eq!(settings.foreign_keys, 1);
}

#[tokio::test]
async fn postgres_commits_synchronously() {
    if let Some(url) = latchkey_test_support::postgres_admin_url() {
        let backend = latchkey_test_support::postgres_backend(&url).await;
        let info = backend.postgres.unwrap().info().await.unwrap();
        assert_eq!(info.durability, "synchronous_commit=on");
    }
}

#[tokio::test]
async fn postgres_reads_committed_whatever_the_database_defaults_to() {
    let Some(admin) = latchkey_test_support::postgres_admin_url() else {
        return;
    };
    let backend = latchkey_test_support::postgres_backend(&admin).await;
    let pool = backend.postgres.as_ref().unwrap().pool();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} SET default_transaction_isolation = 'repeatable read'"
    )))
    .execute(pool)
    .await
    .unwrap();
    let store = latchkey_store::PgStore::connect(
        &backend.url,
        latchkey_test_support::fixtures::server_key().audit_chain_key(),
    )
    .await
    .unwrap();
    let level: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(level, "read committed");
}

#[tokio::test]
async fn the_first_server_key_recorded_stays_the_databases() {
    for Backend { name, store, .. } in backends().await {
        let recorded = |fingerprint: &str| {
            KeyRecord::Recorded(RecordedKey {
                fingerprint: fingerprint.to_owned(),
                recorded_at: T0,
            })
        };
        let first = store
            .record_key_fingerprint("aaaa", true, T0)
            .await
            .unwrap();
        assert_eq!(
            first,
            recorded("aaaa"),
            "{name}: an empty database takes a new key"
        );
        let later = T0 + latchkey_domain::Duration::hours(1);
        let again = store
            .record_key_fingerprint("aaaa", false, later)
            .await
            .unwrap();
        assert_eq!(again, first, "{name}: recorded once");
        let other = store
            .record_key_fingerprint("bbbb", false, later)
            .await
            .unwrap();
        assert_eq!(other, first, "{name}: another key does not replace it");
    }
}

#[tokio::test]
async fn a_key_made_on_the_spot_cannot_claim_a_database_with_accounts() {
    for Backend { name, store, .. } in backends().await {
        active_account(&store, 15, "keyed@example.com").await;
        assert_eq!(
            store
                .record_key_fingerprint("fresh", true, T0)
                .await
                .unwrap(),
            KeyRecord::Unclaimed,
            "{name}"
        );
        // The key file the accounts were made with claims it (an upgrade to recorded keys).
        let kept = store
            .record_key_fingerprint("kept", false, T0)
            .await
            .unwrap();
        assert!(
            matches!(kept, KeyRecord::Recorded(ref r) if r.fingerprint == "kept"),
            "{name}"
        );
    }
}
