//! The owner's sessions: the list on `Security credentials` and in the API, `Sign out` on one
//! session, `Sign out everywhere`, and what another account or a racing client can do.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Browser, PASSWORD, TestApp, totp};
use crate::mfa::{password_step, submit_code};
use crate::recovery::account_with_device;

async fn api_sign_in(app: &TestApp, email: &str) -> (Browser, String) {
    let mut client = app.browser();
    let signed_in = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{}", signed_in.body);
    let token = signed_in.json()["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (client, token)
}

async fn listed(client: &mut Browser, token: &str) -> Vec<Value> {
    let list = client
        .api("GET", "/api/v1/sessions", Some(token), None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.json()["sessions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_owner_sees_every_session_and_signs_one_or_all_out() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("dee@example.com").await;
        app.active_account("eve@example.com").await;
        let mut a = app.browser();
        assert_eq!(
            a.sign_in("dee@example.com", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        let later = latchkey_domain::Duration::seconds(10);
        app.clock.advance(later);
        let mut b = app.browser();
        assert_eq!(
            b.sign_in("dee@example.com", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        app.clock.advance(later);
        let (mut c, token) = api_sign_in(&app, "dee@example.com").await;
        let (mut eve, eve_token) = api_sign_in(&app, "eve@example.com").await;

        let sessions = listed(&mut c, &token).await;
        assert_eq!(sessions.len(), 3, "{name}: {sessions:?}");
        assert_eq!(
            sessions
                .iter()
                .map(|s| s["current"].as_bool().unwrap())
                .collect::<Vec<_>>(),
            [true, false, false],
            "{name}: newest first, the asking one marked"
        );
        assert!(
            sessions
                .iter()
                .all(|s| s["authenticated_with"] == "password"
                    && s["client_address"] == "127.0.0.1"
                    && s["id"].as_str().unwrap().starts_with("ses-")),
            "{name}: {sessions:?}"
        );
        let b_id = sessions[1]["id"].as_str().unwrap().to_owned();
        let a_id = sessions[2]["id"].as_str().unwrap().to_owned();

        // The console lists them too, with a Sign out button on every other session.
        let page = a.get("/console/security-credentials").await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert_eq!(
            page.body.matches("<td>This session</td>").count(),
            1,
            "{name}"
        );
        assert_eq!(
            page.body.matches("/sign-out\"><input").count(),
            2,
            "{name}: {}",
            page.body
        );

        // Another account cannot end Dee's sessions, even with their ids.
        let refused = eve
            .api(
                "DELETE",
                &format!("/api/v1/sessions/{b_id}"),
                Some(&eve_token),
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(refused.json()["error"]["code"], "session_not_found");
        assert_eq!(
            b.get("/console/security-credentials").await.status,
            StatusCode::OK,
            "{name}"
        );

        // A signs B out from the console; B is sent to sign in on its next request.
        let ended = a
            .submit(
                "/console/security-credentials",
                &format!("/console/sessions/{b_id}/sign-out"),
                &[],
            )
            .await;
        assert_eq!(ended.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            ended.location(),
            "/console/security-credentials?done=session-ended#sessions"
        );
        let notice = a
            .get("/console/security-credentials?done=session-ended")
            .await;
        assert!(
            notice.body.contains("That session is signed out."),
            "{name}"
        );
        let b_next = b.get("/console/security-credentials").await;
        assert_eq!(b_next.status, StatusCode::SEE_OTHER, "{name}");
        assert!(b_next.location().starts_with("/signin"), "{name}");
        let again = c
            .api(
                "DELETE",
                &format!("/api/v1/sessions/{b_id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND, "{name}: once only");

        // Its own session by id: the browser is signed out.
        let own = a
            .submit(
                "/console/security-credentials",
                &format!("/console/sessions/{a_id}/sign-out"),
                &[],
            )
            .await;
        assert_eq!(own.location(), "/signin?signed_out=1", "{name}");
        assert_eq!(
            a.get("/console/security-credentials").await.status,
            StatusCode::SEE_OTHER,
            "{name}"
        );

        // Everywhere: what is left ends, the asking session too; Eve's stays.
        let everywhere = c
            .api("DELETE", "/api/v1/sessions", Some(&token), None)
            .await;
        assert_eq!(everywhere.status, StatusCode::OK, "{name}");
        assert_eq!(everywhere.json()["signed_out"], 1, "{name}");
        assert_eq!(
            c.api("GET", "/api/v1/sessions", Some(&token), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        assert_eq!(listed(&mut eve, &eve_token).await.len(), 1, "{name}");
        let details: Vec<_> = app
            .audit_events()
            .await
            .into_iter()
            .filter(|(event, _, _)| event == "sign_out")
            .map(|(_, _, detail)| detail)
            .collect();
        assert_eq!(
            details,
            ["one_session", "one_session", "everywhere"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_console_signs_out_everywhere_and_says_how_each_session_was_earned() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        let secret = account_with_device(&app, &mut browser, "fay@example.com").await;
        password_step(&mut browser, "fay@example.com").await;
        let code = totp(&secret, &app.clock, 0);
        let signed_in = submit_code(&mut browser, None, &code).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{name}");
        let page = browser.get("/console/security-credentials").await;
        assert!(
            page.body
                .contains("<td>Password and virtual mfa device “Lost phone”</td>"),
            "{name}: {}",
            page.body
        );
        let everywhere = browser
            .submit(
                "/console/security-credentials",
                "/console/sessions/sign-out-everywhere",
                &[],
            )
            .await;
        assert_eq!(everywhere.location(), "/signin?signed_out=1", "{name}");
        assert_eq!(
            browser.get("/console/security-credentials").await.status,
            StatusCode::SEE_OTHER,
            "{name}"
        );
        // Without the CSRF token, nothing ends.
        let mut other = app.browser();
        password_step(&mut other, "fay@example.com").await;
        app.clock.advance(latchkey_domain::Duration::seconds(30));
        let code = totp(&secret, &app.clock, 0);
        submit_code(&mut other, None, &code).await;
        let forged = other
            .post("/console/sessions/sign-out-everywhere", &[])
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(
            other.get("/console/security-credentials").await.status,
            StatusCode::OK,
            "{name}"
        );
    }
}

#[tokio::test]
async fn twenty_identical_sign_outs_at_once_end_the_session_once() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("gus@example.com").await;
        let (_, target) = api_sign_in(&app, "gus@example.com").await;
        let (mut asker, token) = api_sign_in(&app, "gus@example.com").await;
        let sessions = listed(&mut asker, &token).await;
        let id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (mut client, token, id, barrier) =
                    (asker.clone(), token.clone(), id.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    client
                        .api(
                            "DELETE",
                            &format!("/api/v1/sessions/{id}"),
                            Some(&token),
                            None,
                        )
                        .await
                        .status
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::NO_CONTENT)
                .count(),
            1,
            "{name}: {statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::NOT_FOUND),
            "{name}: {statuses:?}"
        );
        assert_eq!(
            asker
                .api("GET", "/api/v1/me", Some(&target), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
}
