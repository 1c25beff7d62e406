//! Virtual MFA devices through the console and the API: activation with two consecutive
//! codes, sign-in with a code, replay, resync, removal, limits and bad input.

use std::sync::Arc;

use axum::http::StatusCode;
use latchkey_domain::Duration;
use latchkey_service::RequestContext;
use latchkey_service::mfa_sign_in::CodeOutcome;
use latchkey_service::sign_in::SignInOutcome;
use serde_json::json;

use crate::harness::{Browser, PASSWORD, TestApp, totp};

/// Activates a virtual device from the set-up page; returns its secret key.
pub async fn activate(app: &TestApp, browser: &mut Browser, name: &str) -> String {
    let chooser = browser.get("/console/mfa/activate").await;
    assert_eq!(chooser.status, StatusCode::OK);
    assert!(chooser.body.contains("Virtual MFA device") && chooser.body.contains("Continue"));
    let started = browser
        .post(
            "/console/mfa/activate",
            &[("device_type", "virtual"), ("csrf_token", &chooser.csrf())],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let setup_path = started.location().to_owned();
    let setup = browser.get(&setup_path).await;
    for label in [
        "Show QR code",
        "Show secret key",
        "MFA code 1",
        "MFA code 2",
        "Assign MFA",
        "data:image/svg+xml;base64,",
    ] {
        assert!(
            setup.body.contains(label),
            "{label} missing from the set-up page"
        );
    }
    let secret = setup.element_text("secret-key");
    let (code1, code2) = (totp(&secret, &app.clock, -1), totp(&secret, &app.clock, 0));
    let assigned = browser
        .post(
            &setup_path,
            &[
                ("name", name),
                ("code1", &code1),
                ("code2", &code2),
                ("csrf_token", &setup.csrf()),
            ],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER, "{}", assigned.body);
    assert_eq!(
        assigned.location(),
        "/console/security-credentials?done=mfa-added"
    );
    secret
}

pub async fn password_step(browser: &mut Browser, email: &str) {
    let page = browser.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/signin/mfa");
}

pub async fn submit_code(
    browser: &mut Browser,
    device_id: Option<&str>,
    code: &str,
) -> crate::harness::Page {
    let page = browser.get("/signin/mfa").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let device = match device_id {
        Some(id) => id.to_owned(),
        None => {
            let marker = "name=\"device_id\" value=\"";
            let start = page.body.find(marker).unwrap() + marker.len();
            page.body[start..start + page.body[start..].find('"').unwrap()].to_owned()
        }
    };
    browser
        .post(
            "/signin/mfa",
            &[
                ("device_id", &device),
                ("code", code),
                ("csrf_token", &page.csrf()),
            ],
        )
        .await
}

pub async fn device_ids(app: &TestApp, email: &str) -> Vec<String> {
    let account = app
        .store
        .account_by_email(&latchkey_domain::EmailAddress::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    app.service
        .devices(&account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.to_string())
        .collect()
}

#[tokio::test]
async fn a_device_is_activated_then_signs_in_once_per_code() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("ann@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("ann@example.com", PASSWORD).await;
        let secret = activate(&app, &mut browser, "Ann's phone").await;
        let credentials = browser
            .get("/console/security-credentials?done=mfa-added")
            .await;
        assert!(
            credentials.body.contains("Ann&#39;s phone")
                || credentials.body.contains("Ann&#x27;s phone"),
            "{name}"
        );
        assert!(
            credentials.body.contains("Virtual MFA device") && credentials.body.contains("Manage"),
            "{name}"
        );
        assert!(credentials.body.contains("MFA device assigned"), "{name}");
        let notices = app.mails_to("ann@example.com").await;
        assert!(
            notices
                .iter()
                .any(|m| m.subject == "An MFA device was added to your latchkey account"),
            "{name}"
        );
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        // The enrolment's codes were consumed: the second one cannot sign in.
        password_step(&mut browser, "ann@example.com").await;
        let enrolment_code = totp(&secret, &app.clock, 0);
        let refused = submit_code(&mut browser, None, &enrolment_code).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(refused.body.contains("The MFA code is not valid"), "{name}");

        // Thirty seconds later a fresh code signs in.
        app.clock.advance(Duration::seconds(30));
        let fresh = totp(&secret, &app.clock, 0);
        let signed_in = submit_code(&mut browser, None, &fresh).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            signed_in.body
        );
        assert_eq!(signed_in.location(), "/console/security-credentials");
        assert!(browser.session_cookie().is_some(), "{name}");
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        // The same code a second time is refused with the same words, audited, and the
        // owner is told.
        password_step(&mut browser, "ann@example.com").await;
        let replay = submit_code(&mut browser, None, &fresh).await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(replay.body.contains("The MFA code is not valid"), "{name}");
        let details: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(_, _, d)| d)
            .collect();
        assert!(
            details.iter().filter(|d| *d == "replayed_code").count() >= 2,
            "{name}: {details:?}"
        );
        let notices = app.mails_to("ann@example.com").await;
        assert!(
            notices
                .iter()
                .any(|m| m.subject == "A used MFA code was entered for your latchkey account"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn with_two_devices_either_signs_in_and_a_removed_one_is_refused() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("bo@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("bo@example.com", PASSWORD).await;
        let phone = activate(&app, &mut browser, "Phone").await;
        app.clock.advance(Duration::seconds(30));
        let tablet = activate(&app, &mut browser, "Tablet").await;
        let ids = device_ids(&app, "bo@example.com").await;
        assert_eq!(ids.len(), 2);
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        for (index, secret) in [(0, &phone), (1, &tablet)] {
            app.clock.advance(Duration::seconds(30));
            password_step(&mut browser, "bo@example.com").await;
            let page = browser.get("/signin/mfa").await;
            assert!(
                page.body.contains("Phone") && page.body.contains("Tablet"),
                "{name}: device choice"
            );
            let done = submit_code(
                &mut browser,
                Some(&ids[index]),
                &totp(secret, &app.clock, 0),
            )
            .await;
            assert_eq!(done.status, StatusCode::SEE_OTHER, "{name}: device {index}");
            browser
                .submit("/console/security-credentials", "/signout", &[])
                .await;
        }

        // Remove the phone from a session signed in with the tablet.
        app.clock.advance(Duration::seconds(30));
        password_step(&mut browser, "bo@example.com").await;
        submit_code(&mut browser, Some(&ids[1]), &totp(&tablet, &app.clock, 0)).await;
        let manage = browser
            .get(&format!("/console/mfa/{}/manage", ids[0]))
            .await;
        assert!(
            manage.body.contains("Resync") && manage.body.contains("Remove"),
            "{name}"
        );
        let removed = browser
            .post(
                &format!("/console/mfa/{}/remove", ids[0]),
                &[("csrf_token", &manage.csrf())],
            )
            .await;
        assert_eq!(
            removed.location(),
            "/console/security-credentials?done=mfa-removed",
            "{name}"
        );
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        app.clock.advance(Duration::seconds(30));
        password_step(&mut browser, "bo@example.com").await;
        let refused = submit_code(&mut browser, Some(&ids[0]), &totp(&phone, &app.clock, 0)).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{name}: removed device's code"
        );
        let notices = app.mails_to("bo@example.com").await;
        assert!(
            notices
                .iter()
                .any(|m| m.subject == "An MFA device was removed from your latchkey account"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn bad_activation_input_creates_no_device() {
    let app = TestApp::sqlite().await;
    app.active_account("cy@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("cy@example.com", PASSWORD).await;
    let chooser = browser.get("/console/mfa/activate").await;
    let started = browser
        .post(
            "/console/mfa/activate",
            &[("device_type", "virtual"), ("csrf_token", &chooser.csrf())],
        )
        .await;
    let path = started.location().to_owned();
    let setup = browser.get(&path).await;
    let secret = setup.element_text("secret-key");
    let now = totp(&secret, &app.clock, 0);
    let before = totp(&secret, &app.clock, -1);
    let old = totp(&secret, &app.clock, -3);
    let older = totp(&secret, &app.clock, -4);
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("Phone", "12a456".into(), now.clone(), "digits only"),
        ("Phone", "12345".into(), now.clone(), "digits only"),
        ("Phone", "1234567".into(), now.clone(), "digits only"),
        ("Phone", "١٢٣٤٥٦".into(), now.clone(), "digits only"),
        ("Phone", now.clone(), now.clone(), "two different codes"),
        (
            "Phone",
            now.clone(),
            before.clone(),
            "not two consecutive codes",
        ),
        (
            "Phone",
            older.clone(),
            old.clone(),
            "not two consecutive codes",
        ),
        ("", before.clone(), now.clone(), "Enter a device name"),
        ("<b>", before.clone(), now.clone(), "Use letters, digits"),
    ];
    for (name, code1, code2, message) in cases {
        let page = browser
            .post(
                &path,
                &[
                    ("name", name),
                    ("code1", &code1),
                    ("code2", &code2),
                    ("csrf_token", &setup.csrf()),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{code1}/{code2}: {}",
            page.body
        );
        assert!(
            page.body.contains(message),
            "{message} missing for {code1}/{code2}"
        );
    }
    assert!(device_ids(&app, "cy@example.com").await.is_empty());

    // The good codes work once; the page cannot be replayed into a second device.
    let ok = browser
        .post(
            &path,
            &[
                ("name", "Phone"),
                ("code1", &before),
                ("code2", &now),
                ("csrf_token", &setup.csrf()),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let stale = browser
        .post(
            &path,
            &[
                ("name", "Phone 2"),
                ("code1", &before),
                ("code2", &now),
                ("csrf_token", &setup.csrf()),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::GONE);
    assert!(stale.body.contains("This set-up page has expired"));
    assert_eq!(browser.get(&path).await.status, StatusCode::GONE);
    assert_eq!(device_ids(&app, "cy@example.com").await.len(), 1);
    // A set-up page left open past its lifetime is refused too.
    let chooser = browser.get("/console/mfa/activate").await;
    let started = browser
        .post(
            "/console/mfa/activate",
            &[("device_type", "virtual"), ("csrf_token", &chooser.csrf())],
        )
        .await;
    let late_path = started.location().to_owned();
    let late_page = browser.get(&late_path).await;
    let late_secret = late_page.element_text("secret-key");
    app.clock.advance(Duration::minutes(16));
    let late = browser
        .post(
            &late_path,
            &[
                ("name", "Late"),
                ("code1", &totp(&late_secret, &app.clock, -1)),
                ("code2", &totp(&late_secret, &app.clock, 0)),
                ("csrf_token", &late_page.csrf()),
            ],
        )
        .await;
    assert_eq!(late.status, StatusCode::GONE);
}

#[tokio::test]
async fn a_ninth_device_is_refused() {
    let app = TestApp::sqlite().await;
    app.active_account("di@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("di@example.com", PASSWORD).await;
    for i in 0..8 {
        activate(&app, &mut browser, &format!("Device {i}")).await;
        app.clock.advance(Duration::seconds(30));
    }
    let credentials = browser.get("/console/security-credentials").await;
    assert!(
        credentials
            .body
            .contains("8 MFA devices, the most it can have")
    );
    let chooser = browser.get("/console/mfa/activate").await;
    let refused = browser
        .post(
            "/console/mfa/activate",
            &[("device_type", "virtual"), ("csrf_token", &chooser.csrf())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("already has 8 MFA devices"));
    assert_eq!(device_ids(&app, "di@example.com").await.len(), 8);
}

#[tokio::test]
async fn resync_from_troubleshoot_records_drift_so_a_slow_device_signs_in() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("ed@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("ed@example.com", PASSWORD).await;
        let secret = activate(&app, &mut browser, "Old phone").await;
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        // The device's clock falls four minutes behind.
        app.clock.advance(Duration::minutes(5));
        password_step(&mut browser, "ed@example.com").await;
        let slow = totp(&secret, &app.clock, -8);
        assert_eq!(
            submit_code(&mut browser, None, &slow).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );

        let troubleshoot = browser.get("/signin/mfa/troubleshoot").await;
        assert!(
            troubleshoot.body.contains("Resync")
                && troubleshoot
                    .body
                    .contains("Sign in using alternative factors"),
            "{name}"
        );
        let id = device_ids(&app, "ed@example.com").await.remove(0);
        let resynced = browser
            .post(
                "/signin/mfa/resync",
                &[
                    ("device_id", &id),
                    ("code1", &totp(&secret, &app.clock, -8)),
                    ("code2", &totp(&secret, &app.clock, -7)),
                    ("csrf_token", &troubleshoot.csrf()),
                ],
            )
            .await;
        assert_eq!(
            resynced.location(),
            "/signin/mfa?resynced=1",
            "{name}: {}",
            resynced.body
        );

        app.clock.advance(Duration::seconds(30));
        let signed_in = submit_code(&mut browser, None, &totp(&secret, &app.clock, -7)).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{name}: the drift is applied"
        );
        let notices = app.mails_to("ed@example.com").await;
        assert!(
            notices.iter().any(|m| m.subject.contains("resynchronised")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn removing_a_device_from_an_old_session_needs_the_password_and_the_last_one_is_called_out() {
    let app = TestApp::sqlite().await;
    app.active_account("fay@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("fay@example.com", PASSWORD).await;
    activate(&app, &mut browser, "Phone").await;
    let id = device_ids(&app, "fay@example.com").await.remove(0);
    // Stay active, but let the sign-in itself grow old.
    for _ in 0..4 {
        app.clock.advance(Duration::minutes(5));
        browser.get("/console/security-credentials").await;
    }
    let manage = browser.get(&format!("/console/mfa/{id}/manage")).await;
    assert!(manage.body.contains("only MFA device"));
    assert!(manage.body.contains("name=\"password\""));
    let refused = browser
        .post(
            &format!("/console/mfa/{id}/remove"),
            &[("csrf_token", &manage.csrf())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Enter your password"));
    let wrong = browser
        .post(
            &format!("/console/mfa/{id}/remove"),
            &[
                ("password", "not-it-at-all"),
                ("csrf_token", &manage.csrf()),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(device_ids(&app, "fay@example.com").await.len(), 1);
    let done = browser
        .post(
            &format!("/console/mfa/{id}/remove"),
            &[("password", PASSWORD), ("csrf_token", &manage.csrf())],
        )
        .await;
    assert_eq!(
        done.location(),
        "/console/security-credentials?done=mfa-removed-last"
    );
    let page = browser.get(done.location()).await;
    assert!(page.body.contains("no longer protected by MFA"));
    let mails = app.mails_to("fay@example.com").await;
    assert!(
        mails
            .iter()
            .any(|m| m.text_body.contains("no longer protected by MFA"))
    );
    // Without devices, the password alone signs in again.
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    assert_eq!(
        browser
            .sign_in("fay@example.com", PASSWORD)
            .await
            .location(),
        "/console/security-credentials"
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout_shared_with_the_password() {
    let app = TestApp::sqlite().await;
    app.active_account("gus@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("gus@example.com", PASSWORD).await;
    let secret = activate(&app, &mut browser, "Phone").await;
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    app.clock.advance(Duration::seconds(30));
    password_step(&mut browser, "gus@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            submit_code(&mut browser, None, "000000").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let right = totp(&secret, &app.clock, 0);
    let throttled = submit_code(&mut browser, None, &right).await;
    assert_eq!(
        throttled.status,
        StatusCode::UNAUTHORIZED,
        "even the right code waits out the delay"
    );
    app.clock.advance(Duration::seconds(30));
    assert_eq!(
        submit_code(&mut browser, None, &totp(&secret, &app.clock, 0))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_mfa_page_needs_a_live_attempt_from_the_password_step() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    assert_eq!(browser.get("/signin/mfa").await.status, StatusCode::GONE);
    assert_eq!(
        browser.get("/signin/mfa/troubleshoot").await.status,
        StatusCode::GONE
    );
    app.active_account("hal@example.com").await;
    browser.sign_in("hal@example.com", PASSWORD).await;
    let secret = activate(&app, &mut browser, "Phone").await;
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    password_step(&mut browser, "hal@example.com").await;
    app.clock.advance(Duration::minutes(11));
    let page = browser.get("/signin/mfa").await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("Sign in again"));
    let _ = secret;
}

#[tokio::test]
async fn sixteen_concurrent_submissions_of_one_code_sign_in_once() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("ivy@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("ivy@example.com", PASSWORD).await;
        let secret = activate(&app, &mut browser, "Phone").await;
        let id = device_ids(&app, "ivy@example.com").await.remove(0);
        app.clock.advance(Duration::seconds(30));
        // Sixteen browsers in sixteen places, each with its own sign-in attempt.
        let clients: Vec<RequestContext> = (0..16)
            .map(|i| RequestContext::new(&format!("192.0.2.{i}"), "test"))
            .collect();
        let mut attempts = Vec::new();
        for ctx in &clients {
            match app
                .service
                .sign_in_with_password("ivy@example.com", PASSWORD, ctx)
                .await
                .unwrap()
            {
                SignInOutcome::MfaRequired(pending) => {
                    attempts.push(pending.attempt.expose().to_owned())
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let code = totp(&secret, &app.clock, 0);
        let service = Arc::new(app.service.clone());
        let tasks: Vec<_> = attempts
            .into_iter()
            .zip(clients)
            .map(|(attempt, ctx)| {
                let service = Arc::clone(&service);
                let (id, code) = (id.clone(), code.clone());
                tokio::spawn(async move {
                    service
                        .sign_in_with_code(&attempt, &id, &code, &ctx)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut signed_in = 0;
        for task in tasks {
            if let CodeOutcome::SignedIn(_) = task.await.unwrap() {
                signed_in += 1;
            }
        }
        assert_eq!(signed_in, 1, "{name}");
    }
}

#[tokio::test]
async fn the_same_operations_over_json() {
    let app = TestApp::sqlite().await;
    app.active_account("jo@example.com").await;
    let mut client = app.browser();
    let session = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "jo@example.com", "password": PASSWORD})),
        )
        .await;
    let token = session.json()["session_token"].as_str().unwrap().to_owned();

    let enrollment = client
        .api("POST", "/api/v1/mfa/virtual", Some(&token), None)
        .await;
    assert_eq!(enrollment.status, StatusCode::CREATED);
    let enrollment = enrollment.json();
    assert!(
        enrollment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/latchkey:jo@example.com?secret=")
    );
    let secret = enrollment["secret"].as_str().unwrap().to_owned();
    let path = format!(
        "/api/v1/mfa/virtual/{}",
        enrollment["enrollment_id"].as_str().unwrap()
    );
    let same = client
        .api(
            "POST",
            &path,
            Some(&token),
            Some(json!({"name": "CLI", "code1": "123456", "code2": "123456"})),
        )
        .await;
    assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
    let device = client
        .api("POST", &path, Some(&token), Some(json!({"name": "CLI", "code1": totp(&secret, &app.clock, -1), "code2": totp(&secret, &app.clock, 0)})))
        .await;
    assert_eq!(device.status, StatusCode::CREATED, "{}", device.body);
    let device_id = device.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        client
            .api("GET", "/api/v1/mfa/devices", Some(&token), None)
            .await
            .json()["devices"][0]["type"],
        "virtual"
    );
    assert_eq!(
        client
            .api("GET", "/api/v1/me", Some(&token), None)
            .await
            .json()["mfa_devices"][0]["name"],
        "CLI"
    );

    app.clock.advance(Duration::seconds(30));
    let pending = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "jo@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(pending.status, StatusCode::ACCEPTED);
    let pending = pending.json();
    assert_eq!(pending["status"], "mfa_required");
    assert_eq!(pending["devices"][0]["id"], device_id.as_str());
    let attempt = pending["attempt_token"].as_str().unwrap().to_owned();
    let wrong = client
        .api(
            "POST",
            "/api/v1/sessions/mfa",
            None,
            Some(json!({"attempt_token": attempt, "device_id": device_id, "code": "000000"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"]["code"], "invalid_code");
    let code = totp(&secret, &app.clock, 0);
    let ok = client
        .api(
            "POST",
            "/api/v1/sessions/mfa",
            None,
            Some(json!({"attempt_token": attempt, "device_id": device_id, "code": code})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let second = ok.json()["session_token"].as_str().unwrap().to_owned();
    let reused = client
        .api(
            "POST",
            "/api/v1/sessions/mfa",
            None,
            Some(json!({"attempt_token": attempt, "device_id": device_id, "code": code})),
        )
        .await;
    assert_eq!(reused.status, StatusCode::GONE, "the attempt is single-use");

    let resync = client
        .api("POST", &format!("/api/v1/mfa/devices/{device_id}/resync"), Some(&second), Some(json!({"code1": totp(&secret, &app.clock, 1), "code2": totp(&secret, &app.clock, 2)})))
        .await;
    assert_eq!(resync.status, StatusCode::NO_CONTENT, "{}", resync.body);
    let removed = client
        .api(
            "POST",
            &format!("/api/v1/mfa/devices/{device_id}/remove"),
            Some(&second),
            Some(json!({})),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.json()["unprotected"], true);
    assert_eq!(removed.json()["signed_out"], true);
    assert_eq!(
        client
            .api("GET", "/api/v1/me", Some(&second), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client
            .api("GET", "/api/v1/me", Some(&token), None)
            .await
            .status,
        StatusCode::OK,
        "the password-only session was not authorised by the device"
    );
}

#[tokio::test]
async fn a_password_reset_never_removes_or_bypasses_mfa() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("kit@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("kit@example.com", PASSWORD).await;
        let secret = activate(&app, &mut browser, "Phone").await;
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        browser
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "kit@example.com")],
            )
            .await;
        let link = app.link_in_latest_mail("kit@example.com").await;
        let form = browser.get(&link).await;
        let token = link.split("token=").nth(1).unwrap();
        let done = browser
            .post(
                "/password/reset",
                &[
                    ("token", token),
                    ("password", "new-orchid-lantern-7"),
                    ("confirm_password", "new-orchid-lantern-7"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{name}");
        assert_eq!(
            device_ids(&app, "kit@example.com").await.len(),
            1,
            "{name}: the device is still there"
        );

        let after = browser
            .sign_in("kit@example.com", "new-orchid-lantern-7")
            .await;
        assert_eq!(
            after.location(),
            "/signin/mfa",
            "{name}: the new password still needs MFA"
        );
        assert!(
            browser.session_cookie().is_none(),
            "{name}: no session before the code"
        );
        app.clock.advance(Duration::seconds(30));
        assert_eq!(
            submit_code(&mut browser, None, &totp(&secret, &app.clock, 0))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{name}"
        );
    }
}
