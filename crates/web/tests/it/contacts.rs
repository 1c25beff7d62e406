//! Changing the email address and the phone number: who may, the proof, the notice with
//! `This wasn't me`, the cooling-off before alternative factors use a changed contact, and
//! the undo.

use axum::http::StatusCode;
use latchkey_domain::Duration;
use latchkey_service::Clock as _;

use crate::harness::{Browser, PASSWORD, Page, TestApp, key_on_dev_phone, totp};
use crate::mfa::{password_step, submit_code};
use crate::recovery::account_with_device;

/// Signs `browser` in with the password and a code of the device `secret`.
async fn sign_in_with_mfa(app: &TestApp, browser: &mut Browser, email: &str, secret: &str) {
    password_step(browser, email).await;
    app.clock.advance(Duration::seconds(30));
    let code = totp(secret, &app.clock, 0);
    let done = submit_code(browser, None, &code).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
}

async fn ask_for_email(browser: &mut Browser, value: &str) -> Page {
    browser
        .submit(
            "/console/account/email",
            "/console/account/email",
            &[("value", value)],
        )
        .await
}

/// Presses `Sign in using alternative factors` after the password.
async fn try_recovery(browser: &mut Browser, email: &str) -> Page {
    password_step(browser, email).await;
    let troubleshoot = browser.get("/signin/mfa/troubleshoot").await;
    browser
        .post("/signin/recovery", &[("csrf_token", &troubleshoot.csrf())])
        .await
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn only_a_fresh_mfa_sign_in_may_edit_a_contact() {
    for app in TestApp::all().await {
        let name = app.name;
        // Password only: the account has no MFA device.
        app.active_account("pat@example.com").await;
        let mut plain = app.browser();
        plain.sign_in("pat@example.com", PASSWORD).await;
        let refused = plain.get("/console/account/email").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{name}");
        assert!(
            refused.body.contains("needs a sign-in with an MFA device"),
            "{name}"
        );

        let mut browser = app.browser();
        let secret = account_with_device(&app, &mut browser, "ray@example.com").await;
        sign_in_with_mfa(&app, &mut browser, "ray@example.com", &secret).await;
        let credentials = browser.get("/console/security-credentials").await;
        assert!(
            credentials.body.contains("href=\"/console/account/email\""),
            "{name}"
        );
        assert_eq!(
            browser.get("/console/account/phone").await.status,
            StatusCode::OK,
            "{name}"
        );
        // Sixteen minutes on, the sign-in is too old; nothing is recorded.
        app.clock.advance(Duration::minutes(16));
        let stale = browser.get("/console/account/email").await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN, "{name}");
        assert!(stale.body.contains("within the last 15 minutes"), "{name}");
        let csrf = browser.get("/console/security-credentials").await.csrf();
        let posted = browser
            .post(
                "/console/account/email",
                &[("value", "new@example.com"), ("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{name}");
        assert!(app.mails_to("new@example.com").await.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn an_email_change_is_proven_by_its_link_told_to_the_old_address_and_cools_off() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("taken@example.com").await;
        let mut browser = app.browser();
        let secret = account_with_device(&app, &mut browser, "sam@example.com").await;
        sign_in_with_mfa(&app, &mut browser, "sam@example.com", &secret).await;

        // Bad input, each with its words, and nothing sent.
        for (value, words) in [
            (
                "sam@example.com",
                "current one: enter the new email address or phone number",
            ),
            (
                "taken@example.com",
                "An account with this email address already exists.",
            ),
            ("not an address", "Enter a valid email address"),
        ] {
            let page = ask_for_email(&mut browser, value).await;
            assert_eq!(page.status, StatusCode::OK, "{name}: {value}");
            assert!(page.body.contains(words), "{name}: {value}: {}", page.body);
        }

        let asked = ask_for_email(&mut browser, "sam.new@example.com").await;
        assert!(
            asked.body.contains("Check your new inbox"),
            "{name}: {}",
            asked.body
        );
        let link = app.link_in_latest_mail("sam.new@example.com").await;
        assert!(
            link.starts_with("/account/email/confirm?token="),
            "{name}: {link}"
        );
        // Until the link is opened, nothing changed.
        let account = app
            .service
            .store()
            .account_by_email(&latchkey_domain::EmailAddress::parse("sam@example.com").unwrap())
            .await
            .unwrap();
        assert!(account.is_some(), "{name}");

        let mut inbox = app.browser();
        let confirm = inbox.get(&link).await;
        assert!(
            confirm
                .body
                .contains("Use sam.new@example.com as the root user email address"),
            "{name}"
        );
        let done = inbox
            .post(
                link.split('?').next().unwrap(),
                &[("token", &token_of(&link)), ("csrf_token", &confirm.csrf())],
            )
            .await;
        assert!(
            done.body.contains("Email address changed"),
            "{name}: {}",
            done.body
        );
        let reused = inbox.get(&link).await;
        assert_eq!(
            reused.status,
            StatusCode::GONE,
            "{name}: the link works once"
        );

        // The old address is told, with This wasn't me.
        let told = app.mails_to("sam@example.com").await;
        let notice = told
            .iter()
            .find(|m| m.subject == "The email address of your latchkey account was changed")
            .unwrap_or_else(|| panic!("{name}: no notice to the old address"));
        assert!(
            notice.text_body.contains("changed to s***@example.com"),
            "{name}: the new address, masked: {}",
            notice.text_body
        );
        assert!(
            notice.text_body.contains("/account/contact/revert?token="),
            "{name}"
        );

        // The new address signs in; alternative factors wait for the cooling-off.
        let mut later = app.browser();
        let refused = try_recovery(&mut later, "sam.new@example.com").await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            refused.body
        );
        assert!(
            refused.body.contains(
                "was changed recently, so sign-in with alternative factors is not available until"
            ),
            "{name}: {}",
            refused.body
        );
        app.clock.advance(Duration::hours(24));
        let mut day_later = app.browser();
        let started = try_recovery(&mut day_later, "sam.new@example.com").await;
        assert_eq!(
            started.location(),
            "/signin/recovery",
            "{name}: {}",
            started.body
        );
    }
}

#[tokio::test]
async fn this_wasnt_me_puts_the_address_back_once_and_signs_out_everywhere() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut intruder = app.browser();
        let secret = account_with_device(&app, &mut intruder, "tia@example.com").await;
        sign_in_with_mfa(&app, &mut intruder, "tia@example.com", &secret).await;
        ask_for_email(&mut intruder, "evil@example.com").await;
        let link = app.link_in_latest_mail("evil@example.com").await;
        let confirm = intruder.get(&link).await;
        intruder
            .post(
                "/account/email/confirm",
                &[("token", &token_of(&link)), ("csrf_token", &confirm.csrf())],
            )
            .await;
        let revert = app
            .mails_to("tia@example.com")
            .await
            .into_iter()
            .find_map(|m| {
                m.text_body
                    .split_whitespace()
                    .find(|w| w.contains("/account/contact/revert?token="))
                    .map(|w| w.trim_end_matches(['.', ',']).to_owned())
            })
            .unwrap_or_else(|| panic!("{name}: no revert link"));
        let revert = revert[revert.find("/account").unwrap()..].to_owned();

        let mut owner = app.browser();
        let page = owner.get(&revert).await;
        assert!(page.body.contains("Undo the change"), "{name}");
        let undone = owner
            .post(
                "/account/contact/revert",
                &[("token", &token_of(&revert)), ("csrf_token", &page.csrf())],
            )
            .await;
        assert!(
            undone
                .body
                .contains("The root user email address is tia@example.com again."),
            "{name}: {}",
            undone.body
        );
        let account = app
            .service
            .store()
            .account_by_email(&latchkey_domain::EmailAddress::parse("tia@example.com").unwrap())
            .await
            .unwrap()
            .expect("the old address is back");
        assert_eq!(
            account.email_changed_at,
            Some(app.clock.now()),
            "{name}: a contact put back cools off like a new one, from the undo"
        );
        // The password is disabled: only a reset by email gets in again.
        let mut tries = app.browser();
        let refused = tries.sign_in("tia@example.com", PASSWORD).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{name}");
        // Both addresses are told.
        for to in ["tia@example.com", "evil@example.com"] {
            assert!(
                app.mails_to(to).await.iter().any(
                    |m| m.subject == "A change of your latchkey account's contacts was undone"
                ),
                "{name}: {to}"
            );
        }
        assert_eq!(
            intruder.get("/console/security-credentials").await.status,
            StatusCode::SEE_OTHER,
            "{name}: signed out"
        );
        let again = owner
            .post(
                "/account/contact/revert",
                &[("token", &token_of(&revert)), ("csrf_token", &page.csrf())],
            )
            .await;
        assert_eq!(again.status, StatusCode::GONE, "{name}: once only");
        assert!(
            app.audit_events()
                .await
                .iter()
                .any(|(e, o, _)| e == "contact_change_reverted" && o == "success"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_phone_change_is_proven_by_a_call_to_the_new_number_then_confirmed() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        let secret = account_with_device(&app, &mut browser, "uma@example.com").await;
        sign_in_with_mfa(&app, &mut browser, "uma@example.com", &secret).await;
        let same = browser
            .submit(
                "/console/account/phone",
                "/console/account/phone",
                &[("value", "+44 20 7946 0958")],
            )
            .await;
        assert!(
            same.body
                .contains("current one: enter the new email address or phone number"),
            "{name}"
        );
        let asked = browser
            .submit(
                "/console/account/phone",
                "/console/account/phone",
                &[("value", "+1 415 555 2671")],
            )
            .await;
        assert_eq!(
            asked.location(),
            "/console/account/phone/verify",
            "{name}: {}",
            asked.body
        );
        let waiting = browser.get("/console/account/phone/verify").await;
        assert!(
            waiting.body.contains("+*********71"),
            "{name}: {}",
            waiting.body
        );
        // Confirming before the call proved the number changes nothing.
        let early = browser
            .submit(
                "/console/account/phone/verify",
                "/console/account/phone/confirm",
                &[],
            )
            .await;
        assert_eq!(early.status, StatusCode::CONFLICT, "{name}: {}", early.body);
        let called = browser
            .submit(
                "/console/account/phone/verify",
                "/console/account/phone/call",
                &[],
            )
            .await;
        assert_eq!(called.location(), "/console/account/phone/verify", "{name}");
        let code = browser
            .get("/console/account/phone/verify")
            .await
            .element_text("phone-code");
        key_on_dev_phone(&app, &mut browser, &code).await;
        let verified = browser.get("/console/account/phone/verify").await;
        assert!(
            verified.body.contains("Use this number"),
            "{name}: {}",
            verified.body
        );
        let done = browser
            .submit(
                "/console/account/phone/verify",
                "/console/account/phone/confirm",
                &[],
            )
            .await;
        assert_eq!(
            done.location(),
            "/console/security-credentials?done=phone-changed",
            "{name}"
        );
        let account = app
            .service
            .store()
            .account_by_email(&latchkey_domain::EmailAddress::parse("uma@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.phone.as_str(), "+14155552671", "{name}");
        assert!(
            app.mails_to("uma@example.com")
                .await
                .iter()
                .any(|m| m.subject == "The phone number of your latchkey account was changed"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn twenty_confirmations_of_one_link_at_once_apply_it_once() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        let secret = account_with_device(&app, &mut browser, "vic@example.com").await;
        sign_in_with_mfa(&app, &mut browser, "vic@example.com", &secret).await;
        ask_for_email(&mut browser, "vic.new@example.com").await;
        let link = app.link_in_latest_mail("vic.new@example.com").await;
        let mut inbox = app.browser();
        let csrf = inbox.get(&link).await.csrf();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (mut client, token, csrf, barrier) = (
                    inbox.clone(),
                    token_of(&link),
                    csrf.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    client
                        .post(
                            "/account/email/confirm",
                            &[("token", &token), ("csrf_token", &csrf)],
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
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{name}: {statuses:?}"
        );
        let notices = app
            .mails_to("vic@example.com")
            .await
            .into_iter()
            .filter(|m| m.subject == "The email address of your latchkey account was changed")
            .count();
        assert_eq!(notices, 1, "{name}: one change, one notice");
    }
}
