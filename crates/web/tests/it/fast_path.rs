//! The fast path from outside: signed-in pages are answered from memory, and nothing kept
//! outlives a change another process makes to the same database (an operator's command run
//! beside the server, another instance) by more than a second.

use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::harness::{Browser, PASSWORD, TestApp};

/// Another process on the app's database.
async fn another_process(app: &TestApp) -> std::sync::Arc<dyn latchkey_store::Database> {
    latchkey_store::open(
        Some(&app.backend.url),
        &std::env::temp_dir(),
        latchkey_test_support::fixtures::server_key().audit_chain_key(),
    )
    .await
    .unwrap()
    .0
}

/// Loads Security credentials until `done` holds for it, for at most a second (the page
/// gives no other signal that the change arrived); answers how long it took.
async fn within_a_second(
    browser: &mut Browser,
    name: &str,
    done: impl Fn(&crate::harness::Page) -> bool,
) -> Duration {
    let since = Instant::now();
    loop {
        let page = browser.get("/console/security-credentials").await;
        if done(&page) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{name}: not seen after a second: {} {}",
            page.status,
            page.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_page_is_answered_from_memory_until_another_process_reports_a_change() {
    for app in TestApp::all().await {
        let name = app.name;
        let id = app.active_account("kept@example.com").await;
        let mut browser = app.browser();
        assert_eq!(
            browser.sign_in("kept@example.com", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        let first = browser.get("/console/security-credentials").await;
        assert_eq!(first.status, StatusCode::OK, "{name}");
        // An edit made around latchkey, which no change reports: the page does not read the
        // database again, so it does not see it.
        app.backend
            .execute_raw(&format!(
                "UPDATE accounts SET name = 'Renamed Around' WHERE id = '{id}'"
            ))
            .await;
        let kept = browser.get("/console/security-credentials").await;
        assert_eq!(kept.status, StatusCode::OK, "{name}");
        assert!(!kept.body.contains("Renamed Around"), "{name}: read again");
        // Another process commits a change to the account (every change writes an audit
        // record): the page shows the account as it is now within a second.
        let other = another_process(&app).await;
        other
            .append_audit(&latchkey_test_support::fixtures::audit_record(
                Some(&id),
                "operator_note",
            ))
            .await
            .unwrap();
        within_a_second(&mut browser, name, |page| {
            page.body.contains("Renamed Around")
        })
        .await;
    }
}

#[tokio::test]
async fn a_session_another_process_revokes_is_refused_within_a_second() {
    for app in TestApp::all().await {
        let name = app.name;
        let id = app.active_account("revoked@example.com").await;
        let mut browser = app.browser();
        assert_eq!(
            browser
                .sign_in("revoked@example.com", PASSWORD)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        for _ in 0..2 {
            let page = browser.get("/console/security-credentials").await;
            assert_eq!(page.status, StatusCode::OK, "{name}");
        }
        // `latchkey account disable` run beside the server, or Sign out everywhere on
        // another instance.
        let other = another_process(&app).await;
        other
            .revoke_every_session(
                &id,
                latchkey_test_support::fixtures::T0,
                &latchkey_test_support::fixtures::audit_record(None, "sign_out_everywhere"),
            )
            .await
            .unwrap();
        within_a_second(&mut browser, name, |page| {
            page.status == StatusCode::SEE_OTHER
        })
        .await;
    }
}
