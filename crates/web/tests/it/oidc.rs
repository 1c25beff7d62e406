//! The OpenID Connect provider over HTTP: the code flow with PKCE, what a code and a
//! refresh token may be used for (once, by their client, with their verifier), and every
//! hostile request the issue names — each a clear error with nothing issued.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_domain::Duration;
use latchkey_service::oidc::NewClient;
use serde_json::Value;
use sha2::Digest;

use crate::harness::{Browser, PASSWORD, Page, TestApp};
use crate::return_to::password_from;

const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub struct Rp {
    pub id: String,
    pub secret: Option<String>,
}

pub async fn register(app: &TestApp, new: NewClient) -> Rp {
    app.service.ensure_oidc_signing_keys().await.unwrap();
    let registered = app
        .service
        .register_oidc_client(NewClient {
            name: if new.name.is_empty() {
                "Reports".into()
            } else {
                new.name
            },
            redirect_uris: if new.redirect_uris.is_empty() {
                vec![REDIRECT.into()]
            } else {
                new.redirect_uris
            },
            ..new
        })
        .await
        .unwrap();
    Rp {
        id: registered.client.id,
        secret: registered.secret,
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn authorize_path(rp: &Rp, extra: &str) -> String {
    format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20profile%20offline_access&state=st-1&nonce=n-1&code_challenge={}&code_challenge_method=S256{extra}",
        rp.id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        challenge(VERIFIER)
    )
}

/// The query of a redirect to the client, as pairs.
fn redirect_params(page: &Page) -> Vec<(String, String)> {
    let location = page.location();
    assert!(
        location.starts_with(REDIRECT),
        "{} {location} {}",
        page.status,
        page.body
    );
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A hidden field's value as a browser would post it (the page escapes it for HTML).
fn hidden(page: &Page, name: &str) -> String {
    page.hidden(name)
        .replace("&#38;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
}

/// Authorize as the signed-in `browser`, allowing the client when asked; the code.
pub async fn authorization_code(browser: &mut Browser, rp: &Rp, extra: &str) -> String {
    let mut page = browser.get(&authorize_path(rp, extra)).await;
    if page.status == StatusCode::OK {
        assert!(page.body.contains("to sign you in?"), "{}", page.body);
        let request = hidden(&page, "request");
        page = browser
            .post(
                "/oidc/consent",
                &[
                    ("request", &request),
                    ("decision", "allow"),
                    ("csrf_token", &page.csrf()),
                ],
            )
            .await;
    }
    let params = redirect_params(&page);
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(crate::harness::ORIGIN));
    param(&params, "code")
        .unwrap_or_else(|| panic!("no code: {params:?}"))
        .to_owned()
}

/// A token request from `rp`'s server (client_secret_basic when it has a secret).
pub async fn token(browser: &mut Browser, rp: &Rp, fields: &[(&str, &str)]) -> Page {
    let mut request = Request::post("/oidc/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let mut fields = fields.to_vec();
    match &rp.secret {
        Some(secret) => {
            request = request.header(
                header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(format!("{}:{secret}", rp.id))),
            );
        }
        None => fields.push(("client_id", &rp.id)),
    }
    browser
        .send(
            request
                .body(Body::from(serde_urlencoded::to_string(&fields).unwrap()))
                .unwrap(),
        )
        .await
}

pub async fn exchange(browser: &mut Browser, rp: &Rp, code: &str) -> Page {
    token(
        browser,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

pub async fn userinfo(browser: &mut Browser, access: &str) -> Page {
    browser
        .send(
            Request::get("/oidc/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
}

fn error_of(page: &Page) -> String {
    page.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// The claims of an ID token whose signature checks against the published key its header
/// names, with that key's algorithm.
async fn verified_claims(browser: &mut Browser, id_token: &str) -> Value {
    let jwks = browser.get("/oidc/jwks").await.json();
    let parts: Vec<&str> = id_token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the header's kid is published");
    assert_eq!(key["alg"], header["alg"]);
    let input = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let b = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    match header["alg"].as_str().unwrap() {
        "RS256" => ring::signature::RsaPublicKeyComponents {
            n: b(&key["n"]),
            e: b(&key["e"]),
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &signature,
        )
        .unwrap(),
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(b(&key["x"]));
            point.extend(b(&key["y"]));
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .verify(input.as_bytes(), &signature)
            .unwrap()
        }
        other => panic!("unexpected alg {other}"),
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn the_code_flow_issues_tokens_once_for_the_right_client_redirect_and_verifier() {
    for app in TestApp::all().await {
        let name = app.name;
        let account = app.active_account("rp-user@example.com").await;
        let rp = register(
            &app,
            NewClient {
                refresh_tokens: true,
                ..Default::default()
            },
        )
        .await;
        let other = register(
            &app,
            NewClient {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await;
        let mut browser = app.browser();
        // Not signed in: to latchkey's sign-in, which comes back to authorize.
        let start = browser.get(&authorize_path(&rp, "")).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{name}");
        assert!(
            start
                .location()
                .starts_with("/signin?return_to=%2Foidc%2Fauthorize"),
            "{}",
            start.location()
        );
        let signed_in = password_from(&mut browser, start.location(), "rp-user@example.com").await;
        assert!(
            signed_in.location().starts_with("/oidc/authorize?"),
            "{name}: {}",
            signed_in.location()
        );
        let code = authorization_code(&mut browser, &rp, "").await;

        // Wrong verifier, wrong redirect URI, another client: refused, the code still good.
        let wrong = [
            (
                &rp,
                [
                    ("code_verifier", "x".repeat(43)),
                    ("redirect_uri", REDIRECT.to_owned()),
                ],
            ),
            (
                &rp,
                [
                    ("code_verifier", VERIFIER.to_owned()),
                    ("redirect_uri", format!("{REDIRECT}/")),
                ],
            ),
            (
                &other,
                [
                    ("code_verifier", VERIFIER.to_owned()),
                    ("redirect_uri", REDIRECT.to_owned()),
                ],
            ),
        ];
        for (client, [(k1, v1), (k2, v2)]) in &wrong {
            let refused = token(
                &mut browser,
                client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    (k1, v1),
                    (k2, v2),
                ],
            )
            .await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{name}: {}",
                refused.body
            );
            assert_eq!(error_of(&refused), "invalid_grant", "{name}");
        }
        // A wrong secret is the client's failure, not the grant's.
        let forged = Rp {
            id: rp.id.clone(),
            secret: Some("x".repeat(43)),
        };
        let refused = exchange(&mut browser, &forged, &code).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(error_of(&refused), "invalid_client");
        assert!(refused.headers.contains_key(header::WWW_AUTHENTICATE));

        let issued = exchange(&mut browser, &rp, &code).await;
        assert_eq!(issued.status, StatusCode::OK, "{name}: {}", issued.body);
        assert_eq!(
            issued.headers.get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        let body = issued.json();
        assert_eq!(body["token_type"], "Bearer");
        let claims = verified_claims(&mut browser, body["id_token"].as_str().unwrap()).await;
        assert_eq!(claims["iss"], crate::harness::ORIGIN, "{name}");
        assert_eq!(
            claims["sub"],
            account.as_str(),
            "{name}: the account id, never the address"
        );
        assert_eq!(claims["aud"], rp.id.as_str());
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["email"], "rp-user@example.com");
        assert_eq!(claims["acr"], "urn:latchkey:acr:password");
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
        let access = body["access_token"].as_str().unwrap().to_owned();
        let info = userinfo(&mut browser, &access).await;
        assert_eq!(info.status, StatusCode::OK, "{name}");
        assert_eq!(info.json()["sub"], account.as_str());
        assert_eq!(info.json()["email"], "rp-user@example.com");

        // Another client presenting the used code revokes nothing and learns nothing.
        let stolen = exchange(&mut browser, &other, &code).await;
        assert_eq!(error_of(&stolen), "invalid_grant", "{name}");
        assert_eq!(stolen.json()["error_description"], "the code is not valid");
        assert_eq!(
            userinfo(&mut browser, &access).await.status,
            StatusCode::OK,
            "{name}"
        );
        // The scheme is case-insensitive.
        let lower = browser
            .send(
                Request::get("/oidc/userinfo")
                    .header(header::AUTHORIZATION, format!("bearer {access}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(lower.status, StatusCode::OK, "{name}");

        // The code again: refused, and what it issued is revoked.
        let replay = exchange(&mut browser, &rp, &code).await;
        assert_eq!(error_of(&replay), "invalid_grant", "{name}");
        assert_eq!(
            userinfo(&mut browser, &access).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        let refresh = body["refresh_token"].as_str().unwrap();
        let revoked = token(
            &mut browser,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(
            error_of(&revoked),
            "invalid_grant",
            "{name}: the refresh token went too"
        );
        let events: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(e, _, _)| e)
            .collect();
        for event in [
            "oidc_code_issued",
            "oidc_tokens_issued",
            "oidc_code_replayed",
        ] {
            assert!(
                events.iter().any(|e| e == event),
                "{name}: {event} in {events:?}"
            );
        }
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("rotating@example.com").await;
        let rp = register(
            &app,
            NewClient {
                refresh_tokens: true,
                ..Default::default()
            },
        )
        .await;
        let mut browser = app.browser();
        browser.sign_in("rotating@example.com", PASSWORD).await;
        let code = authorization_code(&mut browser, &rp, "").await;
        let first = exchange(&mut browser, &rp, &code).await.json();
        let old = first["refresh_token"].as_str().unwrap().to_owned();
        let refreshed = token(
            &mut browser,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        )
        .await;
        assert_eq!(
            refreshed.status,
            StatusCode::OK,
            "{name}: {}",
            refreshed.body
        );
        let second = refreshed.json();
        let new = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        let new_access = second["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            userinfo(&mut browser, &new_access).await.status,
            StatusCode::OK
        );
        // The old one again: the whole family goes, the newest included.
        let reused = token(
            &mut browser,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        )
        .await;
        assert_eq!(error_of(&reused), "invalid_grant", "{name}");
        let after = token(
            &mut browser,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &new)],
        )
        .await;
        assert_eq!(error_of(&after), "invalid_grant", "{name}");
        assert_eq!(
            userinfo(&mut browser, &new_access).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        // A client registered without refresh tokens gets none.
        let plain = register(
            &app,
            NewClient {
                name: "Plain".into(),
                ..Default::default()
            },
        )
        .await;
        let plain_code = authorization_code(&mut browser, &plain, "").await;
        let body = exchange(&mut browser, &plain, &plain_code).await.json();
        assert!(body.get("refresh_token").is_none(), "{name}: {body}");
    }
}

#[tokio::test]
async fn twenty_exchanges_of_one_code_at_once_issue_once_and_the_replay_revokes_it() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("racer@example.com").await;
        let rp = register(&app, NewClient::default()).await;
        let mut browser = app.browser();
        browser.sign_in("racer@example.com", PASSWORD).await;
        let code = authorization_code(&mut browser, &rp, "").await;
        let rp = std::sync::Arc::new(rp);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (mut client, rp, code, barrier) =
                    (browser.clone(), rp.clone(), code.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    exchange(&mut client, &rp, &code).await
                })
            })
            .collect();
        let mut pages = Vec::new();
        for task in tasks {
            pages.push(task.await.unwrap());
        }
        let issued: Vec<&Page> = pages
            .iter()
            .filter(|p| p.status == StatusCode::OK)
            .collect();
        assert_eq!(
            issued.len(),
            1,
            "{name}: {:?}",
            pages.iter().map(|p| p.status).collect::<Vec<_>>()
        );
        assert!(
            pages
                .iter()
                .all(|p| p.status == StatusCode::OK || error_of(p) == "invalid_grant")
        );
        // The others were replays: the one issued is revoked.
        let access = issued[0].json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            userinfo(&mut browser, &access).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
}

#[tokio::test]
async fn codes_expire_and_tokens_end_with_the_session() {
    let app = TestApp::sqlite().await;
    app.active_account("ending@example.com").await;
    let rp = register(
        &app,
        NewClient {
            public: true,
            ..Default::default()
        },
    )
    .await;
    let mut browser = app.browser();
    browser.sign_in("ending@example.com", PASSWORD).await;
    let late = authorization_code(&mut browser, &rp, "").await;
    app.clock.advance(Duration::seconds(61));
    assert_eq!(
        error_of(&exchange(&mut browser, &rp, &late).await),
        "invalid_grant"
    );
    // A public client proves itself with the verifier alone.
    let fresh = authorization_code(&mut browser, &rp, "").await;
    let missing = token(
        &mut browser,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &fresh),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(error_of(&missing), "invalid_grant", "no verifier");
    let fresh = authorization_code(&mut browser, &rp, "").await;
    let body = exchange(&mut browser, &rp, &fresh).await.json();
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&mut browser, &access).await.status, StatusCode::OK);
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    assert_eq!(
        userinfo(&mut browser, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "signing out of latchkey ends what applications were given"
    );

    // An application's server asking does not keep the session from idling out.
    let rp = register(
        &app,
        NewClient {
            name: "Poller".into(),
            refresh_tokens: true,
            ..Default::default()
        },
    )
    .await;
    browser.sign_in("ending@example.com", PASSWORD).await;
    let code = authorization_code(&mut browser, &rp, "").await;
    let body = exchange(&mut browser, &rp, &code).await.json();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::minutes(20));
    let refreshed = token(
        &mut browser,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(userinfo(&mut browser, &access).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(11));
    assert_eq!(
        userinfo(&mut browser, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "31 minutes without the person: the session idled out"
    );
}

#[tokio::test]
async fn hostile_authorization_requests_are_refused_without_redirecting_elsewhere() {
    let app = TestApp::sqlite().await;
    app.active_account("hostile@example.com").await;
    let rp = register(&app, NewClient::default()).await;
    let public = register(
        &app,
        NewClient {
            name: "Spa".into(),
            public: true,
            ..Default::default()
        },
    )
    .await;
    let mut browser = app.browser();
    browser.sign_in("hostile@example.com", PASSWORD).await;
    let base = authorize_path(&rp, "");
    let encoded =
        |uri: &str| url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>();
    // Never redirected to: unknown client, unregistered or near-miss redirect URIs.
    for path in [
        base.replace(&rp.id, "lk-unknown"),
        base.replace(&format!("client_id={}", rp.id), ""),
        base.replace(
            &encoded(REDIRECT),
            &encoded("https://evil.example/callback"),
        ),
        base.replace(
            &encoded(REDIRECT),
            &encoded("https://app.example.com/callback/"),
        ),
        base.replace(
            &encoded(REDIRECT),
            &encoded("https://app.example.com/callback?x=1"),
        ),
        base.replace(
            &encoded(REDIRECT),
            &encoded("https://APP.example.com/callback"),
        ),
        base.replace(
            &encoded(REDIRECT),
            &encoded("https://app.example.com/callback#x"),
        ),
        base.replace(&encoded(REDIRECT), ""),
        format!("{base}&client_id=lk-second"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(page.headers.get(header::LOCATION).is_none(), "{path}");
    }
    // Errors the client hears about, at its registered URI.
    for (path, error) in [
        (
            base.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            base.replace("response_type=code", "response_type=code%20id_token"),
            "unsupported_response_type",
        ),
        (base.replace("scope=openid%20", "scope="), "invalid_scope"),
        (
            base.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            base.replace(&challenge(VERIFIER), "short"),
            "invalid_request",
        ),
        (format!("{base}&prompt=none%20login"), "invalid_request"),
        (format!("{base}&max_age=-1"), "invalid_request"),
        (
            format!("{base}&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (format!("{base}&response_mode=fragment"), "invalid_request"),
        (
            authorize_path(&public, "")
                .replace("&code_challenge=", "&x=")
                .replace("&code_challenge_method=S256", ""),
            "invalid_request",
        ),
    ] {
        let page = browser.get(&path).await;
        let params = redirect_params(&page);
        assert_eq!(param(&params, "error"), Some(error), "{path}");
        assert_eq!(param(&params, "state"), Some("st-1"), "{path}");
        assert!(param(&params, "code").is_none(), "{path}");
    }
    // prompt=none without a session: login_required, no sign-in page.
    let mut stranger = app.browser();
    let page = stranger.get(&format!("{base}&prompt=none")).await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("login_required")
    );
    // Denying consent: access_denied, nothing issued.
    let asked = browser.get(&base).await;
    let denied = browser
        .post(
            "/oidc/consent",
            &[
                ("request", &hidden(&asked, "request")),
                ("decision", "deny"),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert_eq!(
        param(&redirect_params(&denied), "error"),
        Some("access_denied")
    );
    // Token endpoint: unknown grant types, a garbage code, no client at all.
    let code_only = [
        ("grant_type", "password"),
        ("username", "x"),
        ("password", "y"),
    ];
    assert_eq!(
        error_of(&token(&mut browser, &rp, &code_only).await),
        "unsupported_grant_type"
    );
    let garbage = [
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("redirect_uri", REDIRECT),
    ];
    assert_eq!(
        error_of(&token(&mut browser, &rp, &garbage).await),
        "invalid_grant"
    );
    let anonymous = Rp {
        id: "lk-unknown".into(),
        secret: None,
    };
    let refused = token(&mut browser, &anonymous, &garbage).await;
    assert_eq!(
        (refused.status, error_of(&refused)),
        (StatusCode::UNAUTHORIZED, "invalid_client".to_owned())
    );
    // A confidential client cannot pass as public by leaving its secret out.
    let as_public = Rp {
        id: rp.id.clone(),
        secret: None,
    };
    assert_eq!(
        error_of(&token(&mut browser, &as_public, &garbage).await),
        "invalid_client"
    );
}

#[tokio::test]
async fn a_logout_hint_latchkey_did_not_sign_signs_nobody_out_silently() {
    let app = TestApp::sqlite().await;
    app.active_account("leaving@example.com").await;
    let rp = register(
        &app,
        NewClient {
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            ..Default::default()
        },
    )
    .await;
    let mut browser = app.browser();
    browser.sign_in("leaving@example.com", PASSWORD).await;
    let code = authorization_code(&mut browser, &rp, "").await;
    let id_token = exchange(&mut browser, &rp, &code).await.json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = id_token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let jwks = browser.get("/oidc/jwks").await.json();
    let public_key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap()
        .to_string();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let with_header = |h: Value| format!("{}.{}.{}", b64(&h), parts[1], parts[2]);
    // HS256 keyed with the published public key: the classic key confusion.
    let hs_header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]});
    let hs_input = format!("{}.{}", b64(&hs_header), parts[1]);
    let hs_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_key.as_bytes());
    let hs_token = format!(
        "{hs_input}.{}",
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&hs_key, hs_input.as_bytes()))
    );
    let mut tampered_payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    tampered_payload["sub"] = "000000000001".into();
    for hostile in [
        format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "kid": header["kid"]})),
            parts[1]
        ),
        with_header(serde_json::json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})),
        with_header(serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": header["kid"]})),
        with_header(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "unknown"})),
        hs_token,
        format!("{}.{}.{}", parts[0], b64(&tampered_payload), parts[2]),
        "not.a.jwt".to_owned(),
    ] {
        let page = browser
            .get(&format!(
                "/oidc/end-session?id_token_hint={hostile}&post_logout_redirect_uri={}&state=s",
                url::form_urlencoded::byte_serialize(b"https://app.example.com/bye")
                    .collect::<String>()
            ))
            .await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{hostile}: asked, not signed out"
        );
        assert!(page.body.contains("Sign out of latchkey?"), "{hostile}");
        assert_eq!(
            browser.get("/console/security-credentials").await.status,
            StatusCode::OK
        );
    }
    // A genuine hint from another session of the same account only gets the question.
    let mut elsewhere = app.browser();
    elsewhere.sign_in("leaving@example.com", PASSWORD).await;
    let other_code = authorization_code(&mut elsewhere, &rp, "").await;
    let other_hint = exchange(&mut elsewhere, &rp, &other_code).await.json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser
        .get(&format!("/oidc/end-session?id_token_hint={other_hint}"))
        .await;
    assert!(
        page.body.contains("Sign out of latchkey?"),
        "another session's hint asks"
    );
    assert_eq!(
        browser.get("/console/security-credentials").await.status,
        StatusCode::OK
    );
    // latchkey's own hint for this session: signed out and sent back with the state.
    let page = browser
        .get(&format!(
            "/oidc/end-session?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s",
            url::form_urlencoded::byte_serialize(b"https://app.example.com/bye")
                .collect::<String>()
        ))
        .await;
    assert_eq!(page.location(), "https://app.example.com/bye?state=s");
    assert_ne!(
        browser.get("/console/security-credentials").await.status,
        StatusCode::OK
    );
    // An unregistered post-logout URI is never followed.
    let page = browser
        .get(&format!(
            "/oidc/end-session?id_token_hint={id_token}&post_logout_redirect_uri={}",
            url::form_urlencoded::byte_serialize(b"https://evil.example/").collect::<String>()
        ))
        .await;
    assert_eq!(page.location(), "/signin?signed_out=1");
}

#[tokio::test]
async fn discovery_and_keys_describe_what_latchkey_does() {
    let app = TestApp::sqlite().await;
    app.service.ensure_oidc_signing_keys().await.unwrap();
    assert!(
        !app.service.ensure_oidc_signing_keys().await.unwrap(),
        "created once"
    );
    let mut browser = app.browser();
    let answer = browser.get("/.well-known/openid-configuration").await;
    assert_eq!(
        answer.headers.get("access-control-allow-origin").unwrap(),
        "*"
    );
    let discovery = answer.json();
    // A single-page application's preflight for the token endpoint.
    let preflight = browser
        .send(
            Request::options("/oidc/token")
                .header(header::ORIGIN, "https://spa.example.com")
                .header("access-control-request-method", "POST")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    // The browser-facing pages are not opened to other origins.
    let rp = register(&app, NewClient::default()).await;
    for path in [
        authorize_path(&rp, ""),
        "/oidc/end-session".to_owned(),
        "/signin".to_owned(),
        "/nowhere".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert!(
            page.headers.get("access-control-allow-origin").is_none(),
            "{path}"
        );
    }
    assert_eq!(
        preflight
            .headers
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
    assert!(
        preflight
            .headers
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert_eq!(discovery["issuer"], crate::harness::ORIGIN);
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/oidc/token", crate::harness::ORIGIN)
    );
    assert_eq!(
        discovery["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let jwks = browser.get("/oidc/jwks").await.json();
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "RS256"]);
    assert!(
        keys.iter()
            .all(|k| k.get("d").is_none() && k.get("p").is_none()),
        "no private parts"
    );
    // A rotation publishes the new keys at once; they sign only after the overlap.
    let rotated = app.service.rotate_oidc_signing_keys().await.unwrap();
    assert_eq!(
        browser.get("/oidc/jwks").await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let old_rs = keys.iter().find(|k| k["alg"] == "RS256").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        app.service.retire_oidc_signing_key(&old_rs).await.is_err(),
        "it still signs"
    );
    app.clock.advance(Duration::hours(25));
    app.service.retire_oidc_signing_key(&old_rs).await.unwrap();
    let kids: Vec<String> = browser.get("/oidc/jwks").await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !kids.contains(&old_rs) && kids.contains(&rotated[0].kid),
        "{kids:?}"
    );
}

#[tokio::test]
async fn a_fresh_sign_in_cannot_be_claimed_by_the_request_and_consent_covers_its_scopes() {
    let app = TestApp::sqlite().await;
    app.active_account("fresh@example.com").await;
    let rp = register(&app, NewClient::default()).await;
    let mut browser = app.browser();
    browser.sign_in("fresh@example.com", PASSWORD).await;
    authorization_code(&mut browser, &rp, "").await;
    // prompt=login with a marker the request made up: still sent to sign in again.
    for forged in ["0", "99999999999", "0.abc"] {
        let page = browser
            .get(&authorize_path(
                &rp,
                &format!("&prompt=login&lk_signed_in_after={forged}"),
            ))
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{forged}");
        assert!(
            page.location().starts_with("/signin?return_to="),
            "{forged}: {}",
            page.location()
        );
        assert!(
            page.location().ends_with("&reauth=1"),
            "{}",
            page.location()
        );
    }
    // The marker latchkey made, after a sign-in at or after it, lets the request through.
    let asked = browser.get(&authorize_path(&rp, "&prompt=login")).await;
    // The sign-in form, though the browser is signed in.
    let form = browser.get(asked.location()).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("Root user email address"),
        "{}",
        form.body
    );
    let done = password_from(&mut browser, asked.location(), "fresh@example.com").await;
    assert!(
        done.location().contains("lk_signed_in_after="),
        "{}",
        done.location()
    );
    let back = browser.get(done.location()).await;
    assert!(param(&redirect_params(&back), "code").is_some());
    // That genuine marker, carried to a new request of the same client (another state,
    // nonce and challenge), proves nothing there.
    let marker = url::Url::parse(&format!("http://x{}", done.location()))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "lk_signed_in_after")
        .unwrap()
        .1
        .into_owned();
    let replayed = authorize_path(&rp, &format!("&prompt=login&lk_signed_in_after={marker}"))
        .replace("state=st-1", "state=st-2")
        .replace("nonce=n-1", "nonce=n-2");
    let page = browser.get(&replayed).await;
    assert!(
        page.location().starts_with("/signin?return_to="),
        "{}",
        page.location()
    );
    // Nor does it last: the same request half an hour later asks again.
    app.clock.advance(Duration::minutes(31));
    browser.sign_in("fresh@example.com", PASSWORD).await;
    let page = browser.get(done.location()).await;
    assert!(
        page.location().starts_with("/signin?return_to="),
        "{}",
        page.location()
    );

    // Consent for fewer scopes does not cover more.
    let narrow = authorize_path(&rp, "").replace(
        "scope=openid%20email%20profile%20offline_access",
        "scope=openid",
    );
    let other = register(
        &app,
        NewClient {
            name: "Narrow".into(),
            ..Default::default()
        },
    )
    .await;
    let narrow = narrow.replace(&rp.id, &other.id);
    let asked = browser.get(&narrow).await;
    assert!(asked.body.contains("to sign you in?"));
    let allowed = browser
        .post(
            "/oidc/consent",
            &[
                ("request", &hidden(&asked, "request")),
                ("decision", "allow"),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert!(param(&redirect_params(&allowed), "code").is_some());
    assert!(
        param(&redirect_params(&browser.get(&narrow).await), "code").is_some(),
        "asked once"
    );
    let wider = browser.get(&authorize_path(&other, "")).await;
    assert_eq!(wider.status, StatusCode::OK, "more scopes: asked again");
    assert!(wider.body.contains("to sign you in?"));
}

#[tokio::test]
async fn a_recovery_session_leaves_no_consent_behind() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    crate::recovery::account_with_device(&app, &mut browser, "intruded@example.com").await;
    let rp = register(&app, NewClient::default()).await;
    crate::recovery::start(&mut browser, "intruded@example.com").await;
    crate::recovery::press(&mut browser, "/signin/recovery/email").await;
    crate::recovery::confirm_email(&app, &mut browser, "intruded@example.com").await;
    crate::recovery::press(&mut browser, "/signin/recovery/call").await;
    let code = crate::recovery::code_on(&browser.get("/signin/recovery").await);
    crate::harness::key_on_dev_phone(&app, &mut browser, &code).await;
    crate::recovery::press(&mut browser, "/signin/recovery/complete").await;
    // The authorize endpoint refuses it; a consent form posted by hand is refused too.
    let refused = browser.get(&authorize_path(&rp, "")).await;
    assert_eq!(
        param(&redirect_params(&refused), "error"),
        Some("access_denied")
    );
    let query = authorize_path(&rp, "")
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    let csrf = browser.get("/signup").await.csrf();
    let posted = browser
        .post(
            "/oidc/consent",
            &[
                ("request", &query),
                ("decision", "allow"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        param(&redirect_params(&posted), "error"),
        Some("access_denied")
    );
    let account = app
        .store
        .account_by_email(&latchkey_domain::EmailAddress::parse("intruded@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        app.store.oidc_consent(&account, &rp.id).await.unwrap(),
        None,
        "no consent kept"
    );
}

#[tokio::test]
async fn an_authorization_request_may_come_as_a_form_post() {
    let app = TestApp::sqlite().await;
    app.active_account("posted@example.com").await;
    let rp = register(
        &app,
        NewClient {
            first_party: true,
            ..Default::default()
        },
    )
    .await;
    let mut browser = app.browser();
    browser.sign_in("posted@example.com", PASSWORD).await;
    let query = authorize_path(&rp, "")
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    // From the application's site: another origin, cross-site.
    let posted = browser
        .send(
            Request::post("/oidc/authorize")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, "https://app.example.com")
                .header("sec-fetch-site", "cross-site")
                .body(Body::from(query.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert!(
        posted
            .location()
            .starts_with("/oidc/authorize?response_type=code&client_id=")
    );
    let answered = browser.get(posted.location()).await;
    assert!(param(&redirect_params(&answered), "code").is_some());
    // Raw line breaks in the body come out encoded, never as header text.
    let raw = browser
        .send(
            Request::post("/oidc/authorize")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("{query}&x=a\r\nSet-Cookie:%20y=1")))
                .unwrap(),
        )
        .await;
    assert_eq!(raw.status, StatusCode::SEE_OTHER);
    assert!(
        raw.location().ends_with("&x=a%0D%0ASet-Cookie%3A+y%3D1"),
        "{}",
        raw.location()
    );
    assert!(
        raw.headers
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().starts_with("y="))
    );
    // A malformed body is refused there, not passed on.
    let bad = browser
        .send(
            Request::post("/oidc/authorize")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("client_id=a&client_id=b"))
                .unwrap(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
