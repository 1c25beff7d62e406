//! `Other hardware MFA device`: tokens imported from PSKC files written by python-pskc,
//! activated by serial number and two consecutive codes, used to sign in, and returned to the
//! inventory on removal.

use axum::http::StatusCode;
use latchkey_domain::Duration;
use latchkey_domain::totp::{TotpAlgorithm, TotpParams, code_at};
use latchkey_service::tokens::{ImportError, PackageRefusal, RefusedPackage};

use crate::harness::{Browser, PASSWORD, TestApp};
use crate::mfa::{device_ids, password_step, submit_code};

const ENCRYPTED: &[u8] = include_bytes!("../../../pskc/tests/data/encrypted-aes128.pskc");
const PLAIN_SHA256: &[u8] = include_bytes!("../../../pskc/tests/data/plain-sha256.pskc");
const KEY: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
];

/// SN-0001: SHA-1, 6 digits, 30 s. SN-0002: SHA-256, 8 digits, 30 s.
fn code(app: &TestApp, serial: &str, offset: i64) -> String {
    let (secret, params): (&[u8], TotpParams) = match serial {
        "SN-0001" => (b"12345678901234567890", TotpParams::VIRTUAL),
        _ => (
            b"12345678901234567890123456789012",
            TotpParams {
                algorithm: TotpAlgorithm::Sha256,
                digits: 8,
                period: 30,
            },
        ),
    };
    let step = params.step_at(latchkey_service::Clock::now(app.clock.as_ref())) + offset;
    format!(
        "{:0width$}",
        code_at(secret, params, step),
        width = params.digits as usize
    )
}

async fn activate(app: &TestApp, browser: &mut Browser, serial: &str) -> crate::harness::Page {
    let chooser = browser.get("/console/mfa/activate").await;
    let next = browser
        .post(
            "/console/mfa/activate",
            &[("device_type", "hardware"), ("csrf_token", &chooser.csrf())],
        )
        .await;
    assert_eq!(next.location(), "/console/mfa/hardware");
    let form = browser.get("/console/mfa/hardware").await;
    assert!(form.body.contains("Serial number") && form.body.contains("Assign MFA"));
    let (c1, c2) = (code(app, serial, -1), code(app, serial, 0));
    browser
        .post(
            "/console/mfa/hardware",
            &[
                ("serial", serial),
                ("name", ""),
                ("code1", &c1),
                ("code2", &c2),
                ("csrf_token", &form.csrf()),
            ],
        )
        .await
}

#[tokio::test]
async fn an_imported_token_activates_signs_in_and_returns_to_the_inventory() {
    for app in TestApp::all().await {
        let name = app.name;
        let report = app
            .service
            .import_tokens(ENCRYPTED, Some(&KEY))
            .await
            .unwrap();
        assert_eq!(report.imported, ["SN-0001"], "{name}");
        app.service.import_tokens(PLAIN_SHA256, None).await.unwrap();
        app.active_account("ann@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("ann@example.com", PASSWORD).await;

        let done = activate(&app, &mut browser, "SN-0002").await;
        assert_eq!(
            done.location(),
            "/console/security-credentials?done=mfa-added",
            "{name}: {}",
            done.body
        );
        let page = browser.get("/console/security-credentials").await;
        assert!(
            page.body.contains("Other hardware MFA device") && page.body.contains("serial SN-0002"),
            "{name}"
        );
        let tokens = app.service.hardware_tokens().await.unwrap();
        assert!(
            tokens
                .iter()
                .any(|t| t.serial == "SN-0002" && t.account_id.is_some()),
            "{name}"
        );
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        // Eight-digit SHA-256 codes sign in; the enrolment's codes do not.
        password_step(&mut browser, "ann@example.com").await;
        assert_eq!(
            submit_code(&mut browser, None, &code(&app, "SN-0002", 0))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
        app.clock.advance(Duration::seconds(30));
        let fresh = code(&app, "SN-0002", 0);
        assert_eq!(
            submit_code(&mut browser, None, &fresh).await.status,
            StatusCode::SEE_OTHER,
            "{name}"
        );

        let id = device_ids(&app, "ann@example.com").await.remove(0);
        let manage = browser.get(&format!("/console/mfa/{id}/manage")).await;
        browser
            .post(
                &format!("/console/mfa/{id}/remove"),
                &[("csrf_token", &manage.csrf())],
            )
            .await;
        let tokens = app.service.hardware_tokens().await.unwrap();
        assert!(
            tokens.iter().all(|t| t.account_id.is_none()),
            "{name}: back in the inventory"
        );
    }
}

#[tokio::test]
async fn unknown_or_taken_serials_and_bad_codes_create_nothing() {
    let app = TestApp::sqlite().await;
    app.service
        .import_tokens(ENCRYPTED, Some(&KEY))
        .await
        .unwrap();
    app.active_account("bo@example.com").await;
    app.active_account("cy@example.com").await;
    let mut bo = app.browser();
    bo.sign_in("bo@example.com", PASSWORD).await;
    let unknown = activate(&app, &mut bo, "SN-9999").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unknown
            .body
            .contains("no free hardware token with this serial number")
    );
    let form = bo.get("/console/mfa/hardware").await;
    let same = code(&app, "SN-0001", 0);
    let twice = bo
        .post(
            "/console/mfa/hardware",
            &[
                ("serial", "SN-0001"),
                ("code1", &same),
                ("code2", &same),
                ("csrf_token", &form.csrf()),
            ],
        )
        .await;
    assert!(twice.body.contains("two different codes"));
    let reversed = bo
        .post(
            "/console/mfa/hardware",
            &[
                ("serial", "SN-0001"),
                ("code1", &code(&app, "SN-0001", 0)),
                ("code2", &code(&app, "SN-0001", -1)),
                ("csrf_token", &form.csrf()),
            ],
        )
        .await;
    assert!(reversed.body.contains("not two consecutive codes"));
    assert!(device_ids(&app, "bo@example.com").await.is_empty());
    assert_eq!(
        activate(&app, &mut bo, "SN-0001").await.status,
        StatusCode::SEE_OTHER
    );

    let mut cy = app.browser();
    cy.sign_in("cy@example.com", PASSWORD).await;
    let taken = activate(&app, &mut cy, "SN-0001").await;
    assert_eq!(
        taken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a token bound to another account"
    );
    assert!(device_ids(&app, "cy@example.com").await.is_empty());
}

#[tokio::test]
async fn imports_report_every_problem_and_import_nothing() {
    let app = TestApp::sqlite().await;
    app.service.import_tokens(PLAIN_SHA256, None).await.unwrap();
    let again = app.service.import_tokens(PLAIN_SHA256, None).await;
    let Err(ImportError::Packages(refused)) = again else {
        panic!("{again:?}");
    };
    assert!(
        refused
            .iter()
            .any(|r| r.serial.as_deref() == Some("SN-0002") && r.why == PackageRefusal::InInventory),
        "{refused:?}"
    );
    let no_key = app
        .service
        .import_tokens(ENCRYPTED, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(no_key.contains("--key-file"), "{no_key}");
    let doubled = String::from_utf8(PLAIN_SHA256.to_vec())
        .unwrap()
        .replace("SN-0002", "SN-0003");
    let doubled = doubled.replace(
        "</pskc:KeyContainer>",
        &format!(
            "{}</pskc:KeyContainer>",
            &doubled[doubled.find("<pskc:KeyPackage>").unwrap()
                ..doubled.find("</pskc:KeyContainer>").unwrap()]
        ),
    );
    let report = app.service.import_tokens(doubled.as_bytes(), None).await;
    let Err(ImportError::Packages(refused)) = report else {
        panic!("{report:?}");
    };
    assert!(
        refused.contains(&RefusedPackage {
            index: 2,
            serial: Some("SN-0003".to_owned()),
            why: PackageRefusal::RepeatedInFile,
        }),
        "{refused:?}"
    );
    assert_eq!(
        app.service.hardware_tokens().await.unwrap().len(),
        1,
        "nothing from the failed imports"
    );
}

#[tokio::test]
async fn an_account_whose_only_device_was_a_hardware_token_recovers() {
    use crate::recovery::{code_on, confirm_email, press, start};
    for app in TestApp::all().await {
        let name = app.name;
        app.service
            .import_tokens(ENCRYPTED, Some(&KEY))
            .await
            .unwrap();
        app.active_account("dee@example.com").await;
        let mut browser = app.browser();
        browser.sign_in("dee@example.com", PASSWORD).await;
        activate(&app, &mut browser, "SN-0001").await;
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;

        start(&mut browser, "dee@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "dee@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let digits = code_on(&browser.get("/signin/recovery").await);
        crate::harness::key_on_dev_phone(&app, &mut browser, &digits).await;
        assert_eq!(
            press(&mut browser, "/signin/recovery/complete")
                .await
                .location(),
            "/console/security-credentials",
            "{name}"
        );
        let page = browser.get("/console/security-credentials").await;
        assert!(page.body.contains("serial SN-0001"), "{name}");
        let id = device_ids(&app, "dee@example.com").await.remove(0);
        let manage = browser.get(&format!("/console/mfa/{id}/manage")).await;
        let removed = browser
            .post(
                &format!("/console/mfa/{id}/remove"),
                &[("csrf_token", &manage.csrf())],
            )
            .await;
        assert_eq!(
            removed.location(),
            "/console/security-credentials?done=mfa-removed-last",
            "{name}"
        );
        assert!(
            app.service.hardware_tokens().await.unwrap()[0]
                .account_id
                .is_none(),
            "{name}: the token is free again"
        );
    }
}

#[tokio::test]
async fn a_token_is_bound_over_json() {
    let app = TestApp::sqlite().await;
    app.service.import_tokens(PLAIN_SHA256, None).await.unwrap();
    app.active_account("eve@example.com").await;
    let mut client = app.browser();
    let session = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(serde_json::json!({"email": "eve@example.com", "password": PASSWORD})),
        )
        .await;
    let token = session.json()["session_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({"serial": "SN-0002", "code1": code(&app, "SN-0002", -1), "code2": code(&app, "SN-0002", 0)});
    let device = client
        .api("POST", "/api/v1/mfa/hardware", Some(&token), Some(body))
        .await;
    assert_eq!(device.status, StatusCode::CREATED, "{}", device.body);
    assert_eq!(device.json()["type"], "hardware");
    assert_eq!(device.json()["serial"], "SN-0002");
    let again = client
        .api(
            "POST",
            "/api/v1/mfa/hardware",
            Some(&token),
            Some(
                serde_json::json!({"serial": "SN-0002", "code1": "00000000", "code2": "11111111"}),
            ),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.json()["error"]["fields"][0]["field"], "serial");
}
