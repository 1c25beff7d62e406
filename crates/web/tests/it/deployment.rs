//! What depends on how latchkey is deployed: HSTS over https, and the warning on every page
//! when the built-in providers serve a deployment others can reach.

use axum::http::StatusCode;

use crate::harness::TestApp;

const HSTS: &str = "strict-transport-security";

#[tokio::test]
async fn every_response_carries_hsts_when_the_public_url_is_https() {
    let app = TestApp::with_web_config(|web| {
        web.public_url = url::Url::parse("https://login.example.com").unwrap();
    })
    .await;
    let mut browser = app.browser();
    let mut seen = Vec::new();
    for path in [
        "/signin",
        "/healthz",
        "/livez",
        "/static/style.css",
        "/api/v1/openapi.json",
        "/no-such-page",
    ] {
        seen.push((path, browser.get(path).await));
    }
    // A refused write (the form comes from the test harness's origin, not the public one).
    seen.push((
        "POST /signin",
        browser.post("/signin", &[("email", "x")]).await,
    ));
    seen.push((
        "POST /api/v1/sessions",
        browser
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(serde_json::json!({})),
            )
            .await,
    ));
    for (what, page) in &seen {
        assert_eq!(
            page.headers.get(HSTS).map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{what}: {}",
            page.status
        );
    }
    assert!(
        seen.iter()
            .any(|(_, page)| page.status == StatusCode::FORBIDDEN)
    );
    assert!(
        seen.iter()
            .any(|(_, page)| page.status == StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn no_response_carries_hsts_over_http() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    for path in [
        "/signin",
        "/healthz",
        "/api/v1/openapi.json",
        "/no-such-page",
    ] {
        let page = browser.get(path).await;
        assert!(page.headers.get(HSTS).is_none(), "{path}");
    }
}

#[tokio::test]
async fn every_page_warns_when_the_built_in_providers_serve_a_deployment_others_can_reach() {
    let warning = "anyone who can reach this server can read them and take over accounts";
    let exposed = TestApp::with_web_config(|web| web.dev_providers_exposed = true).await;
    let mut browser = exposed.browser();
    for path in ["/signin", "/signup", "/dev/mailbox", "/dev/phone"] {
        let page = browser.get(path).await;
        assert!(
            page.body.contains(warning) && page.body.contains("not a local-only deployment"),
            "{path}: {}",
            page.body
        );
    }
    let local = TestApp::sqlite().await;
    let page = local.browser().get("/signin").await;
    assert!(page.body.contains("built-in mailbox"), "{}", page.body);
    assert!(!page.body.contains(warning), "{}", page.body);
}

/// An operator who puts a reverse proxy in front of a loopback listener and forgets to
/// configure real providers: requests that came through the proxy do not reach the built-in
/// mailbox and phone.
#[tokio::test]
async fn the_built_in_providers_refuse_requests_that_came_through_a_proxy() {
    let app = crate::harness::TestApp::sqlite().await;
    let mut browser = app.browser();
    for path in ["/dev/mailbox", "/dev/phone"] {
        assert_eq!(
            browser.get(path).await.status,
            axum::http::StatusCode::OK,
            "{path} from this machine"
        );
        for header in ["x-forwarded-for", "forwarded", "x-real-ip", "via"] {
            let request = axum::http::Request::get(path)
                .header(header, "for=203.0.113.9")
                .body(axum::body::Body::empty())
                .unwrap();
            assert_eq!(
                browser.send(request).await.status,
                axum::http::StatusCode::NOT_FOUND,
                "{path} with {header}"
            );
        }
    }
}

/// A client on another machine, or a peer the server was not told (set up without
/// connection info), never reaches the built-in mailbox and phone.
#[tokio::test]
async fn the_built_in_providers_answer_only_a_peer_known_to_be_this_machine() {
    let app = crate::harness::TestApp::sqlite().await;
    let mut browser = app.browser();
    for path in ["/dev/mailbox", "/dev/phone"] {
        let remote = {
            let mut request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([203, 0, 113, 9], 40000)),
            ));
            request
        };
        assert_eq!(
            browser.send(remote).await.status,
            axum::http::StatusCode::NOT_FOUND,
            "{path} from another machine"
        );
        let unknown = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = tower::ServiceExt::oneshot(app.router.clone(), unknown)
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            axum::http::StatusCode::NOT_FOUND,
            "{path} from an unknown peer"
        );
    }
}
