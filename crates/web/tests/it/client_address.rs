//! Who the client is, as the admission buckets and the audit log see it: the TCP peer, an
//! IPv6 peer's /64 for throttling, and (with trusted proxies only) the forwarded address.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use latchkey_domain::admission::AdmissionPolicy;

use crate::harness::{Browser, TestApp};

/// One API sign-in attempt with an unknown email, as if from `peer`, with extra `headers`.
async fn attempt(browser: &mut Browser, peer: &str, headers: &[(&str, &str)]) -> StatusCode {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut request = Request::post("/api/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(peer));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = serde_json::json!({"email": "nobody@example.com", "password": "guess-guess-guess"});
    browser
        .send(request.body(Body::from(body.to_string())).unwrap())
        .await
        .status
}

/// Empties the bucket of whoever `peer` and `headers` make the client.
async fn exhaust(browser: &mut Browser, peer: &str, headers: &[(&str, &str)]) {
    for _ in 0..AdmissionPolicy::default().burst {
        assert_eq!(
            attempt(browser, peer, headers).await,
            StatusCode::UNAUTHORIZED,
            "{peer} {headers:?}"
        );
    }
    assert_eq!(
        attempt(browser, peer, headers).await,
        StatusCode::TOO_MANY_REQUESTS,
        "{peer} {headers:?}: the bucket is empty"
    );
}

async fn audited_addresses(app: &TestApp) -> Vec<String> {
    app.store
        .recent_audit(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.client_addr)
        .collect()
}

#[tokio::test]
async fn ipv6_clients_in_one_64_share_a_bucket_and_another_64_has_its_own() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    exhaust(&mut browser, "[2001:db8:1:2::1]:40000", &[]).await;
    assert_eq!(
        attempt(&mut browser, "[2001:db8:1:2:dead:beef:0:1]:40001", &[]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "another address in the same /64 is the same client"
    );
    assert_eq!(
        attempt(&mut browser, "[2001:db8:1:3::1]:40002", &[]).await,
        StatusCode::UNAUTHORIZED,
        "the neighbouring /64 has a bucket of its own"
    );
    assert_eq!(
        attempt(&mut browser, "192.0.2.1:40003", &[]).await,
        StatusCode::UNAUTHORIZED
    );
    let audited = audited_addresses(&app).await;
    assert!(
        audited.contains(&"2001:db8:1:2::1".to_owned())
            && audited.contains(&"2001:db8:1:3::1".to_owned()),
        "the audit log keeps the full address: {audited:?}"
    );
}

#[tokio::test]
async fn an_ipv4_peer_on_a_dual_stack_socket_is_its_ipv4_address() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    exhaust(&mut browser, "[::ffff:192.0.2.7]:40000", &[]).await;
    assert_eq!(
        attempt(&mut browser, "192.0.2.7:40001", &[]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same IPv4 client, however the socket shows it"
    );
    assert_eq!(
        attempt(&mut browser, "[::ffff:192.0.2.8]:40002", &[]).await,
        StatusCode::UNAUTHORIZED,
        "IPv4-mapped addresses are not grouped by /64"
    );
    assert!(
        audited_addresses(&app)
            .await
            .contains(&"192.0.2.7".to_owned())
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = TestApp::with_web_config(|web| {
        web.trusted_proxies = latchkey_web::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    let mut browser = app.browser();
    let proxy = "127.0.0.1:50000";
    exhaust(&mut browser, proxy, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(
        attempt(&mut browser, proxy, &[("x-forwarded-for", "198.51.100.2")]).await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own bucket"
    );
    assert_eq!(
        attempt(
            &mut browser,
            proxy,
            &[("x-forwarded-for", "198.51.100.9, 198.51.100.1")]
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "what the client wrote left of the proxy's entry does not make it someone else"
    );
    assert_eq!(
        attempt(
            &mut browser,
            proxy,
            &[("forwarded", "for=198.51.100.1;proto=https")]
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "RFC 7239 Forwarded names the same client"
    );
    assert_eq!(
        attempt(
            &mut browser,
            proxy,
            &[("forwarded", "for=\"[2001:db8::1]:4711\"")]
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // A peer that is not a configured proxy is the client, whatever it forwards.
    exhaust(
        &mut browser,
        "192.0.2.20:50001",
        &[("x-forwarded-for", "198.51.100.3")],
    )
    .await;
    assert_eq!(
        attempt(
            &mut browser,
            "192.0.2.20:50002",
            &[("x-forwarded-for", "198.51.100.4")]
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let audited = audited_addresses(&app).await;
    assert!(
        audited.contains(&"198.51.100.2".to_owned()) && audited.contains(&"192.0.2.20".to_owned()),
        "{audited:?}"
    );
    assert!(
        !audited.contains(&"127.0.0.1".to_owned()) && !audited.contains(&"198.51.100.3".to_owned()),
        "{audited:?}"
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_forged_forwarding_header_changes_nothing() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    let peer = "127.0.0.1:50000";
    exhaust(&mut browser, peer, &[("x-forwarded-for", "198.51.100.1")]).await;
    for forged in [
        ("x-forwarded-for", "198.51.100.2"),
        ("forwarded", "for=198.51.100.3"),
    ] {
        assert_eq!(
            attempt(&mut browser, peer, &[forged]).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{forged:?}"
        );
    }
    assert_eq!(
        attempt(
            &mut browser,
            "127.0.0.2:50001",
            &[("x-forwarded-for", "198.51.100.1")]
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "the bucket was the peer's"
    );
    let audited = audited_addresses(&app).await;
    assert!(audited.contains(&"127.0.0.1".to_owned()), "{audited:?}");
    assert!(
        !audited.iter().any(|a| a.starts_with("198.51.100.")),
        "{audited:?}"
    );
}
