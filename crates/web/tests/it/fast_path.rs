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

/// Waits until the app's change follower has caught up past `instant` (it gives no other
/// signal), for at most a second.
async fn caught_up(app: &TestApp, instant: Instant, name: &str) {
    while !app.service.changes_caught_up_since(instant) {
        assert!(
            instant.elapsed() < Duration::from_secs(1),
            "{name}: the change follower did not catch up within a second"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Loads Security credentials until `done` holds for it (the page gives no other signal
/// that the change arrived): every request that begins more than a second after the change
/// must see it, however long the answer then takes on a busy machine.
async fn within_a_second(
    browser: &mut Browser,
    name: &str,
    done: impl Fn(&crate::harness::Page) -> bool,
) {
    let since = Instant::now();
    loop {
        let began = since.elapsed();
        let page = browser.get("/console/security-credentials").await;
        if done(&page) {
            return;
        }
        assert!(
            began < Duration::from_secs(1),
            "{name}: not seen by a request begun {began:?} after the change: {} {}",
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
        // The sign-in's own changes also come back through the feed (on PostgreSQL, as
        // notifications): once they have, nothing more is due to drop what is kept.
        caught_up(&app, Instant::now(), name).await;
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

#[tokio::test]
async fn an_access_token_is_refused_within_a_second_of_its_client_being_removed_elsewhere() {
    use crate::oidc::{authorization_code, exchange, register, userinfo};
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("userinfo@example.com").await;
        let rp = register(&app, Default::default()).await;
        let mut browser = app.browser();
        browser.sign_in("userinfo@example.com", PASSWORD).await;
        let code = authorization_code(&mut browser, &rp, "").await;
        let issued = exchange(&mut browser, &rp, &code).await;
        assert_eq!(issued.status, StatusCode::OK, "{name}: {}", issued.body);
        let access = issued.json()["access_token"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            assert_eq!(
                userinfo(&mut browser, &access).await.status,
                StatusCode::OK,
                "{name}"
            );
        }
        // `latchkey oidc client remove` run beside the server: the client's tokens are
        // revoked by another process while the session they came from lives on.
        let other = another_process(&app).await;
        assert!(
            other
                .remove_oidc_client(
                    &rp.id,
                    latchkey_test_support::fixtures::T0,
                    &latchkey_test_support::fixtures::audit_record(None, "oidc_client_removed"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        let since = Instant::now();
        loop {
            let began = since.elapsed();
            let status = userinfo(&mut browser, &access).await.status;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(status, StatusCode::OK, "{name}");
            assert!(
                began < Duration::from_secs(1),
                "{name}: the removed client's token still answered a request begun {began:?} after"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let page = browser.get("/console/security-credentials").await;
        assert_eq!(page.status, StatusCode::OK, "{name}: the session lives on");
    }
}
