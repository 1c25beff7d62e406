//! The console: sign-up, verification, sign-in, Security credentials, sign-out, password
//! reset, and what happens with bad or hostile input.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use latchkey_domain::Duration;

use crate::harness::{Browser, ORIGIN, PASSWORD, TestApp, key_on_dev_phone};

async fn sign_up(browser: &mut Browser, email: &str) -> crate::harness::Page {
    browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", email),
                ("account_name", "Acme Robotics"),
                ("password", PASSWORD),
                ("phone", "+44 20 7946 0958"),
            ],
        )
        .await
}

#[tokio::test]
async fn a_person_signs_up_verifies_signs_in_sees_credentials_and_signs_out() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        let created = sign_up(&mut browser, "Ann@Example.com").await;
        assert_eq!(created.status, StatusCode::OK, "{name}: {}", created.body);
        assert!(created.body.contains("Check your email"), "{name}");

        // Before the link is followed, the right password is refused like a wrong one:
        // anyone can sign up with any address, so "waiting for its link" must not look
        // different from "taken" (sign-up followed by sign-in would tell them apart).
        let early = browser.sign_in("ann@example.com", PASSWORD).await;
        assert_eq!(early.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            early
                .body
                .contains("Your authentication information is incorrect"),
            "{name}"
        );

        let link = app.link_in_latest_mail("ann@example.com").await;
        assert!(link.starts_with("/signup/verify?token="), "{name}: {link}");
        let confirm = browser.get(&link).await;
        assert_eq!(confirm.status, StatusCode::OK, "{name}");
        assert!(confirm.body.contains("Verify email address"), "{name}");
        let token = link.split("token=").nth(1).unwrap();
        let verified = browser
            .post(
                "/signup/verify",
                &[("token", token), ("csrf_token", &confirm.csrf())],
            )
            .await;
        assert_eq!(
            verified.location(),
            "/signup/phone",
            "{name}: {}",
            verified.body
        );

        // The account exists only once the phone is verified too; a sign-in in between is
        // sent back to the phone step.
        let mut elsewhere = app.browser();
        let early = elsewhere.sign_in("ann@example.com", PASSWORD).await;
        assert_eq!(early.location(), "/signup/phone", "{name}");
        let phone = browser.get("/signup/phone").await;
        assert!(
            phone.body.contains("Verify your phone number") && phone.body.contains("Call me now"),
            "{name}"
        );
        let called = browser
            .post("/signup/phone/call", &[("csrf_token", &phone.csrf())])
            .await;
        assert_eq!(called.location(), "/signup/phone", "{name}");
        let code = browser
            .get("/signup/phone")
            .await
            .element_text("phone-code");
        let answered = key_on_dev_phone(&app, &mut browser, &code).await;
        assert!(
            answered.body.contains("Your phone number is verified"),
            "{name}"
        );
        assert!(
            browser
                .get("/signup/phone")
                .await
                .body
                .contains("Your account is ready"),
            "{name}"
        );

        let signed_in = browser.sign_in("ann@example.com", PASSWORD).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            signed_in.body
        );
        assert_eq!(signed_in.location(), "/console/security-credentials");
        assert!(
            signed_in
                .set_cookies()
                .iter()
                .any(|c| c.starts_with("latchkey_session=")
                    && c.contains("HttpOnly")
                    && c.contains("SameSite=Lax")),
            "{name}"
        );

        let credentials = browser.get("/console/security-credentials").await;
        assert_eq!(credentials.status, StatusCode::OK, "{name}");
        for label in [
            "Security credentials",
            "Multi-factor authentication (MFA)",
            "ann@example.com",
            "Acme Robotics",
            "+**********58",
            "Sign out",
        ] {
            assert!(credentials.body.contains(label), "{name}: {label} missing");
        }
        let account = app
            .store
            .account_by_email(&latchkey_domain::EmailAddress::parse("ann@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            credentials.body.contains(account.id.as_str()),
            "{name}: account id shown"
        );
        assert_eq!(
            account.phone.as_str(),
            "+442079460958",
            "{name}: stored in E.164"
        );
        assert!(
            account.phone_verified_at.is_some(),
            "{name}: phone verified by the call"
        );

        let signed_out = browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        assert_eq!(signed_out.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(signed_out.location(), "/signin?signed_out=1");
        assert!(browser.session_cookie().is_none(), "{name}: cookie cleared");
        let after = browser.get("/console/security-credentials").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(after.location(), "/signin");

        let events: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(e, o, _)| format!("{e}:{o}"))
            .collect();
        for expected in [
            "sign_up:success",
            "sign_in:failure",
            "email_verified:success",
            "sign_in:success",
            "sign_out:success",
        ] {
            assert!(
                events.contains(&expected.to_owned()),
                "{name}: {expected} not in {events:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_stolen_session_cookie_is_useless_after_sign_out() {
    let app = TestApp::sqlite().await;
    app.active_account("bo@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("bo@example.com", PASSWORD).await;
    let stolen = browser.session_cookie().unwrap();
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    let mut thief = app.browser();
    thief.cookies.insert("latchkey_session".into(), stolen);
    assert_eq!(
        thief.get("/console/security-credentials").await.location(),
        "/signin"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = TestApp::sqlite().await;
    app.active_account("cy@example.com").await;
    let mut a = app.browser();
    let mut b = app.browser();
    // Same CSRF cookie for both so that the pages can be compared byte for byte.
    a.get("/signin").await;
    b.cookies = a.cookies.clone();
    let wrong = a.sign_in("cy@example.com", "not-the-password").await;
    let unknown = b.sign_in("nobody@example.com", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(wrong.set_cookies(), Vec::<String>::new());
    assert_eq!(unknown.set_cookies(), wrong.set_cookies());
    assert!(
        wrong
            .body
            .contains("Your authentication information is incorrect")
    );
    assert_eq!(
        unknown.body.replace("nobody@example.com", "EMAIL"),
        wrong.body.replace("cy@example.com", "EMAIL")
    );
}

#[tokio::test]
async fn repeated_failures_throttle_even_the_right_password_until_the_delay_passes() {
    let app = TestApp::sqlite().await;
    app.active_account("di@example.com").await;
    let mut browser = app.browser();
    for _ in 0..5 {
        assert_eq!(
            browser
                .sign_in("di@example.com", "wrong-password-1")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = browser.sign_in("di@example.com", PASSWORD).await;
    assert_eq!(
        throttled.status,
        StatusCode::UNAUTHORIZED,
        "same generic answer while throttled"
    );
    assert!(
        throttled
            .body
            .contains("Your authentication information is incorrect")
    );
    app.clock.advance(Duration::seconds(30));
    assert_eq!(
        browser.sign_in("di@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let details: Vec<String> = app
        .audit_events()
        .await
        .into_iter()
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(details.iter().filter(|d| *d == "wrong_password").count(), 5);
    assert_eq!(details.iter().filter(|d| *d == "throttled").count(), 1);
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_rotate_at_sign_in() {
    let app = TestApp::sqlite().await;
    app.active_account("ed@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("ed@example.com", PASSWORD).await;
    let first = browser.session_cookie().unwrap();
    // Signing in again from a second tab replaces the session rather than reusing it.
    let csrf = browser.get("/console/security-credentials").await.csrf();
    let again = browser
        .post(
            "/signin/password",
            &[
                ("email", "ed@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let second = browser.session_cookie().unwrap();
    assert_ne!(first, second, "a new session id at every sign-in");
    let mut old = app.browser();
    old.cookies.insert("latchkey_session".into(), first);
    assert_eq!(
        old.get("/console/security-credentials").await.location(),
        "/signin",
        "the replaced session is revoked"
    );

    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        browser.get("/console/security-credentials").await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        browser.get("/console/security-credentials").await.status,
        StatusCode::OK,
        "activity keeps it alive"
    );
    app.clock.advance(Duration::minutes(31));
    assert_eq!(
        browser
            .get("/console/security-credentials")
            .await
            .location(),
        "/signin"
    );
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_or_from_another_origin_change_nothing() {
    let app = TestApp::sqlite().await;
    let fields = [
        ("email", "fay@example.com"),
        ("account_name", "Acme"),
        ("password", PASSWORD),
        ("phone", "+442079460958"),
    ];
    let mut browser = app.browser();
    browser.get("/signup").await;

    let missing = browser.post("/signup", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("This form has expired"));

    let mut forged: Vec<(&str, &str)> = fields.to_vec();
    forged.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(
        browser.post("/signup", &forged).await.status,
        StatusCode::FORBIDDEN
    );

    // A token copied into another browser, whose cookie differs, is refused too.
    let token = browser.get("/signup").await.csrf();
    let mut other = app.browser();
    other.get("/signup").await;
    let mut copied: Vec<(&str, &str)> = fields.to_vec();
    copied.push(("csrf_token", &token));
    assert_eq!(
        other.post("/signup", &copied).await.status,
        StatusCode::FORBIDDEN
    );

    // The right token, but posted by a page on another site.
    let body = serde_urlencoded::to_string(&copied).unwrap();
    for (header_name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let request = Request::post("/signup")
            .header(
                header::COOKIE,
                browser
                    .cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header_name, value)
            .body(Body::from(body.clone()))
            .unwrap();
        let refused = browser.send(request).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{header_name}");
    }
    assert!(
        app.store
            .account_by_email(&latchkey_domain::EmailAddress::parse("fay@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.mails_to("fay@example.com").await.is_empty());
}

#[tokio::test]
async fn a_malformed_email_on_the_sign_in_page_is_explained_in_words() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    for (typed, words) in [
        (
            "not-an-email",
            "Enter a valid email address, such as name@example.com.",
        ),
        ("", "Enter an email address."),
    ] {
        let page = browser
            .submit("/signin", "/signin", &[("email", typed)])
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{typed:?}");
        assert!(page.body.contains(words), "{typed:?}: {}", page.body);
    }
}

#[tokio::test]
async fn bad_sign_up_input_is_explained_per_field_and_creates_nothing() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    let page = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", "not-an-email"),
                ("account_name", " "),
                ("password", "short"),
                ("phone", "020 7946 0958"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Enter a valid email address",
        "Enter an account name",
        "Use at least 12 characters",
        "international form",
    ] {
        assert!(page.body.contains(message), "{message} missing");
    }
    assert!(
        page.body.contains("value=\"not-an-email\""),
        "typed values are kept"
    );
    assert!(
        !page.body.contains("value=\"short\""),
        "the password is never echoed"
    );
    assert!(app.store.outbox_status(10).await.unwrap().is_empty());

    let common = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", "gus@example.com"),
                ("account_name", "Acme"),
                ("password", "password1234"),
                ("phone", "+442079460958"),
            ],
        )
        .await;
    assert_eq!(common.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common.body.contains("most commonly used"));
}

#[tokio::test]
async fn malformed_and_oversized_forms_get_a_clear_4xx() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    let token = browser.get("/signup").await.csrf();
    let big = "x".repeat(latchkey_web::MAX_BODY_BYTES + 1);
    let too_big = browser
        .post("/signup", &[("csrf_token", &token), ("email", &big)])
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let request = Request::post("/signup")
        .header(
            header::COOKIE,
            browser
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(browser.send(request).await.status, StatusCode::BAD_REQUEST);
    let long_password = "p".repeat(2000);
    let page = browser.sign_in("hal@example.com", &long_password).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Use at most 1024 bytes"));
}

#[tokio::test]
async fn sign_up_answers_alike_for_taken_and_free_addresses_and_tells_the_owner() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("owl@example.com").await;
        let mut browser = app.browser();
        let free = sign_up(&mut browser, "newt@example.com").await;
        let taken = sign_up(&mut browser, "owl@example.com").await;
        assert_eq!(free.status, StatusCode::OK, "{name}");
        assert_eq!(taken.status, free.status, "{name}");
        assert_eq!(
            taken.body.replace("owl@example.com", "E"),
            free.body.replace("newt@example.com", "E"),
            "{name}: the same page"
        );
        let cookie_names = |page: &crate::harness::Page| -> Vec<String> {
            page.set_cookies()
                .iter()
                .map(|c| c.split('=').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(cookie_names(&taken), cookie_names(&free), "{name}");
        // The owner hears about it instead of getting a link, once a day at most.
        sign_up(&mut browser, "owl@example.com").await;
        let mails = app.mails_to("owl@example.com").await;
        assert_eq!(mails.len(), 1, "{name}");
        assert!(
            mails[0].subject.contains("Someone tried to create"),
            "{name}"
        );
        assert!(
            !mails[0].text_body.contains("/signup/verify"),
            "{name}: no link for a taken address"
        );
        let events = app.audit_events().await;
        assert!(
            events
                .iter()
                .any(|(e, _, d)| e == "sign_up" && d == "duplicate_email_owner_notified"),
            "{name}"
        );
        assert!(
            events
                .iter()
                .any(|(e, _, d)| e == "sign_up" && d == "duplicate_email"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_abandoned_sign_up_can_be_replaced_once_its_link_expired() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    assert_eq!(
        sign_up(&mut browser, "ivy@example.com").await.status,
        StatusCode::OK
    );
    let waiting = sign_up(&mut browser, "IVY@example.com").await;
    assert_eq!(waiting.status, StatusCode::OK);
    let mails = app.mails_to("ivy@example.com").await;
    assert_eq!(mails.len(), 2, "the link, then the notice");
    assert!(mails.iter().any(|m| m.subject.contains("Someone tried")));

    // A day later the first link has expired and the address can be signed up again.
    let stale_link = mails
        .iter()
        .flat_map(|m| m.text_body.split_whitespace())
        .find(|w| w.contains("/signup/verify?token="))
        .unwrap()[ORIGIN.len()..]
        .to_owned();
    app.clock.advance(Duration::hours(25));
    assert_eq!(browser.get(&stale_link).await.status, StatusCode::GONE);
    assert_eq!(
        sign_up(&mut browser, "ivy@example.com").await.status,
        StatusCode::OK
    );
    let link = app.link_in_latest_mail("ivy@example.com").await;
    assert_ne!(link, stale_link);

    let confirm = browser.get(&link).await;
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(
        browser
            .post(
                "/signup/verify",
                &[("token", token), ("csrf_token", &confirm.csrf())]
            )
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn verification_links_work_once_and_garbage_links_not_at_all() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    sign_up(&mut browser, "jo@example.com").await;
    let link = app.link_in_latest_mail("jo@example.com").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let csrf = browser.get(&link).await.csrf();
    assert_eq!(
        browser
            .post(
                "/signup/verify",
                &[("token", &token), ("csrf_token", &csrf)]
            )
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let reused = browser
        .post(
            "/signup/verify",
            &[("token", &token), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(reused.status, StatusCode::GONE);
    assert!(reused.body.contains("This link cannot be used"));
    assert_eq!(browser.get(&link).await.status, StatusCode::GONE);
    assert_eq!(
        browser.get("/signup/verify?token=garbage").await.status,
        StatusCode::GONE
    );
    assert_eq!(browser.get("/signup/verify").await.status, StatusCode::GONE);
}

#[tokio::test]
async fn a_password_reset_changes_only_the_password_and_signs_out_everywhere() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("kit@example.com").await;
        let mut laptop = app.browser();
        laptop.sign_in("kit@example.com", PASSWORD).await;

        let mut phone = app.browser();
        let asked = phone
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "kit@example.com")],
            )
            .await;
        assert_eq!(asked.status, StatusCode::OK, "{name}");
        let unknown = phone
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", "nobody@example.com")],
            )
            .await;
        assert_eq!(unknown.status, asked.status, "{name}");
        assert_eq!(
            unknown.body.replace("nobody@example.com", "E"),
            asked.body.replace("kit@example.com", "E"),
            "{name}"
        );

        let link = app.link_in_latest_mail("kit@example.com").await;
        assert!(link.starts_with("/password/reset?token="), "{name}");
        let form = phone.get(&link).await;
        assert_eq!(form.status, StatusCode::OK, "{name}");
        let token = link.split("token=").nth(1).unwrap();
        let mismatch = phone
            .post(
                "/password/reset",
                &[
                    ("token", token),
                    ("password", "new-orchid-lantern-7"),
                    ("confirm_password", "other"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let done = phone
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
        assert!(done.body.contains("Password changed"), "{name}");

        assert_eq!(
            laptop.get("/console/security-credentials").await.location(),
            "/signin",
            "{name}: signed out everywhere"
        );
        assert_eq!(
            phone.sign_in("kit@example.com", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        assert_eq!(
            phone
                .sign_in("kit@example.com", "new-orchid-lantern-7")
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{name}"
        );
        let csrf = phone.get("/password/forgot").await.csrf();
        let reused = phone
            .post(
                "/password/reset",
                &[
                    ("token", token),
                    ("password", "third-try-pass-99"),
                    ("confirm_password", "third-try-pass-99"),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(reused.status, StatusCode::GONE, "{name}");
        let notices = app.mails_to("kit@example.com").await;
        assert!(
            notices
                .iter()
                .any(|m| m.subject == "Your latchkey password was changed"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_page_is_hardened_and_the_mailbox_says_what_it_is() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    for path in ["/signin", "/signup", "/password/forgot", "/dev/mailbox"] {
        let page = browser.get(path).await;
        assert!(
            page.headers
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
        assert_eq!(
            page.headers.get("referrer-policy").unwrap(),
            "same-origin",
            "{path}"
        );
        assert_eq!(
            page.headers.get("x-frame-options").unwrap(),
            "DENY",
            "{path}"
        );
        assert!(page.body.contains("built-in mailbox"), "{path}: dev banner");
    }
    let missing = browser.get("/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(browser.get("/healthz").await.status, StatusCode::OK);
    let css = browser.get("/static/style.css").await;
    assert!(
        css.headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(!css.body.contains("http"), "no external assets");
}

#[tokio::test]
async fn the_mailbox_is_absent_when_real_email_is_configured() {
    let backend = latchkey_test_support::sqlite_backend().await;
    let app = TestApp::new(backend).await;
    // Rebuild the router as `serve` does with LATCHKEY_SMTP_URL set.
    let web = latchkey_web::WebConfig {
        public_url: url::Url::parse(ORIGIN).unwrap(),
        dev_mailbox: false,
        dev_providers_exposed: false,
        twilio_auth_token: None,
        twilio_from: None,
        canonical_redirect: false,
        refusal_pause: std::time::Duration::ZERO,
        trusted_proxies: latchkey_web::TrustedProxies::default(),
        cookie_domain: None,
    };
    let router = latchkey_web::app(latchkey_web::AppState::new(
        app.service.clone(),
        web,
        &latchkey_service::ServerKey::generate(),
    ));
    let response = tower::ServiceExt::oneshot(
        router,
        Request::get("/dev/mailbox").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("built-in mailbox"));
}

#[tokio::test]
async fn the_mailbox_shows_mail_with_its_links() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    sign_up(&mut browser, "lu@example.com").await;
    let link = app.link_in_latest_mail("lu@example.com").await;
    let list = browser.get("/dev/mailbox").await;
    assert!(list.body.contains("Verify your email address for latchkey"));
    let id = app.dev.dev_mails(1).await.unwrap()[0].id;
    let mail = browser.get(&format!("/dev/mailbox/{id}")).await;
    assert!(
        mail.body
            .contains(&format!("href=\"{ORIGIN}{}\"", link.replace('&', "&amp;"))),
        "{}",
        mail.body
    );
    assert_eq!(
        browser.get("/dev/mailbox/999999").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_audit_log_never_holds_a_password_or_token() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    sign_up(&mut browser, "mo@example.com").await;
    let link = app.link_in_latest_mail("mo@example.com").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    browser
        .sign_in("mo@example.com", "guess-one-two-three")
        .await;
    let records = app.store.recent_audit(None, 100).await.unwrap();
    let dump = format!("{records:?}");
    for secret in [PASSWORD, "guess-one-two-three", token.as_str()] {
        assert!(!dump.contains(secret), "{secret} leaked into the audit log");
    }
}

#[tokio::test]
async fn with_a_derived_public_url_other_host_names_are_redirected_to_it() {
    let app = TestApp::sqlite().await;
    let web = latchkey_web::WebConfig {
        public_url: url::Url::parse(ORIGIN).unwrap(),
        dev_mailbox: true,
        dev_providers_exposed: false,
        twilio_auth_token: None,
        twilio_from: None,
        canonical_redirect: true,
        refusal_pause: std::time::Duration::ZERO,
        trusted_proxies: latchkey_web::TrustedProxies::default(),
        cookie_domain: None,
    };
    let router = latchkey_web::app(latchkey_web::AppState::new(
        app.service.clone(),
        web,
        &latchkey_service::ServerKey::generate(),
    ));
    let get = |host: &'static str, path: &'static str| {
        Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    let moved = tower::ServiceExt::oneshot(router.clone(), get("127.0.0.1:8080", "/signin?x=1"))
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        moved.headers()[header::LOCATION],
        "http://latchkey.test/signin?x=1"
    );
    let here = tower::ServiceExt::oneshot(router.clone(), get("latchkey.test", "/signin"))
        .await
        .unwrap();
    assert_eq!(here.status(), StatusCode::OK);
    let health = tower::ServiceExt::oneshot(router, get("127.0.0.1:8080", "/healthz"))
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "probes by address are not redirected"
    );
}

#[tokio::test]
async fn a_flood_from_one_client_is_refused_before_any_hashing() {
    let app = TestApp::sqlite().await;
    app.active_account("ned@example.com").await;
    let mut browser = app.browser();
    let policy = latchkey_domain::admission::AdmissionPolicy::default();
    for _ in 0..policy.burst {
        assert_eq!(
            browser
                .sign_in("nobody@example.com", "guess-guess-guess")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The owner's right password from the same address also waits: the gate judges the
    // client, not the account, and says the same for known and unknown emails.
    for email in ["ned@example.com", "nobody@example.com"] {
        let refused = browser.sign_in(email, PASSWORD).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert_eq!(refused.headers.get(header::RETRY_AFTER).unwrap(), "2");
        assert!(refused.body.contains("Too many attempts"));
    }
    let audited = app.audit_events().await.len();
    app.clock.advance(policy.refill_every);
    assert_eq!(
        browser.sign_in("ned@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(app.audit_events().await.len() > audited);
    let mut api = app.browser();
    for _ in 0..policy.burst {
        api.api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(serde_json::json!({"email": "x@example.com", "password": "p"})),
        )
        .await;
    }
    let refused = api
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(serde_json::json!({"email": "x@example.com", "password": "p"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json()["error"]["code"], "too_many_attempts");
}

#[tokio::test]
async fn a_known_device_gets_in_while_its_address_is_refused() {
    let app = TestApp::sqlite().await;
    app.active_account("kim@example.com").await;
    app.active_account("lee@example.com").await;
    let policy = latchkey_domain::admission::AdmissionPolicy::default();
    // Kim signs in once from this browser: it becomes a known device for her email.
    let mut kim = app.browser();
    assert_eq!(
        kim.sign_in("kim@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let device = kim
        .cookies
        .get("latchkey_device")
        .cloned()
        .expect("device cookie");
    let set = kim
        .submit("/console/security-credentials", "/signout", &[])
        .await
        .set_cookies()
        .join("\n");
    assert!(set.contains("latchkey_session=;"), "signed out: {set}");
    assert!(
        !set.contains("latchkey_device=;"),
        "sign-out keeps the device mark"
    );
    // Someone at the same address spends its whole allowance.
    let mut flood = app.browser();
    for _ in 0..policy.burst {
        flood
            .sign_in("nobody@example.com", "guess-guess-guess")
            .await;
    }
    assert_eq!(
        flood.sign_in("lee@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Kim's browser is recognised for her email, and only for it.
    assert_eq!(
        kim.sign_in("kim@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let mut same_device = app.browser();
    same_device
        .cookies
        .insert("latchkey_device".into(), device.clone());
    assert_eq!(
        same_device
            .sign_in("lee@example.com", PASSWORD)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "the mark is for kim's email only"
    );
    // A forged or altered mark is no mark at all.
    let mut forger = app.browser();
    let (issued, rest) = device.split_once('.').unwrap();
    let altered = format!("{}.{rest}", issued.parse::<i64>().unwrap() + 1);
    forger.cookies.insert("latchkey_device".into(), altered);
    assert_eq!(
        forger.sign_in("kim@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A mark is good for 400 days from the sign-in that set it.
    let old_mark = kim.cookies.get("latchkey_device").cloned().unwrap();
    app.clock.advance(latchkey_domain::Duration::seconds(
        latchkey_service::known_devices::KNOWN_DEVICE_LIFETIME.0 + 1,
    ));
    for _ in 0..policy.burst {
        flood
            .sign_in("nobody@example.com", "guess-guess-guess")
            .await;
    }
    let mut late = app.browser();
    late.cookies.insert("latchkey_device".into(), old_mark);
    assert_eq!(
        late.sign_in("kim@example.com", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn refusals_are_answered_after_a_pause_and_other_answers_are_not() {
    let pause = std::time::Duration::from_millis(500);
    let app = TestApp::with_refusal_pause(pause).await;
    let policy = latchkey_domain::admission::AdmissionPolicy::default();
    let mut client = app.browser();
    let attempt = json_attempt();
    for _ in 0..policy.burst {
        let started = std::time::Instant::now();
        let denied = client
            .api("POST", "/api/v1/sessions", None, Some(attempt.clone()))
            .await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
        assert!(started.elapsed() < pause, "a plain denial is not held");
    }
    let started = std::time::Instant::now();
    let refused = client
        .api("POST", "/api/v1/sessions", None, Some(attempt))
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(started.elapsed() >= pause, "the refusal was held");
}

fn json_attempt() -> serde_json::Value {
    serde_json::json!({"email": "nobody@example.com", "password": "guess-guess-guess"})
}
