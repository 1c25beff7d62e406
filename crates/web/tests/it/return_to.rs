//! The post-sign-in continuation: a page opened without a session comes back to itself after
//! the sign-in — by password, by code — and nothing but a page of latchkey's own origin is
//! ever a destination, whatever `return_to` says.

use axum::http::StatusCode;

use crate::harness::{Browser, PASSWORD, TestApp, totp};
use crate::mfa::{activate, submit_code};

/// The email and password steps, starting from `start` (a `/signin…` URL).
pub async fn password_from(
    browser: &mut Browser,
    start: &str,
    email: &str,
) -> crate::harness::Page {
    let page = browser.get(start).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let step2 = browser
        .post("/signin", &[("email", email), ("csrf_token", &page.csrf())])
        .await;
    assert_eq!(step2.status, StatusCode::OK, "{}", step2.body);
    browser
        .post(
            "/signin/password",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf_token", &step2.csrf()),
            ],
        )
        .await
}

#[tokio::test]
async fn a_page_opened_without_a_session_is_where_the_password_sign_in_lands() {
    for app in TestApp::all().await {
        app.active_account("back@example.com").await;
        let mut browser = app.browser();
        let asked = browser.get("/console/mfa/activate").await;
        assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", app.name);
        assert_eq!(
            asked.location(),
            "/signin?return_to=%2Fconsole%2Fmfa%2Factivate",
            "{}",
            app.name
        );
        let signed_in = password_from(&mut browser, asked.location(), "back@example.com").await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", app.name);
        assert_eq!(
            signed_in.location(),
            "/console/mfa/activate",
            "{}",
            app.name
        );
        assert!(
            !browser.cookies.contains_key("latchkey_return_to"),
            "{}: the continuation is used once",
            app.name
        );
        // The page is open to the session; the next sign-in, asked for nothing, goes to
        // Security credentials.
        let again = browser.get("/console/mfa/activate").await;
        assert_eq!(again.status, StatusCode::OK, "{}", app.name);
        let mut next = app.browser();
        let plain = password_from(&mut next, "/signin", "back@example.com").await;
        assert_eq!(
            plain.location(),
            "/console/security-credentials",
            "{}",
            app.name
        );
    }
}

#[tokio::test]
async fn the_continuation_survives_the_mfa_step() {
    for app in TestApp::all().await {
        app.active_account("mfa-back@example.com").await;
        let mut owner = app.browser();
        owner.sign_in("mfa-back@example.com", PASSWORD).await;
        let secret = activate(&app, &mut owner, "phone").await;
        app.clock.advance(latchkey_domain::Duration::seconds(60));

        let mut browser = app.browser();
        let asked = browser.get("/console/password").await;
        let password = password_from(&mut browser, asked.location(), "mfa-back@example.com").await;
        assert_eq!(password.location(), "/signin/mfa", "{}", app.name);
        let code = totp(&secret, &app.clock, 0);
        let signed_in = submit_code(&mut browser, None, &code).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        assert_eq!(signed_in.location(), "/console/password", "{}", app.name);
    }
}

#[tokio::test]
async fn no_continuation_leaves_latchkey_or_loops_into_the_sign_in() {
    let app = TestApp::sqlite().await;
    app.active_account("evil@example.com").await;
    for hostile in [
        "https://evil.example/",
        "//evil.example/console",
        "/\\evil.example",
        "http://latchkey.test.evil.example/console",
        "javascript:alert(1)",
        "/signin/mfa",
        "/signout",
    ] {
        let mut browser = app.browser();
        let start = format!(
            "/signin?return_to={}",
            url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect::<String>()
        );
        let signed_in = password_from(&mut browser, &start, "evil@example.com").await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{hostile}");
        assert_eq!(
            signed_in.location(),
            "/console/security-credentials",
            "{hostile}"
        );
    }
    // A continuation planted in the cookie by hand is checked again when it is used.
    let mut browser = app.browser();
    let page = browser.get("/signin").await;
    let step2 = browser
        .post(
            "/signin",
            &[("email", "evil@example.com"), ("csrf_token", &page.csrf())],
        )
        .await;
    browser.cookies.insert(
        "latchkey_return_to".to_owned(),
        "Ly9ldmlsLmV4YW1wbGU".to_owned(), // base64url of `//evil.example`
    );
    let signed_in = browser
        .post(
            "/signin/password",
            &[
                ("email", "evil@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &step2.csrf()),
            ],
        )
        .await;
    assert_eq!(signed_in.location(), "/console/security-credentials");
}

#[tokio::test]
async fn a_signed_in_browser_asked_to_sign_in_goes_straight_to_its_continuation() {
    let app = TestApp::sqlite().await;
    app.active_account("already@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("already@example.com", PASSWORD).await;
    let page = browser.get("/signin?return_to=%2Fconsole%2Fpassword").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/console/password");
    let page = browser
        .get("/signin?return_to=https%3A%2F%2Fevil.example")
        .await;
    assert_eq!(page.location(), "/console/security-credentials");
}
