//! Throttling as an attacker meets it: twenty identical requests at the same instant, someone
//! who knows only the email address, someone who holds an old session. Every rule is checked
//! on SQLite and PostgreSQL.

use axum::http::StatusCode;
use latchkey_domain::Duration;
use serde_json::json;

use crate::harness::{Browser, PASSWORD, Page, TestApp, totp};
use crate::mfa::{activate, device_ids, password_step, submit_code};
use crate::recovery::start;

/// Sends every request of `requests` at the same instant, each from its own clone of
/// `browser`, and returns the answers.
async fn all_at_once<F, Fut>(browser: &Browser, count: usize, request: F) -> Vec<Page>
where
    F: Fn(Browser) -> Fut,
    Fut: std::future::Future<Output = Page> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let barrier = barrier.clone();
            let request = request(browser.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut pages = Vec::new();
    for task in tasks {
        pages.push(task.await.unwrap());
    }
    pages
}

/// The notices about throttling the owner was sent, after delivering what is queued.
async fn throttle_notices(app: &TestApp, to: &str) -> Vec<latchkey_service::store::DevMail> {
    app.mails_to(to)
        .await
        .into_iter()
        .filter(|m| m.subject.contains("slowed down") || m.subject.contains("locked your"))
        .collect()
}

fn count(events: &[(String, String, String)], event: &str, detail: &str) -> usize {
    events
        .iter()
        .filter(|(e, _, d)| e == event && d == detail)
        .count()
}

#[tokio::test]
async fn twenty_parallel_wrong_passwords_are_judged_one_after_the_other() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("ann@example.com").await;
        // Over the API, from a client the account has never seen.
        let api = all_at_once(&app.browser(), 20, |mut client| async move {
            client
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "ann@example.com", "password": "wrong-guess-123"})),
                )
                .await
        })
        .await;
        assert!(api.iter().all(|p| p.status == StatusCode::UNAUTHORIZED));
        let events = app.audit_events().await;
        assert_eq!(
            count(&events, "sign_in", "wrong_password"),
            5,
            "only the free failures were checked: {name}"
        );
        assert_eq!(count(&events, "sign_in", "throttled"), 15, "{name}");
        // The owner hears of it once: one failure, not twenty, spent the free ones.
        assert_eq!(
            count(&events, "account_throttled", "throttled:unknown_sources"),
            1,
            "{name}"
        );
        let notices = throttle_notices(&app, "ann@example.com").await;
        assert_eq!(notices.len(), 1, "{name}");
        assert!(
            notices[0].text_body.contains("5 attempts in a row")
                && notices[0].text_body.contains("/console/events"),
            "{name}: {}",
            notices[0].text_body
        );

        // The console's password form, likewise, for another account (once the client's
        // admission bucket, shared by every test client, has refilled).
        app.clock.advance(Duration::minutes(1));
        app.active_account("bob@example.com").await;
        let mut browser = app.browser();
        let page = browser.get("/signin").await;
        let step2 = browser
            .post(
                "/signin",
                &[("email", "bob@example.com"), ("csrf_token", &page.csrf())],
            )
            .await;
        let token = step2.csrf();
        let console = all_at_once(&browser, 20, |mut client| {
            let token = token.clone();
            async move {
                client
                    .post(
                        "/signin/password",
                        &[
                            ("email", "bob@example.com"),
                            ("password", "wrong-guess-123"),
                            ("csrf_token", &token),
                        ],
                    )
                    .await
            }
        })
        .await;
        assert!(console.iter().all(|p| p.status == StatusCode::UNAUTHORIZED));
        let events = app.audit_events().await;
        assert_eq!(count(&events, "sign_in", "wrong_password"), 10, "{name}");
        // And the right password, now, is refused with the same answer.
        let right = browser.sign_in("bob@example.com", PASSWORD).await;
        assert_eq!(right.status, StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn unknown_addresses_are_reserved_and_throttled_like_accounts() {
    for app in TestApp::all().await {
        let name = app.name;
        let pages = all_at_once(&app.browser(), 20, |mut client| async move {
            client
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "nobody@example.com", "password": "wrong-guess-123"})),
                )
                .await
        })
        .await;
        assert!(pages.iter().all(|p| p.status == StatusCode::UNAUTHORIZED));
        let events = app.audit_events().await;
        assert_eq!(count(&events, "sign_in", "unknown_email"), 5, "{name}");
        assert_eq!(count(&events, "sign_in", "throttled"), 15, "{name}");
    }
}

#[tokio::test]
async fn twenty_parallel_wrong_codes_are_judged_one_after_the_other() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("cat@example.com").await;
        let mut owner = app.browser();
        owner.sign_in("cat@example.com", PASSWORD).await;
        let secret = activate(&app, &mut owner, "Phone").await;
        let device = device_ids(&app, "cat@example.com").await[0].clone();
        // Someone who knows the password, on a browser of their own.
        let mut attacker = app.browser();
        password_step(&mut attacker, "cat@example.com").await;
        let page = attacker.get("/signin/mfa").await;
        let token = page.csrf();
        let pages = all_at_once(&attacker, 20, |mut client| {
            let (token, device) = (token.clone(), device.clone());
            async move {
                client
                    .post(
                        "/signin/mfa",
                        &[
                            ("device_id", device.as_str()),
                            ("code", "000000"),
                            ("csrf_token", &token),
                        ],
                    )
                    .await
            }
        })
        .await;
        // (One chance in a million that 000000 is the right code.)
        let _ = &secret;
        assert!(
            pages.iter().all(|p| p.status == StatusCode::UNAUTHORIZED),
            "{name}"
        );
        let events = app.audit_events().await;
        assert_eq!(count(&events, "mfa_code", "wrong_code"), 5, "{name}");
        assert_eq!(count(&events, "mfa_code", "throttled"), 15, "{name}");
        assert_eq!(
            throttle_notices(&app, "cat@example.com").await.len(),
            1,
            "{name}: wrong codes are failures the owner hears of too"
        );
        assert_eq!(
            app.store
                .mfa_devices(&owner_account(&app, "cat@example.com").await)
                .await
                .unwrap()[0]
                .failed_attempts,
            5,
            "the device counts only the codes it checked: {name}"
        );
        // The attacker's counter is spent for the password too, over the API as well.
        let login = attacker
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "cat@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            login.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {}",
            login.body
        );
    }
}

async fn owner_account(app: &TestApp, email: &str) -> latchkey_domain::AccountId {
    app.store
        .account_by_email(&latchkey_domain::EmailAddress::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn someone_who_knows_only_the_email_cannot_keep_the_owner_out() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("dee@example.com").await;
        let mut owner = app.browser();
        owner.sign_in("dee@example.com", PASSWORD).await;
        let secret = activate(&app, &mut owner, "Phone").await;
        owner
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        assert!(
            owner.cookies.contains_key("latchkey_device"),
            "the owner's browser is a known device"
        );
        // Guesses from elsewhere until the account's shared counter is locked for good.
        let mut attacker = app.browser();
        for _ in 0..100 {
            let page = attacker
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "dee@example.com", "password": "wrong-guess-123"})),
                )
                .await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{name}");
            app.clock.advance(Duration::hours(1));
        }
        let events = app.audit_events().await;
        assert_eq!(count(&events, "sign_in", "wrong_password"), 100, "{name}");
        let locked = attacker
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "dee@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            locked.status,
            StatusCode::UNAUTHORIZED,
            "an unknown device, even with the right password, is locked out: {name}"
        );
        assert_eq!(count(&app.audit_events().await, "sign_in", "locked"), 1);

        // The owner's known device signs in: password, then the code.
        password_step(&mut owner, "dee@example.com").await;
        let signed_in = submit_code(&mut owner, None, &totp(&secret, &app.clock, 0)).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(signed_in.location(), "/console/security-credentials");
        owner
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        // And from there, Troubleshoot MFA → alternative factors stays available.
        let recovery = start(&mut owner, "dee@example.com").await;
        assert!(
            recovery.body.contains("Send verification email"),
            "{name}: {}",
            recovery.body
        );

        // The owner on a device latchkey has never seen: a password reset by email clears
        // the counters and makes that browser a known device, so the guesser, throttling the
        // shared counter again at once, no longer keeps it out.
        let mut laptop = app.browser();
        laptop
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "dee@example.com")],
            )
            .await;
        let link = app.link_in_latest_mail("dee@example.com").await;
        let form = laptop.get(&link).await;
        let token = link.split("token=").nth(1).unwrap();
        let reset = laptop
            .post(
                "/password/reset",
                &[
                    ("token", token),
                    ("password", "owner-again-harbor-5"),
                    ("confirm_password", "owner-again-harbor-5"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(reset.status, StatusCode::OK, "{name}");
        assert!(laptop.cookies.contains_key("latchkey_device"), "{name}");
        for _ in 0..6 {
            attacker
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "dee@example.com", "password": "wrong-guess-123"})),
                )
                .await;
        }
        let page = laptop
            .sign_in("dee@example.com", "owner-again-harbor-5")
            .await;
        assert_eq!(page.location(), "/signin/mfa", "{name}: {}", page.body);
    }
}

#[tokio::test]
async fn re_authentication_is_throttled_counted_and_audited() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("eve@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("eve@example.com", PASSWORD).await;
        activate(&app, &mut browser, "Phone").await;
        let device = device_ids(&app, "eve@example.com").await[0].clone();
        // A stolen, old session cookie on another machine.
        let mut thief = app.browser();
        thief.cookies.insert(
            "latchkey_session".to_owned(),
            browser.session_cookie().unwrap(),
        );
        app.clock.advance(Duration::minutes(16));
        let manage = thief.get(&format!("/console/mfa/{device}/manage")).await;
        assert_eq!(manage.status, StatusCode::OK, "{name}");
        let token = manage.csrf();
        let action = format!("/console/mfa/{device}/remove");
        let pages = all_at_once(&thief, 20, |mut client| {
            let (token, action) = (token.clone(), action.clone());
            async move {
                client
                    .post(
                        &action,
                        &[("password", "wrong-guess-123"), ("csrf_token", &token)],
                    )
                    .await
            }
        })
        .await;
        assert!(
            pages.iter().all(|p| p.status.is_client_error()),
            "{name}: {:?}",
            pages.iter().map(|p| p.status).collect::<Vec<_>>()
        );
        let events = app.audit_events().await;
        assert_eq!(
            count(&events, "reauthentication", "wrong_password"),
            5,
            "{name}"
        );
        assert_eq!(
            count(&events, "reauthentication", "throttled"),
            15,
            "{name}"
        );
        // The right password now waits out the delay too.
        let manage = thief.get(&format!("/console/mfa/{device}/manage")).await;
        let refused = thief
            .post(
                &action,
                &[("password", PASSWORD), ("csrf_token", &manage.csrf())],
            )
            .await;
        assert!(refused.body.contains("Too many wrong passwords"), "{name}");
        assert_eq!(device_ids(&app, "eve@example.com").await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn twenty_parallel_wrong_current_passwords_are_judged_one_after_the_other() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("hal@example.com").await;
        let mut client = app.browser();
        let login = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "hal@example.com", "password": PASSWORD})),
            )
            .await;
        let bearer = login.json()["session_token"].as_str().unwrap().to_owned();
        let pages = all_at_once(&client, 20, |mut client| {
            let bearer = bearer.clone();
            async move {
                client
                    .api(
                        "POST",
                        "/api/v1/password/change",
                        Some(&bearer),
                        Some(json!({"current_password": "wrong-guess-123", "new_password": "fresh-harbor-signal-3"})),
                    )
                    .await
            }
        })
        .await;
        assert!(
            pages
                .iter()
                .all(|p| p.status == StatusCode::UNPROCESSABLE_ENTITY),
            "{name}"
        );
        let events = app.audit_events().await;
        assert_eq!(
            count(&events, "reauthentication", "wrong_password"),
            5,
            "{name}"
        );
        assert_eq!(
            count(&events, "reauthentication", "throttled"),
            15,
            "{name}"
        );
    }
}

#[tokio::test]
async fn change_password_honours_the_throttle() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("fox@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("fox@example.com", PASSWORD).await;
        let bearer_login = browser
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "fox@example.com", "password": PASSWORD})),
            )
            .await;
        let bearer = bearer_login.json()["session_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let change = |current: &'static str| json!({"current_password": current, "new_password": "fresh-harbor-signal-3"});
        for _ in 0..5 {
            let wrong = browser
                .api(
                    "POST",
                    "/api/v1/password/change",
                    Some(&bearer),
                    Some(change("wrong-guess-123")),
                )
                .await;
            assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        }
        let right = browser
            .api(
                "POST",
                "/api/v1/password/change",
                Some(&bearer),
                Some(
                    json!({"current_password": PASSWORD, "new_password": "fresh-harbor-signal-3"}),
                ),
            )
            .await;
        assert_eq!(right.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(right.body.contains("Too many wrong passwords"), "{name}");
        app.clock.advance(Duration::seconds(30));
        let later = browser
            .api(
                "POST",
                "/api/v1/password/change",
                Some(&bearer),
                Some(
                    json!({"current_password": PASSWORD, "new_password": "fresh-harbor-signal-3"}),
                ),
            )
            .await;
        assert!(later.status.is_success(), "{name}: {}", later.body);
    }
}

#[tokio::test]
async fn asking_for_more_reset_links_never_kills_the_owners_and_is_bounded_silently() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("gia@example.com").await;
        let mut owner = app.browser();
        let asked = owner
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "gia@example.com")],
            )
            .await;
        let link = app.link_in_latest_mail("gia@example.com").await;
        // Someone who knows only the address asks again and again.
        let mut attacker = app.browser();
        for _ in 0..5 {
            let again = attacker
                .submit(
                    "/password/forgot",
                    "/password/forgot",
                    &[("email", "gia@example.com")],
                )
                .await;
            assert_eq!(again.status, asked.status, "{name}");
            assert_eq!(
                again.body, asked.body,
                "{name}: the same answer, sent or not"
            );
        }
        let resets = app
            .mails_to("gia@example.com")
            .await
            .iter()
            .filter(|m| m.subject.contains("Reset"))
            .count();
        assert_eq!(resets, 3, "{name}: three reset emails an hour");
        let events = app.audit_events().await;
        assert_eq!(
            count(&events, "password_reset_requested", "reset_email_budget"),
            3,
            "{name}"
        );
        // The owner's link still works.
        let form = owner.get(&link).await;
        assert_eq!(form.status, StatusCode::OK, "{name}");
        let token = link.split("token=").nth(1).unwrap();
        let done = owner
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
        assert_eq!(done.status, StatusCode::OK, "{name}: {}", done.body);
    }
}

/// A former password holder keeps the device tokens of every sign-in they completed. Once the
/// owner sets a new password, those tokens no longer earn failure counters of their own: the
/// guesses at the new password all land on the account's shared counter.
#[tokio::test]
async fn device_tokens_from_before_a_new_password_buy_no_extra_guesses() {
    for backend in latchkey_test_support::backends().await {
        let app = TestApp::with_service_config(backend, |config| {
            config.lockout = latchkey_domain::lockout::LockoutPolicy {
                free_failures: 5,
                base_delay: Duration::seconds(0),
                max_delay: Duration::seconds(0),
                hard_limit: 5,
            };
        })
        .await;
        let name = app.name;
        app.active_account("kim@example.com").await;
        let mut former = app.browser();
        let mut tokens = Vec::new();
        for _ in 0..4 {
            let page = former
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "kim@example.com", "password": PASSWORD})),
                )
                .await;
            assert_eq!(page.status, StatusCode::CREATED, "{name}");
            tokens.push(page.json()["device_token"].as_str().unwrap().to_owned());
        }
        // The owner resets the password by email.
        let mut owner = app.browser();
        owner
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "kim@example.com")],
            )
            .await;
        let link = app.link_in_latest_mail("kim@example.com").await;
        let form = owner.get(&link).await;
        let token = link.split("token=").nth(1).unwrap();
        owner
            .post(
                "/password/reset",
                &[
                    ("token", token),
                    ("password", "owner-new-secret-phrase-88"),
                    ("confirm_password", "owner-new-secret-phrase-88"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        let before = count(&app.audit_events().await, "sign_in", "wrong_password");
        for (n, device) in tokens.iter().enumerate() {
            for guess in 0..5 {
                former
                    .api(
                        "POST",
                        "/api/v1/sessions",
                        None,
                        Some(json!({"email": "kim@example.com", "password": format!("guess-{n}-{guess}-xyz"), "device_token": device})),
                    )
                    .await;
            }
        }
        let checked = count(&app.audit_events().await, "sign_in", "wrong_password") - before;
        assert_eq!(checked, 5, "{name}: one shared counter, not one per token");
    }
}

/// Each known device has a bucket of its own, but the known devices of one account share a
/// deeper one: a drawer of tokens does not buy unlimited hashing (or queue priority); and a
/// neighbour's drawer does not touch the owner's bucket.
#[tokio::test]
async fn the_known_devices_of_one_account_share_a_bounded_bucket_and_a_neighbour_cannot_drain_it() {
    let backend = latchkey_test_support::sqlite_backend().await;
    let app = TestApp::with_service_config(backend, |config| {
        config.admission = latchkey_domain::admission::AdmissionPolicy {
            burst: 3,
            refill_every: Duration::seconds(2),
        };
    })
    .await;
    app.active_account("lou@example.com").await;
    app.active_account("ann@example.com").await;
    let mut client = app.browser();
    let owner = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "ann@example.com", "password": PASSWORD})),
        )
        .await;
    let owner_token = owner.json()["device_token"].as_str().map(str::to_owned);
    app.clock.advance(Duration::seconds(60));
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let page = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "lou@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
        tokens.push(page.json()["device_token"].as_str().unwrap().to_owned());
        // Refill the address's own bucket between the sign-ins that mint the tokens.
        app.clock.advance(Duration::seconds(60));
    }
    let mut admitted = 0;
    for token in &tokens {
        for _ in 0..3 {
            let page = client
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "lou@example.com", "password": "wrong-guess-123", "device_token": token})),
                )
                .await;
            if page.status != StatusCode::TOO_MANY_REQUESTS {
                admitted += 1;
            }
        }
    }
    let bound = 3 * latchkey_service::admission::KNOWN_DEVICES_PER_ACCOUNT as usize;
    assert!(
        bound < 18,
        "the bound must be able to refuse some of the attempts"
    );
    assert_eq!(admitted, bound, "18 attempts on 6 tokens, {bound} admitted");

    // A neighbour behind the same address, drawing on tokens of their own account, took
    // nothing from the owner's known device.
    let owner_token = owner_token.expect("the owner signed in");
    let page = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "ann@example.com", "password": PASSWORD, "device_token": owner_token})),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
}
