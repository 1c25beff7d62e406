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
