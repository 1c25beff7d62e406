//! What an intruder who completes a recovery can do with it, and how `This wasn't me` takes
//! it all back: the recovery session's scope, the undo, the block and how the owner lifts it,
//! and the links that carry it.

use axum::http::StatusCode;
use latchkey_domain::Duration;
use serde_json::json;

use crate::harness::{Browser, ORIGIN, PASSWORD, Page, TestApp, key_on_dev_phone, totp};
use crate::mfa::{activate, device_ids, password_step, submit_code};
use crate::recovery::{account_with_device, code_on, confirm_email, press, start};

/// Walks `browser` through the whole alternative-factor sign-in (this test's intruder has the
/// password, the inbox and the phone) up to the recovery session.
async fn recover(app: &TestApp, browser: &mut Browser, email: &str) {
    start(browser, email).await;
    press(browser, "/signin/recovery/email").await;
    confirm_email(app, browser, email).await;
    press(browser, "/signin/recovery/call").await;
    let code = code_on(&browser.get("/signin/recovery").await);
    key_on_dev_phone(app, browser, &code).await;
    let done = press(browser, "/signin/recovery/complete").await;
    assert_eq!(
        done.location(),
        "/console/security-credentials",
        "{}",
        done.body
    );
}

/// The `This wasn't me` link (as a path) in the newest mail to `email` whose subject
/// contains `subject`.
pub(crate) async fn report_link(app: &TestApp, email: &str, subject: &str) -> String {
    let mail = app
        .mails_to(email)
        .await
        .into_iter()
        .find(|m| m.subject.contains(subject))
        .unwrap_or_else(|| panic!("no mail about {subject:?}"));
    let link = mail
        .text_body
        .split_whitespace()
        .find(|w| w.contains("/recovery/cancel?token="))
        .expect("a This wasn't me link")
        .trim_end_matches(['.', ','])
        .to_owned();
    link[ORIGIN.len()..].to_owned()
}

pub(crate) async fn press_this_wasnt_me(browser: &mut Browser, path: &str) -> Page {
    let confirm = browser.get(path).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    let token = path.split("token=").nth(1).unwrap();
    browser
        .post(
            "/recovery/cancel",
            &[("token", token), ("csrf_token", &confirm.csrf())],
        )
        .await
}

async fn change_password(browser: &mut Browser, current: &str, new: &str) -> Page {
    browser
        .submit(
            "/console/password",
            "/console/password",
            &[
                ("current_password", current),
                ("password", new),
                ("confirm_password", new),
            ],
        )
        .await
}

async fn reset_password_by_email(app: &TestApp, browser: &mut Browser, email: &str, new: &str) {
    browser
        .submit("/password/forgot", "/password/forgot", &[("email", email)])
        .await;
    let link = app.link_in_latest_mail(email).await;
    assert!(link.starts_with("/password/reset?token="), "{link}");
    let form = browser.get(&link).await;
    let token = link.split("token=").nth(1).unwrap();
    let done = browser
        .post(
            "/password/reset",
            &[
                ("token", token),
                ("password", new),
                ("confirm_password", new),
                ("csrf_token", &form.csrf()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// `Troubleshoot MFA` → `Sign in using alternative factors` from the MFA page the browser is
/// on; returns the answer.
async fn try_to_start_recovery(browser: &mut Browser) -> Page {
    let troubleshoot = browser.get("/signin/mfa/troubleshoot").await;
    browser
        .post("/signin/recovery", &[("csrf_token", &troubleshoot.csrf())])
        .await
}

#[tokio::test]
async fn this_wasnt_me_undoes_what_the_intruder_added_and_blocks_until_the_owner_proves_control() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        let owner_secret = account_with_device(&app, &mut owner, "gus@example.com").await;
        let original = device_ids(&app, "gus@example.com").await;

        // The intruder completes a recovery, then makes themselves at home: a device of their
        // own, a password of their own, a full session signed in with both, one more device.
        let mut intruder = app.browser();
        recover(&app, &mut intruder, "gus@example.com").await;
        let intruder_secret = activate(&app, &mut intruder, "Intruder phone").await;
        let changed = change_password(&mut intruder, PASSWORD, "intruder-owns-this-7").await;
        assert_eq!(
            changed.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            changed.body
        );
        intruder
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        app.clock.advance(Duration::seconds(30));
        let page = intruder
            .sign_in("gus@example.com", "intruder-owns-this-7")
            .await;
        assert_eq!(page.location(), "/signin/mfa", "{name}");
        let intruder_device = device_ids(&app, "gus@example.com")
            .await
            .into_iter()
            .find(|id| !original.contains(id))
            .unwrap();
        let full = submit_code(
            &mut intruder,
            Some(&intruder_device),
            &totp(&intruder_secret, &app.clock, 0),
        )
        .await;
        assert_eq!(full.location(), "/console/security-credentials", "{name}");
        app.clock.advance(Duration::seconds(30));
        activate(&app, &mut intruder, "Intruder key 2").await;
        assert_eq!(device_ids(&app, "gus@example.com").await.len(), 3, "{name}");

        // Hours later the owner reads the completion notice and presses This wasn't me.
        app.clock.advance(Duration::hours(5));
        let link = report_link(&app, "gus@example.com", "You signed in").await;
        let stopped = press_this_wasnt_me(&mut owner, &link).await;
        assert_eq!(stopped.status, StatusCode::OK, "{name}: {}", stopped.body);
        assert!(
            stopped
                .body
                .contains("The 2 MFA devices added since it began were removed"),
            "{name}: {}",
            stopped.body
        );

        // Everything the intruder added is gone: sessions, devices, password.
        assert_eq!(
            intruder
                .get("/console/security-credentials")
                .await
                .location(),
            "/signin",
            "{name}: the intruder's full session ended"
        );
        assert_eq!(
            device_ids(&app, "gus@example.com").await,
            original,
            "{name}: only the owner's own device is left"
        );
        for password in ["intruder-owns-this-7", PASSWORD] {
            let refused = intruder.sign_in("gus@example.com", password).await;
            assert_eq!(
                refused.status,
                StatusCode::UNAUTHORIZED,
                "{name}: {password} no longer signs in"
            );
        }
        let mails = app.mails_to("gus@example.com").await;
        assert!(
            mails
                .iter()
                .any(|m| m.subject.contains("You stopped a sign-in")),
            "{name}: the owner is told what was undone"
        );

        // The owner proves control of the email; alternative factors stay blocked...
        app.clock.advance(Duration::minutes(1));
        reset_password_by_email(&app, &mut owner, "gus@example.com", "owner-again-harbor-5").await;
        let page = owner
            .sign_in("gus@example.com", "owner-again-harbor-5")
            .await;
        assert_eq!(page.location(), "/signin/mfa", "{name}");
        let blocked = try_to_start_recovery(&mut owner).await;
        assert_eq!(blocked.status, StatusCode::FORBIDDEN, "{name}");
        assert!(blocked.body.contains("blocked"), "{name}");
        // ...until the owner signs in with a device that predates the recovery.
        let signed_in = submit_code(&mut owner, None, &totp(&owner_secret, &app.clock, 0)).await;
        assert_eq!(
            signed_in.location(),
            "/console/security-credentials",
            "{name}"
        );
        owner
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        let page = owner
            .sign_in("gus@example.com", "owner-again-harbor-5")
            .await;
        assert_eq!(page.location(), "/signin/mfa", "{name}");
        let available = try_to_start_recovery(&mut owner).await;
        assert_eq!(
            available.location(),
            "/signin/recovery",
            "{name}: the block is lifted"
        );
    }
}

#[tokio::test]
async fn a_recovery_session_may_only_replace_the_lost_device() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "ida@example.com").await;
        let device = device_ids(&app, "ida@example.com").await[0].clone();
        recover(&app, &mut browser, "ida@example.com").await;
        // The console: Security credentials works, Resync does not.
        let credentials = browser.get("/console/security-credentials").await;
        assert_eq!(credentials.status, StatusCode::OK, "{name}");
        // The event history shows where and when the owner signs in: not for this session.
        assert!(!credentials.body.contains("/console/events"), "{name}");
        let history = browser.get("/console/events").await;
        assert_eq!(history.status, StatusCode::FORBIDDEN, "{name}");
        let manage = browser.get(&format!("/console/mfa/{device}/manage")).await;
        assert_eq!(manage.status, StatusCode::OK, "{name}");
        let resync = browser
            .post(
                &format!("/console/mfa/{device}/resync"),
                &[
                    ("code1", "123456"),
                    ("code2", "654321"),
                    ("csrf_token", &manage.csrf()),
                ],
            )
            .await;
        assert_eq!(resync.status, StatusCode::FORBIDDEN, "{name}");
        assert!(
            resync
                .body
                .contains("You signed in with alternative factors"),
            "{name}"
        );
    }
}

/// Every API route that takes a session refuses a recovery session, except the few that
/// replace a device: the list below is what is allowed, so a route added later is refused
/// unless someone decides otherwise here.
#[tokio::test]
async fn every_api_route_beyond_security_credentials_refuses_a_recovery_session() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    account_with_device(&app, &mut browser, "jan@example.com").await;
    let mut client = app.browser();
    let pending = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "jan@example.com", "password": PASSWORD})),
        )
        .await;
    let attempt = pending.json()["attempt_token"].as_str().unwrap().to_owned();
    let started = client
        .api(
            "POST",
            "/api/v1/recovery",
            None,
            Some(json!({"attempt_token": attempt})),
        )
        .await;
    let flow = json!({"recovery_token": started.json()["recovery_token"]});
    client
        .api("POST", "/api/v1/recovery/email", None, Some(flow.clone()))
        .await;
    let link = app.link_in_latest_mail("jan@example.com").await;
    let token = link.split("token=").nth(1).unwrap();
    client
        .api(
            "POST",
            "/api/v1/recovery/verify-email",
            None,
            Some(json!({"token": token})),
        )
        .await;
    let call = client
        .api("POST", "/api/v1/recovery/call", None, Some(flow.clone()))
        .await;
    let code = call.json()["code"].as_str().unwrap().to_owned();
    key_on_dev_phone(&app, &mut browser, &code).await;
    let session = client
        .api("POST", "/api/v1/recovery/complete", None, Some(flow))
        .await;
    let bearer = session.json()["session_token"].as_str().unwrap().to_owned();

    let allowed = [
        ("get", "/api/v1/me"),
        ("get", "/api/v1/mfa/devices"),
        ("post", "/api/v1/mfa/virtual"),
        ("post", "/api/v1/mfa/virtual/{enrollment_id}"),
        ("post", "/api/v1/mfa/hardware"),
        ("post", "/api/v1/mfa/security-keys"),
        ("post", "/api/v1/mfa/security-keys/options"),
        ("post", "/api/v1/mfa/devices/{device_id}/remove"),
        ("post", "/api/v1/password/change"),
        ("delete", "/api/v1/sessions/current"),
    ];
    let document = serde_json::to_value(latchkey_web::openapi_document()).unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs_session = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("session").is_some()));
            if !needs_session || allowed.contains(&(method.as_str(), path.as_str())) {
                continue;
            }
            let concrete = path
                .replace("{device_id}", "mfa-none")
                .replace("{enrollment_id}", "enr-none")
                .replace("{session_id}", "ses-none");
            let answer = client
                .api(
                    &method.to_uppercase(),
                    &concrete,
                    Some(&bearer),
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                answer.body
            );
            assert_eq!(
                answer.json()["error"]["code"],
                "recovery_session_scope",
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "at least the resync route is out of scope");
    // And the allowed ones answer the session (the device list, for one).
    assert_eq!(
        client
            .api("GET", "/api/v1/mfa/devices", Some(&bearer), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn report_links_work_once_and_expire_after_seven_days() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "kay@example.com").await;
        // A recovery long ago, completed: its link has expired.
        let mut first = app.browser();
        recover(&app, &mut first, "kay@example.com").await;
        let old_link = report_link(&app, "kay@example.com", "You signed in").await;
        first
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        app.clock.advance(Duration::minutes(24 * 7 * 60 + 1));
        let expired = owner.get(&old_link).await;
        assert_eq!(expired.status, StatusCode::GONE, "{name}: {}", expired.body);

        // A fresh one: the link works once.
        let mut second = app.browser();
        password_step(&mut second, "kay@example.com").await;
        let started = try_to_start_recovery(&mut second).await;
        assert_eq!(started.location(), "/signin/recovery", "{name}");
        let link = report_link(&app, "kay@example.com", "started to sign in").await;
        assert_ne!(link, old_link);
        let stopped = press_this_wasnt_me(&mut owner, &link).await;
        assert_eq!(stopped.status, StatusCode::OK, "{name}");
        let again = owner.get(&link).await;
        assert_eq!(again.status, StatusCode::GONE, "{name}: used");
    }
}

#[tokio::test]
async fn the_emailed_link_says_when_and_from_where_and_can_say_it_was_not_you() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "lea@example.com").await;
        let mut intruder = app.browser();
        start(&mut intruder, "lea@example.com").await;
        press(&mut intruder, "/signin/recovery/email").await;
        let link = app.link_in_latest_mail("lea@example.com").await;
        let page = owner.get(&link).await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        for shown in [
            "Started",
            "From the network address",
            "In the browser",
            "Confirm email address",
            "This wasn",
        ] {
            assert!(page.body.contains(shown), "{name}: {shown}");
        }
        let token = link.split("token=").nth(1).unwrap();
        let stopped = owner
            .post(
                "/recovery/email/report",
                &[("token", token), ("csrf_token", &page.csrf())],
            )
            .await;
        assert_eq!(stopped.status, StatusCode::OK, "{name}: {}", stopped.body);
        assert!(stopped.body.contains("Sign-in stopped"), "{name}");
        // The intruder's flow is over, and the link with it.
        let over = intruder.get("/signin/recovery").await;
        assert_eq!(over.status, StatusCode::GONE, "{name}");
        assert_eq!(owner.get(&link).await.status, StatusCode::GONE, "{name}");
    }
}

#[tokio::test]
async fn one_sign_in_attempt_starts_one_flow_and_a_completed_flow_ends_its_siblings() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "max@example.com").await;
        let mut laptop = app.browser();
        start(&mut laptop, "max@example.com").await;
        // The same attempt cannot start a second flow (each would email the owner).
        let again = try_to_start_recovery(&mut laptop).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{name}: {}", again.body);
        let starts = app
            .mails_to("max@example.com")
            .await
            .iter()
            .filter(|m| m.subject.contains("started to sign in"))
            .count();
        assert_eq!(starts, 1, "{name}");
        // A sibling flow from another browser completes; the first one ends with it.
        let mut phone = app.browser();
        recover(&app, &mut phone, "max@example.com").await;
        let over = laptop.get("/signin/recovery").await;
        assert_eq!(over.status, StatusCode::GONE, "{name}");
    }
}

/// The session identifier is rotated on every path that issues a session, not only the
/// password: a code, and alternative factors, revoke whatever session the browser held —
/// even one of another account.
#[tokio::test]
async fn every_sign_in_path_revokes_the_session_the_browser_held() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("amy@example.com").await;
        let mut setup = app.browser();
        let secret = account_with_device(&app, &mut setup, "ben@example.com").await;
        let held = |browser: &Browser| {
            latchkey_service::SecretToken::from_presented(&browser.session_cookie().unwrap())
                .unwrap()
                .hash()
        };
        let revoked = |hash: latchkey_service::TokenHash| {
            let store = app.store.clone();
            async move {
                store
                    .session_identity(&hash)
                    .await
                    .unwrap()
                    .unwrap()
                    .session
                    .revoked_at
                    .is_some()
            }
        };

        // The sign-in page sends a signed-in browser to its console, so the second sign-in
        // posts the password form directly, as a second tab would.
        async fn password_while_signed_in(browser: &mut Browser, email: &str) {
            let csrf = browser.get("/signup").await.csrf();
            let page = browser
                .post(
                    "/signin/password",
                    &[
                        ("email", email),
                        ("password", PASSWORD),
                        ("csrf_token", &csrf),
                    ],
                )
                .await;
            assert_eq!(page.location(), "/signin/mfa", "{}", page.body);
        }
        let mut browser = app.browser();
        browser.sign_in("amy@example.com", PASSWORD).await;
        let amy = held(&browser);
        // Password, then a code for another account, in the same browser.
        password_while_signed_in(&mut browser, "ben@example.com").await;
        let signed_in = submit_code(&mut browser, None, &totp(&secret, &app.clock, 0)).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{name}");
        assert!(
            revoked(amy).await,
            "{name}: the code step rotated the session"
        );

        // Alternative factors, likewise, from a browser holding Amy's session.
        app.clock.advance(Duration::seconds(30));
        let mut other = app.browser();
        other.sign_in("amy@example.com", PASSWORD).await;
        let amy_again = held(&other);
        password_while_signed_in(&mut other, "ben@example.com").await;
        let troubleshoot = other.get("/signin/mfa/troubleshoot").await;
        let started = other
            .post("/signin/recovery", &[("csrf_token", &troubleshoot.csrf())])
            .await;
        assert_eq!(started.location(), "/signin/recovery", "{name}");
        press(&mut other, "/signin/recovery/email").await;
        confirm_email(&app, &mut other, "ben@example.com").await;
        press(&mut other, "/signin/recovery/call").await;
        let code = code_on(&other.get("/signin/recovery").await);
        key_on_dev_phone(&app, &mut other, &code).await;
        let done = press(&mut other, "/signin/recovery/complete").await;
        assert_eq!(done.location(), "/console/security-credentials", "{name}");
        assert!(
            revoked(amy_again).await,
            "{name}: recovery rotated the session"
        );
    }
}

#[tokio::test]
async fn this_wasnt_me_over_json_says_what_it_undid() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "ned@example.com").await;
        let mut intruder = app.browser();
        recover(&app, &mut intruder, "ned@example.com").await;
        activate(&app, &mut intruder, "Intruder phone").await;
        let link = report_link(&app, "ned@example.com", "You signed in").await;
        let token = link.split("token=").nth(1).unwrap();
        let mut client = app.browser();
        let undone = client
            .api(
                "POST",
                "/api/v1/recovery/cancel",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(undone.status, StatusCode::OK, "{name}: {}", undone.body);
        assert_eq!(undone.json()["devices_removed"], 1, "{name}");
        assert!(undone.json()["devices_before"].as_i64().unwrap() > 0);
        assert_eq!(
            intruder
                .get("/console/security-credentials")
                .await
                .location(),
            "/signin",
            "{name}"
        );
        let again = client
            .api(
                "POST",
                "/api/v1/recovery/cancel",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(again.status, StatusCode::GONE, "{name}: once");
    }
}

async fn api_reset_password(app: &TestApp, client: &mut Browser, email: &str, new: &str) {
    let asked = client
        .api(
            "POST",
            "/api/v1/password/forgot",
            None,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    let link = app.link_in_latest_mail(email).await;
    let token = link.split("token=").nth(1).unwrap();
    let done = client
        .api(
            "POST",
            "/api/v1/password/reset",
            None,
            Some(json!({"token": token, "password": new})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// A request already under way when `This wasn't me` revoked its session cannot land after
/// the undo: the write itself checks the session, with the account row locked.
#[tokio::test]
async fn a_request_under_way_cannot_finish_after_this_wasnt_me() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "lee@example.com").await;
        let owner_device = device_ids(&app, "lee@example.com").await[0].clone();
        let mut intruder = app.browser();
        recover(&app, &mut intruder, "lee@example.com").await;
        // The intruder's request has read its session and is about to write…
        let token = intruder.session_cookie().unwrap();
        let session = app.service.authenticate(&token).await.unwrap().unwrap();
        let ctx = latchkey_service::RequestContext::new("203.0.113.66", "intruder");
        // …when the owner presses This wasn't me.
        let link = report_link(&app, "lee@example.com", "You signed in").await;
        assert_eq!(
            press_this_wasnt_me(&mut owner, &link).await.status,
            StatusCode::OK
        );
        let removed = app
            .service
            .remove_device(&session, &owner_device, None, &ctx)
            .await;
        assert!(removed.is_err(), "{name}: {removed:?}");
        let changed = app
            .service
            .change_password(&session, PASSWORD, "intruder-after-report-51", &ctx)
            .await;
        assert!(
            changed.is_err(),
            "{name}: the password change is refused too"
        );
        assert_eq!(
            device_ids(&app, "lee@example.com").await,
            vec![owner_device],
            "{name}: the owner's device is still there"
        );
    }
}

/// An intruder who removed every device before the owner pressed This wasn't me does not
/// leave an email-and-password account behind: whoever resets the password next is refused a
/// session until an operator unblocks the account.
#[tokio::test]
async fn an_account_left_without_devices_is_not_an_email_and_password_account() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "uma@example.com").await;
        let owner_device = device_ids(&app, "uma@example.com").await[0].clone();
        let mut intruder = app.browser();
        recover(&app, &mut intruder, "uma@example.com").await;
        let token = intruder.session_cookie().unwrap();
        let removed = intruder
            .api(
                "POST",
                &format!("/api/v1/mfa/devices/{owner_device}/remove"),
                Some(&token),
                Some(json!({})),
            )
            .await;
        assert_eq!(removed.status, StatusCode::OK, "{name}");
        let link = report_link(&app, "uma@example.com", "You signed in").await;
        assert_eq!(
            press_this_wasnt_me(&mut owner, &link).await.status,
            StatusCode::OK
        );
        let mut inbox_reader = app.browser();
        api_reset_password(
            &app,
            &mut inbox_reader,
            "uma@example.com",
            "inbox-reader-phrase-64",
        )
        .await;
        let page = inbox_reader
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "uma@example.com", "password": "inbox-reader-phrase-64"})),
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{name}: {}", page.body);
        assert_eq!(page.json()["error"]["code"], "recovery_blocked", "{name}");
    }
}

/// A sign-in attempt begun with the old password does not outlive a reset.
#[tokio::test]
async fn a_reset_ends_what_the_old_password_began() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut owner = app.browser();
        account_with_device(&app, &mut owner, "max@example.com").await;
        let mut attacker = app.browser();
        password_step(&mut attacker, "max@example.com").await;
        let mut recovering = app.browser();
        start(&mut recovering, "max@example.com").await;
        let mut client = app.browser();
        api_reset_password(
            &app,
            &mut client,
            "max@example.com",
            "brand-new-owner-phrase-3",
        )
        .await;
        assert_eq!(
            attacker.get("/signin/mfa").await.status,
            StatusCode::GONE,
            "{name}: the attempt ended"
        );
        assert_eq!(
            recovering.get("/signin/recovery").await.status,
            StatusCode::GONE,
            "{name}: the recovery flow ended"
        );
    }
}

/// A recovery session may only replace devices: neither a continuation waiting in the browser
/// when the recovery completes nor one asked for afterwards takes it anywhere else.
#[tokio::test]
async fn a_recovery_session_never_follows_a_continuation() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    account_with_device(&app, &mut browser, "cont@example.com").await;
    start(&mut browser, "cont@example.com").await;
    // base64url of `/console/mfa/activate`, as the sign-in page would have stored it.
    browser.cookies.insert(
        "latchkey_return_to".to_owned(),
        "L2NvbnNvbGUvbWZhL2FjdGl2YXRl".to_owned(),
    );
    press(&mut browser, "/signin/recovery/email").await;
    confirm_email(&app, &mut browser, "cont@example.com").await;
    press(&mut browser, "/signin/recovery/call").await;
    let code = code_on(&browser.get("/signin/recovery").await);
    key_on_dev_phone(&app, &mut browser, &code).await;
    let done = press(&mut browser, "/signin/recovery/complete").await;
    assert_eq!(
        done.location(),
        "/console/security-credentials",
        "{}",
        done.body
    );
    assert!(!browser.cookies.contains_key("latchkey_return_to"));

    let asked = browser.get("/signin?return_to=%2Fconsole%2Fpassword").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location(), "/console/security-credentials");
}
