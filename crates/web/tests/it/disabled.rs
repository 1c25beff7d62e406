//! An account an operator disabled (`latchkey account disable`): its sessions end, a sign-in
//! already past the password cannot finish, and only the right password learns why.

use axum::http::StatusCode;
use serde_json::json;

use latchkey_service::Clock;

use crate::harness::{PASSWORD, TestApp, totp};
use crate::mfa::{password_step, submit_code};
use crate::recovery::account_with_device;

#[tokio::test]
async fn a_disabled_account_signs_in_nowhere_and_tells_only_the_right_password() {
    for app in TestApp::all().await {
        let name = app.name;
        let email = "frozen@example.com";
        let mut owner = app.browser();
        let secret = account_with_device(&app, &mut owner, email).await;
        // A session from before, and a sign-in that is past its password.
        let mut before = app.browser();
        password_step(&mut before, email).await;
        let signed_in = submit_code(&mut before, None, &totp(&secret, &app.clock, 0)).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            signed_in.body
        );
        assert_eq!(
            before.get("/console/security-credentials").await.status,
            StatusCode::OK,
            "{name}"
        );
        app.clock.advance(latchkey_domain::Duration::seconds(30));
        let mut midway = app.browser();
        password_step(&mut midway, email).await;

        let done = app
            .service
            .disable_account_by_operator(email, "ticket 9")
            .await
            .unwrap();
        assert_eq!(done.sessions_revoked, 1, "{name}");
        let gone = before.get("/console/security-credentials").await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{name}: signed out");
        // The sign-in that was waiting for its code ended with the disable.
        let page = midway.get("/signin/mfa").await;
        assert_ne!(page.status, StatusCode::OK, "{name}: {}", page.body);

        // The right password is told the account is disabled; a wrong one gets the answer
        // every wrong password gets, and so does an address without an account.
        let mut client = app.browser();
        let right = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            right.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            right.body
        );
        assert_eq!(right.json()["error"]["code"], "account_disabled", "{name}");
        let wrong = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": email, "password": "not-the-password-1"})),
            )
            .await;
        let unknown = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "nobody@example.com", "password": "not-the-password-1"})),
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(wrong.body, unknown.body, "{name}");
        let console = client.sign_in(email, PASSWORD).await;
        assert_eq!(
            console.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            console.body
        );
        assert!(
            console.body.contains("disabled"),
            "{name}: {}",
            console.body
        );
        assert!(client.session_cookie().is_none(), "{name}");

        // Forgot password? sends nothing while disabled.
        let mails = app.mails_to(email).await.len();
        let page = client.get("/password/forgot").await;
        client
            .post(
                "/password/forgot",
                &[("email", email), ("csrf_token", &page.csrf())],
            )
            .await;
        assert_eq!(app.mails_to(email).await.len(), mails, "{name}");

        // Enabled again: the password and the device sign in as before.
        app.service
            .enable_account_by_operator(email, "ticket 9 closed")
            .await
            .unwrap();
        app.clock.advance(latchkey_domain::Duration::seconds(30));
        let mut back = app.browser();
        password_step(&mut back, email).await;
        let signed_in = submit_code(&mut back, None, &totp(&secret, &app.clock, 0)).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            signed_in.body
        );
        assert!(back.session_cookie().is_some(), "{name}");
    }
}

/// The disable lands between the password and the code: the code is right, the device is
/// the owner's, and still no session is issued.
#[tokio::test]
async fn a_code_entered_after_the_disable_issues_no_session() {
    for app in TestApp::all().await {
        let name = app.name;
        let email = "between@example.com";
        let mut owner = app.browser();
        let secret = account_with_device(&app, &mut owner, email).await;
        let mut browser = app.browser();
        password_step(&mut browser, email).await;
        let form = browser.get("/signin/mfa").await;
        app.service
            .disable_account_by_operator(email, "ticket 10")
            .await
            .unwrap();
        let marker = "name=\"device_id\" value=\"";
        let start = form.body.find(marker).unwrap() + marker.len();
        let device = &form.body[start..start + form.body[start..].find('"').unwrap()];
        let code = totp(&secret, &app.clock, 0);
        let answer = browser
            .post(
                "/signin/mfa",
                &[
                    ("device_id", device),
                    ("code", &code),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_ne!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            answer.body
        );
        assert!(browser.session_cookie().is_none(), "{name}");
        let sessions = app
            .store
            .account_sessions(
                &app.store
                    .account_by_email(&latchkey_domain::EmailAddress::parse(email).unwrap())
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                app.clock.now(),
            )
            .await
            .unwrap();
        assert!(sessions.is_empty(), "{name}");
    }
}
