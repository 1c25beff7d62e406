//! Forward-auth (`GET /auth/verify`): what a reverse proxy learns about the browser in front
//! of it, and that nothing but a live full session of latchkey's own making passes.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use latchkey_domain::Duration;

use crate::harness::{Browser, PASSWORD, Page, TestApp, key_on_dev_phone, totp};
use crate::mfa::{activate, password_step, submit_code};
use crate::recovery::{code_on, confirm_email, press, start};

/// The proxy's subrequest: only the proxy cookie and the original URL, as nginx sends them.
async fn verify(browser: &mut Browser, original: Option<&str>, query: &str) -> Page {
    let proxy = browser
        .cookies
        .get("latchkey_proxy")
        .map(|v| format!("latchkey_proxy={v}"))
        .unwrap_or_default();
    let mut request = Request::get(format!("/auth/verify{query}")).header(header::COOKIE, proxy);
    if let Some(url) = original {
        request = request.header("x-original-url", url);
    }
    browser.send(request.body(Body::empty()).unwrap()).await
}

fn header_of<'a>(page: &'a Page, name: &str) -> Option<&'a str> {
    page.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_proxy_learns_who_signed_in_and_how_until_they_sign_out() {
    for app in TestApp::all().await {
        let account = app.active_account("proxied@example.com").await;
        let mut browser = app.browser();
        assert_eq!(
            verify(&mut browser, None, "").await.status,
            StatusCode::UNAUTHORIZED
        );

        browser.sign_in("proxied@example.com", PASSWORD).await;
        assert!(
            browser.cookies.contains_key("latchkey_proxy"),
            "{}",
            app.name
        );
        let ok = verify(&mut browser, None, "").await;
        assert_eq!(ok.status, StatusCode::OK, "{}: {}", app.name, ok.body);
        assert_eq!(header_of(&ok, "remote-user"), Some(account.as_str()));
        assert_eq!(header_of(&ok, "remote-email"), Some("proxied@example.com"));
        assert!(header_of(&ok, "remote-name").is_some_and(|n| !n.is_empty()));
        assert_eq!(header_of(&ok, "remote-authentication-methods"), Some("pwd"));
        assert_eq!(
            header_of(&ok, "remote-authentication-class"),
            Some("urn:latchkey:acr:password")
        );
        assert_eq!(header_of(&ok, "cache-control"), Some("no-store"));
        // A password-only session does not pass where MFA is required.
        assert_eq!(
            verify(&mut browser, None, "?require=mfa").await.status,
            StatusCode::FORBIDDEN,
            "{}",
            app.name
        );

        // With an MFA device, the next sign-in says so.
        let secret = activate(&app, &mut browser, "Phone").await;
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        assert!(
            !browser.cookies.contains_key("latchkey_proxy"),
            "cleared at sign-out"
        );
        app.clock.advance(Duration::seconds(30));
        password_step(&mut browser, "proxied@example.com").await;
        assert_eq!(
            verify(&mut browser, None, "").await.status,
            StatusCode::UNAUTHORIZED,
            "{}: the password step alone is no sign-in",
            app.name
        );
        submit_code(&mut browser, None, &totp(&secret, &app.clock, 0)).await;
        let mfa = verify(&mut browser, None, "").await;
        assert_eq!(mfa.status, StatusCode::OK, "{}", app.name);
        assert_eq!(
            header_of(&mfa, "remote-authentication-methods"),
            Some("pwd otp mfa")
        );
        assert_eq!(
            header_of(&mfa, "remote-authentication-class"),
            Some("urn:latchkey:acr:mfa")
        );

        // The proxy's rules for one application: who, and how signed in.
        let email = "proxied@example.com";
        for (query, expected) in [
            ("?require=mfa".to_owned(), StatusCode::OK),
            (format!("?allow={email}"), StatusCode::OK),
            (
                format!("?allow=someone@example.com,{}", account.as_str()),
                StatusCode::OK,
            ),
            (
                "?allow=PROXIED@example.com&require=mfa".to_owned(),
                StatusCode::OK,
            ),
            (
                "?allow=someone@example.com".to_owned(),
                StatusCode::FORBIDDEN,
            ),
            ("?allow=".to_owned(), StatusCode::FORBIDDEN),
            ("?require=hwk".to_owned(), StatusCode::INTERNAL_SERVER_ERROR),
            // A misspelt rule is refused, never ignored.
            (
                "?alow=someone@example.com".to_owned(),
                StatusCode::BAD_REQUEST,
            ),
            ("?Require=mfa".to_owned(), StatusCode::BAD_REQUEST),
        ] {
            let answer = verify(&mut browser, None, &query).await;
            assert_eq!(answer.status, expected, "{}: {query}", app.name);
            assert_eq!(
                header_of(&answer, "remote-user").is_some(),
                expected == StatusCode::OK,
                "{query}"
            );
        }

        // A cookie the browser kept after the session ended is worth nothing.
        let kept = browser.cookies.get("latchkey_proxy").cloned().unwrap();
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        browser.cookies.insert("latchkey_proxy".into(), kept);
        assert_eq!(
            verify(&mut browser, None, "").await.status,
            StatusCode::UNAUTHORIZED,
            "{}: signed out",
            app.name
        );
    }
}

#[tokio::test]
async fn only_a_cookie_latchkey_sealed_for_the_proxy_passes() {
    let app = TestApp::sqlite().await;
    app.active_account("forger@example.com").await;
    let mut browser = app.browser();
    browser.sign_in("forger@example.com", PASSWORD).await;
    let session = browser.session_cookie().unwrap();
    let sealed = browser.cookies.get("latchkey_proxy").cloned().unwrap();
    let hash = latchkey_service::SecretToken::from_presented(&session)
        .unwrap()
        .hash();
    let mut flipped = sealed.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    for forged in [
        // The console's own token, the session's hash in the clear, a flipped bit, nonsense.
        session.clone(),
        hash.as_str().to_owned(),
        String::from_utf8(flipped).unwrap(),
        "e30".to_owned(),
        String::new(),
    ] {
        browser
            .cookies
            .insert("latchkey_proxy".into(), forged.clone());
        assert_eq!(
            verify(&mut browser, None, "").await.status,
            StatusCode::UNAUTHORIZED,
            "{forged:?}"
        );
    }
    // The console's session cookie is not what the proxy checks.
    let request = Request::get("/auth/verify")
        .header(header::COOKIE, format!("latchkey_session={session}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(browser.send(request).await.status, StatusCode::UNAUTHORIZED);
    // A cookie sealed by another latchkey (another server key) does not open here.
    let other = TestApp::sqlite().await;
    other.active_account("forger@example.com").await;
    let mut elsewhere = other.browser();
    elsewhere.sign_in("forger@example.com", PASSWORD).await;
    let foreign = elsewhere.cookies.get("latchkey_proxy").cloned().unwrap();
    browser.cookies.insert("latchkey_proxy".into(), foreign);
    assert_eq!(
        verify(&mut browser, None, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    browser.cookies.insert("latchkey_proxy".into(), sealed);
    assert_eq!(verify(&mut browser, None, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_recovery_session_opens_no_application() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        crate::recovery::account_with_device(&app, &mut browser, "lost@example.com").await;
        start(&mut browser, "lost@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "lost@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let code = code_on(&browser.get("/signin/recovery").await);
        key_on_dev_phone(&app, &mut browser, &code).await;
        press(&mut browser, "/signin/recovery/complete").await;
        assert!(browser.session_cookie().is_some(), "{}", app.name);
        assert!(
            !browser.cookies.contains_key("latchkey_proxy"),
            "{}: no proxy cookie for a recovery session",
            app.name
        );
        // Even with a cookie sealed for it under this server's key (as the sign-in would
        // seal one for a full session), the check refuses it.
        let hash =
            latchkey_service::SecretToken::from_presented(&browser.session_cookie().unwrap())
                .unwrap()
                .hash();
        let sealed = latchkey_test_support::fixtures::server_key()
            .sealer("forward-auth")
            .seal(hash.as_str().as_bytes(), b"latchkey forward-auth cookie v1");
        use base64::Engine as _;
        browser.cookies.insert(
            "latchkey_proxy".into(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
        );
        assert_eq!(
            verify(&mut browser, None, "").await.status,
            StatusCode::FORBIDDEN,
            "{}",
            app.name
        );
        browser.cookies.remove("latchkey_proxy");
        // The sign-in page sends it to Security credentials and mints nothing.
        let refused = browser
            .get("/signin?return_to=%2Fconsole%2Fsecurity-credentials")
            .await;
        assert_eq!(refused.location(), "/console/security-credentials");
        assert!(
            !browser.cookies.contains_key("latchkey_proxy"),
            "{}",
            app.name
        );
    }
}

const APP_URL: &str = "http://app.latchkey.test/reports?year=2026&q=a%20b";

async fn with_cookie_domain() -> TestApp {
    TestApp::with_web_config(|web| web.cookie_domain = Some("latchkey.test".into())).await
}

#[tokio::test]
async fn an_unauthenticated_browser_is_sent_to_sign_in_and_back_to_the_application() {
    let app = with_cookie_domain().await;
    app.active_account("app-user@example.com").await;
    let mut browser = app.browser();

    let refused = verify(&mut browser, Some(APP_URL), "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let location = header_of(&refused, "location").unwrap().to_owned();
    let expected = format!(
        "http://latchkey.test/signin?return_to={}",
        url::form_urlencoded::byte_serialize(APP_URL.as_bytes()).collect::<String>()
    );
    assert_eq!(location, expected);
    let redirected = verify(&mut browser, Some(APP_URL), "?redirect=true").await;
    assert_eq!(redirected.status, StatusCode::FOUND);
    assert_eq!(header_of(&redirected, "location"), Some(expected.as_str()));

    // The browser follows it, signs in, and lands on the application's page.
    let path = location.strip_prefix("http://latchkey.test").unwrap();
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK);
    let step2 = browser
        .post(
            "/signin",
            &[
                ("email", "app-user@example.com"),
                ("csrf_token", &page.csrf()),
            ],
        )
        .await;
    // Browsers apply the page's form-action to the redirects after a post: the password
    // form may end at the application.
    assert!(
        header_of(&step2, "content-security-policy")
            .unwrap()
            .contains("form-action 'self' http://app.latchkey.test;"),
        "{:?}",
        step2.headers
    );
    let done = browser
        .post(
            "/signin/password",
            &[
                ("email", "app-user@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &step2.csrf()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), APP_URL);
    let cookie = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("latchkey_proxy="))
        .unwrap();
    assert!(cookie.contains("; Domain=latchkey.test"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(
        verify(&mut browser, Some(APP_URL), "").await.status,
        StatusCode::OK
    );

    // A browser signed in before (no proxy cookie yet) goes straight through the sign-in
    // page, which hands it one.
    browser.cookies.remove("latchkey_proxy");
    assert_eq!(
        verify(&mut browser, Some(APP_URL), "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let through = browser.get(path).await;
    assert_eq!(through.location(), APP_URL);
    assert_eq!(
        verify(&mut browser, Some(APP_URL), "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_way_back_never_leaves_the_cookie_domain() {
    let app = with_cookie_domain().await;
    app.active_account("redirected@example.com").await;
    let mut browser = app.browser();
    for hostile in [
        "https://evil.example/",
        "http://latchkey.test.evil.example/",
        "http://evillatchkey.test/",
        "http://app.latchkey.test@evil.example/",
        "http://user:pw@app.latchkey.test/",
        "http://127.0.0.1/",
        "//evil.example/",
        "javascript:alert(1)",
        "http://app.latchkey.test\\@evil.example/",
    ] {
        for query in ["", "?redirect=true"] {
            let refused = verify(&mut browser, Some(hostile), query).await;
            assert_eq!(
                refused.status,
                StatusCode::UNAUTHORIZED,
                "{hostile} {query}"
            );
            assert_eq!(header_of(&refused, "location"), None, "{hostile}");
        }
    }
    // Nor does the sign-in page take such a destination from its query.
    let encoded =
        url::form_urlencoded::byte_serialize(b"https://evil.example/").collect::<String>();
    let done = crate::return_to::password_from(
        &mut browser,
        &format!("/signin?return_to={encoded}"),
        "redirected@example.com",
    )
    .await;
    assert!(!browser.cookies.contains_key("latchkey_return_to"));
    assert_eq!(done.location(), "/console/security-credentials");

    // Nothing from a query reaches the page's policy but a plain origin.
    for hostile in [
        "/oidc/authorize?redirect_uri=http%3A%2F%2Fa%3Bscript-src%20*%2F",
        "/oidc/authorize?redirect_uri=javascript%3Aalert(1)",
        "/signin?return_to=http%3A%2F%2Fapp.latchkey.test%3Bscript-src%20*%2F",
    ] {
        let page = browser.get(hostile).await;
        let policy = header_of(&page, "content-security-policy").unwrap();
        assert!(
            policy.contains("form-action 'self';") && !policy.contains("script-src *"),
            "{hostile}: {policy}"
        );
    }
    // Proxies that ask with the original method are answered alike.
    let posted = browser
        .send(
            Request::post("/auth/verify")
                .header("x-original-url", APP_URL)
                .header(header::ORIGIN, "http://app.latchkey.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(posted.status, StatusCode::UNAUTHORIZED);
    assert!(header_of(&posted, "location").is_some());

    // Without a cookie domain an application's URL is no destination at all.
    let plain = TestApp::sqlite().await;
    let refused = verify(&mut plain.browser(), Some(APP_URL), "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&refused, "location"), None);
}
