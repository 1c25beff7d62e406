//! The JSON API: the same journey as the console, its single error shape, and the OpenAPI
//! document.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::harness::{PASSWORD, TestApp};

#[tokio::test]
async fn sign_up_verify_sign_in_who_am_i_and_sign_out_over_json() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut client = app.browser();
        let created = client
            .api("POST", "/api/v1/accounts", None, Some(json!({"email": "ann@example.com", "account_name": "Acme", "password": PASSWORD, "phone": "+1 415 555 2671"})))
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{name}: {}",
            created.body
        );
        assert_eq!(created.json()["status"], "pending_verification");

        let link = app.link_in_latest_mail("ann@example.com").await;
        let token = link.split("token=").nth(1).unwrap();
        let verified = client
            .api(
                "POST",
                "/api/v1/accounts/verify-email",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(verified.status, StatusCode::OK, "{name}");
        // The account id comes with the verified email, never with the sign-up answer.
        let account_id = verified.json()["account_id"].as_str().unwrap().to_owned();
        assert_eq!(account_id.len(), 12);
        let sign_up_token = verified.json()["sign_up_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let early = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "ann@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(early.status, StatusCode::ACCEPTED, "{name}");
        assert_eq!(early.json()["status"], "phone_verification_required");
        let call = client
            .api(
                "POST",
                "/api/v1/accounts/phone/call",
                None,
                Some(json!({"sign_up_token": sign_up_token})),
            )
            .await;
        assert_eq!(call.status, StatusCode::CREATED, "{name}: {}", call.body);
        let code = call.json()["code"].as_str().unwrap().to_owned();
        let mut phone = app.browser();
        crate::harness::key_on_dev_phone(&app, &mut phone, &code).await;
        let status = client
            .api(
                "POST",
                "/api/v1/accounts/phone/status",
                None,
                Some(json!({"sign_up_token": sign_up_token})),
            )
            .await;
        assert_eq!(status.json()["verified"], true, "{name}");
        let again = client
            .api(
                "POST",
                "/api/v1/accounts/verify-email",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(again.status, StatusCode::GONE, "{name}");
        assert_eq!(again.json()["error"]["code"], "link_invalid");

        let session = client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "ann@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(session.status, StatusCode::CREATED, "{name}");
        let token = session.json()["session_token"].as_str().unwrap().to_owned();

        let me = client.api("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(me.status, StatusCode::OK, "{name}");
        let me = me.json();
        assert_eq!(me["account_id"], account_id.as_str());
        assert_eq!(me["email"], "ann@example.com");
        assert_eq!(me["email_verified"], true);
        assert_eq!(me["phone_verified"], true);
        assert_eq!(me["phone_masked"], "+*********71");

        assert_eq!(
            client
                .api("DELETE", "/api/v1/sessions/current", Some(&token), None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let gone = client.api("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(gone.json()["error"]["code"], "unauthenticated");
    }
}

#[tokio::test]
async fn api_sign_in_answers_unknown_and_wrong_alike() {
    let app = TestApp::sqlite().await;
    app.active_account("bo@example.com").await;
    let mut client = app.browser();
    let wrong = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "bo@example.com", "password": "nope-nope-nope"})),
        )
        .await;
    let unknown = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "nobody@example.com", "password": "nope-nope-nope"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.json()["error"]["code"], "invalid_credentials");
    assert!(wrong.set_cookies().is_empty() && unknown.set_cookies().is_empty());
}

#[tokio::test]
async fn bad_json_gets_the_api_error_shape_and_changes_nothing() {
    let app = TestApp::sqlite().await;
    let mut client = app.browser();
    let send_raw = |content_type: &'static str, body: String| {
        Request::post("/api/v1/accounts")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let cases = [
        (send_raw("application/json", "{not json".into()), StatusCode::BAD_REQUEST, "malformed_json"),
        (send_raw("text/plain", "{}".into()), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (send_raw("application/json", json!({"email": "a@example.com"}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (send_raw("application/json", json!({"email": "a@example.com", "account_name": "A", "password": PASSWORD, "phone": "+442079460958", "admin": true}).to_string()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (send_raw("application/json", format!("{{\"email\": \"{}\"}}", "x".repeat(20_000))), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
    ];
    for (request, status, code) in cases {
        let response = client.send(request).await;
        assert_eq!(response.status, status, "{}", response.body);
        assert_eq!(response.json()["error"]["code"], code, "{}", response.body);
        assert!(
            response.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let invalid = client
        .api(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"email": "bad", "account_name": "A", "password": "short", "phone": "12"})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = invalid.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "phone", "password"]);
    assert!(app.store.outbox_status(10).await.unwrap().is_empty());
    assert_eq!(
        client
            .api("GET", "/api/v1/nothing-here", None, None)
            .await
            .json()["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn api_sign_up_answers_alike_for_taken_and_free_addresses() {
    for app in TestApp::all().await {
        app.active_account("cy@example.com").await;
        let mut client = app.browser();
        let body = |email: &str| json!({"email": email, "account_name": "Acme", "password": PASSWORD, "phone": "+442079460958"});
        let taken = client
            .api(
                "POST",
                "/api/v1/accounts",
                None,
                Some(body("cy@example.com")),
            )
            .await;
        let free = client
            .api(
                "POST",
                "/api/v1/accounts",
                None,
                Some(body("dot@example.com")),
            )
            .await;
        assert_eq!(taken.status, StatusCode::CREATED, "{}", app.name);
        assert_eq!(taken.status, free.status);
        assert_eq!(
            taken.body.replace("cy@example.com", "E"),
            free.body.replace("dot@example.com", "E")
        );
        assert!(taken.json().get("account_id").is_none());
    }
}

#[tokio::test]
async fn password_reset_over_json() {
    let app = TestApp::sqlite().await;
    app.active_account("di@example.com").await;
    let mut client = app.browser();
    assert_eq!(
        client
            .api(
                "POST",
                "/api/v1/password/forgot",
                None,
                Some(json!({"email": "di@example.com"}))
            )
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        client
            .api(
                "POST",
                "/api/v1/password/forgot",
                None,
                Some(json!({"email": "nobody@example.com"}))
            )
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let link = app.link_in_latest_mail("di@example.com").await;
    let token = link.split("token=").nth(1).unwrap();
    let weak = client
        .api(
            "POST",
            "/api/v1/password/reset",
            None,
            Some(json!({"token": token, "password": "short"})),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = client
        .api(
            "POST",
            "/api/v1/password/reset",
            None,
            Some(json!({"token": token, "password": "fresh-harbor-signal-3"})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let device_token = done.json()["device_token"].as_str().unwrap().to_owned();
    let session = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "di@example.com", "password": "fresh-harbor-signal-3", "device_token": device_token})),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = TestApp::sqlite().await;
    let mut client = app.browser();
    let doc = client.api("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/api/v1/accounts", "post"),
        ("/api/v1/accounts/verify-email", "post"),
        ("/api/v1/sessions", "post"),
        ("/api/v1/sessions/current", "delete"),
        ("/api/v1/me", "get"),
        ("/api/v1/password/forgot", "post"),
        ("/api/v1/password/reset", "post"),
        ("/api/v1/sessions/mfa", "post"),
        ("/api/v1/sessions/mfa/resync", "post"),
        ("/api/v1/mfa/devices", "get"),
        ("/api/v1/mfa/virtual", "post"),
        ("/api/v1/mfa/virtual/{enrollment_id}", "post"),
        ("/api/v1/mfa/devices/{device_id}/resync", "post"),
        ("/api/v1/mfa/devices/{device_id}/remove", "post"),
        ("/api/v1/recovery", "post"),
        ("/api/v1/recovery/status", "post"),
        ("/api/v1/recovery/email", "post"),
        ("/api/v1/recovery/verify-email", "post"),
        ("/api/v1/recovery/call", "post"),
        ("/api/v1/recovery/complete", "post"),
        ("/api/v1/recovery/cancel", "post"),
        ("/api/v1/accounts/phone/status", "post"),
        ("/api/v1/accounts/phone/call", "post"),
        ("/api/v1/password/change", "post"),
        ("/api/v1/mfa/hardware", "post"),
        ("/api/v1/mfa/security-keys/options", "post"),
        ("/api/v1/mfa/security-keys", "post"),
        ("/api/v1/sessions/webauthn/options", "post"),
        ("/api/v1/sessions/webauthn", "post"),
        ("/api/v1/events", "get"),
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions", "delete"),
        ("/api/v1/sessions/{session_id}", "delete"),
        ("/.well-known/openid-configuration", "get"),
        ("/oidc/jwks", "get"),
        ("/oidc/token", "post"),
        ("/oidc/userinfo", "get"),
        ("/auth/verify", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum::<usize>(),
        expected.len()
    );
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["ApiErrorBody"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn api_clients_carry_their_known_device_token_between_sign_ins() {
    let app = crate::harness::TestApp::sqlite().await;
    app.active_account("kim@example.com").await;
    let mut client = app.browser();
    let sign_in = |device: Option<&str>| json!({"email": "kim@example.com", "password": PASSWORD, "device_token": device});
    let first = client
        .api("POST", "/api/v1/sessions", None, Some(sign_in(None)))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let device = first.json()["device_token"].as_str().unwrap().to_owned();
    assert!(
        !client.cookies.contains_key("latchkey_device"),
        "the API sets no cookies"
    );
    let policy = latchkey_domain::admission::AdmissionPolicy::default();
    for _ in 0..policy.burst {
        client
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "nobody@example.com", "password": "guess-guess-guess"})),
            )
            .await;
    }
    let refused = client
        .api("POST", "/api/v1/sessions", None, Some(sign_in(None)))
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let again = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(sign_in(Some(&device))),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(
        again.json()["device_token"],
        device.as_str(),
        "renewed at each sign-in"
    );
}

/// Writes the OpenAPI document as pretty JSON to the file named by
/// `LATCHKEY_OPENAPI_OUT`, when it is set, so `scripts/test` can hand it to
/// `openapi-spec-validator` without starting a server. Without the variable it does nothing.
#[test]
fn dump_the_openapi_document_when_asked() {
    let Some(path) = std::env::var_os("LATCHKEY_OPENAPI_OUT") else {
        return;
    };
    let json = serde_json::to_string_pretty(&latchkey_web::openapi_document()).unwrap();
    std::fs::write(&path, json + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.to_string_lossy()));
}

/// The rules of OpenAPI that are cheap to check here, so a developer sees them without
/// Python (`scripts/test` also runs `openapi-spec-validator` on the whole document): every
/// operation has an `operationId` no other has, every response a description, every `$ref`
/// a target, and the password sign-in takes its own body (two Rust types of one name would
/// share a single schema in the document, the last one registered winning).
#[test]
fn the_openapi_document_keeps_the_structural_rules() {
    let doc = serde_json::to_value(latchkey_web::openapi_document()).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            match operation["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    if let Some(first) = seen.insert(id.to_owned(), at.clone()) {
                        problems.push(format!("{at}: operationId {id:?} is also {first}'s"));
                    }
                }
                _ => problems.push(format!("{at}: no operationId")),
            }
            let responses = operation["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{at}: no responses"));
            }
            for (status, response) in responses.into_iter().flatten() {
                if response["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    problems.push(format!("{at}: response {status} has no description"));
                }
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for target in refs {
        let pointer = target.strip_prefix('#').unwrap_or("not a local reference");
        if doc.pointer(pointer).is_none() {
            problems.push(format!("$ref {target:?} points nowhere"));
        }
    }
    assert!(
        problems.is_empty(),
        "the OpenAPI document breaks its rules:\n{}",
        problems.join("\n")
    );

    let body_of = |path: &str| {
        let schema = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"];
        let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
        doc["components"]["schemas"][name]["properties"].clone()
    };
    let password = body_of("/api/v1/sessions");
    assert!(
        password["email"].is_object() && password["password"].is_object(),
        "POST /api/v1/sessions documents another body: {password}"
    );
    let security_key = body_of("/api/v1/sessions/webauthn");
    assert!(
        security_key["credential"].is_object(),
        "POST /api/v1/sessions/webauthn documents another body: {security_key}"
    );
}

fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", serde_json::Value::String(target)) => refs.push(target.clone()),
                    _ => collect_refs(item, refs),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_refs(i, refs)),
        _ => {}
    }
}
