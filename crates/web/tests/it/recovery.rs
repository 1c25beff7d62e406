//! `Sign in using alternative factors`: the journey on the built-in phone, the Twilio
//! webhooks, and every abuse case of the issue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use latchkey_domain::Duration;
use latchkey_service::{OutgoingCall, PlacedCall, SendError, VoiceCaller};

use serde_json::json;

use crate::harness::{Browser, PASSWORD, Page, TestApp, key_on_dev_phone, totp};
use crate::mfa::{activate, device_ids, password_step, submit_code};

/// An account with one virtual device, signed out; returns the device's secret.
pub async fn account_with_device(app: &TestApp, browser: &mut Browser, email: &str) -> String {
    app.active_account(email).await;
    browser.sign_in(email, PASSWORD).await;
    let secret = activate(app, browser, "Lost phone").await;
    browser
        .submit("/console/security-credentials", "/signout", &[])
        .await;
    app.clock.advance(Duration::seconds(30));
    secret
}

/// Password, then `Troubleshoot MFA` → `Sign in using alternative factors`.
pub async fn start(browser: &mut Browser, email: &str) -> Page {
    password_step(browser, email).await;
    let troubleshoot = browser.get("/signin/mfa/troubleshoot").await;
    assert!(
        troubleshoot
            .body
            .contains("Sign in using alternative factors")
    );
    let started = browser
        .post("/signin/recovery", &[("csrf_token", &troubleshoot.csrf())])
        .await;
    assert_eq!(started.location(), "/signin/recovery", "{}", started.body);
    browser.get("/signin/recovery").await
}

/// Presses a button of the recovery page (the CSRF token is the browser's, whichever form
/// it is read from: some states show no form at all).
pub async fn press(browser: &mut Browser, action: &str) -> Page {
    let csrf = browser.get("/signup").await.csrf();
    browser.post(action, &[("csrf_token", &csrf)]).await
}

/// Follows the emailed link in `browser` (any browser) and confirms it.
pub async fn confirm_email(app: &TestApp, browser: &mut Browser, email: &str) -> Page {
    let link = app.link_in_latest_mail(email).await;
    assert!(link.starts_with("/recovery/email?token="), "{link}");
    let confirm = browser.get(&link).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    let token = link.split("token=").nth(1).unwrap();
    browser
        .post(
            "/recovery/email",
            &[("token", token), ("csrf_token", &confirm.csrf())],
        )
        .await
}

pub fn code_on(page: &Page) -> String {
    page.element_text("phone-code")
}

#[tokio::test]
async fn the_whole_journey_on_the_embedded_defaults() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        let lost = account_with_device(&app, &mut browser, "ann@example.com").await;
        let mut other_device = app.browser();
        password_step(&mut other_device, "ann@example.com").await;
        submit_code(&mut other_device, None, &totp(&lost, &app.clock, 0)).await;
        assert!(other_device.session_cookie().is_some());

        let page = start(&mut browser, "ann@example.com").await;
        for label in [
            "Step 1: Email address verification",
            "Send verification email",
            "Step 2: Phone number verification",
            "Call me now",
            "Sign in to the console",
            "a***@example.com",
            "+**********58",
        ] {
            assert!(page.body.contains(label), "{name}: {label}");
        }
        let sent = press(&mut browser, "/signin/recovery/email").await;
        assert_eq!(sent.location(), "/signin/recovery", "{name}");
        let waiting = browser.get("/signin/recovery").await;
        assert!(
            waiting.body.contains("http-equiv=\"refresh\""),
            "{name}: the page polls"
        );

        // The link is opened in another browser; the original page moves on.
        let mut phone_browser = app.browser();
        let confirmed = confirm_email(&app, &mut phone_browser, "ann@example.com").await;
        assert_eq!(
            confirmed.status,
            StatusCode::OK,
            "{name}: {}",
            confirmed.body
        );
        let step2 = browser.get("/signin/recovery").await;
        assert!(
            step2.body.contains("✓ Verified") && step2.body.contains("Call me now"),
            "{name}"
        );

        let called = press(&mut browser, "/signin/recovery/call").await;
        assert_eq!(called.location(), "/signin/recovery", "{name}");
        let with_code = browser.get("/signin/recovery").await;
        let code = code_on(&with_code);
        assert_eq!(code.len(), 6, "{name}");
        let done = key_on_dev_phone(&app, &mut browser, &code).await;
        assert!(
            done.body.contains("Your phone number is verified"),
            "{name}: {}",
            done.body
        );

        let step3 = browser.get("/signin/recovery").await;
        assert!(
            !step3.body.contains("http-equiv=\"refresh\""),
            "{name}: nothing to wait for"
        );
        let signed_in = press(&mut browser, "/signin/recovery/complete").await;
        assert_eq!(
            signed_in.location(),
            "/console/security-credentials",
            "{name}: {}",
            signed_in.body
        );
        let credentials = browser.get("/console/security-credentials").await;
        assert!(credentials.body.contains("Lost phone"), "{name}");
        assert!(
            credentials
                .body
                .contains("signed in with alternative factors"),
            "{name}"
        );
        assert_eq!(
            other_device
                .get("/console/security-credentials")
                .await
                .location(),
            "/signin",
            "{name}: other sessions signed out"
        );

        // Remove the lost device, activate a new one, sign out, sign in with the new one.
        let lost_id = device_ids(&app, "ann@example.com").await.remove(0);
        let manage = browser.get(&format!("/console/mfa/{lost_id}/manage")).await;
        let removed = browser
            .post(
                &format!("/console/mfa/{lost_id}/remove"),
                &[("csrf_token", &manage.csrf())],
            )
            .await;
        assert_eq!(
            removed.location(),
            "/console/security-credentials?done=mfa-removed-last",
            "{name}: {}",
            removed.body
        );
        let new = activate(&app, &mut browser, "New phone").await;
        browser
            .submit("/console/security-credentials", "/signout", &[])
            .await;
        app.clock.advance(Duration::seconds(30));
        password_step(&mut browser, "ann@example.com").await;
        let new_id = device_ids(&app, "ann@example.com").await.remove(0);
        assert_eq!(
            submit_code(&mut browser, Some(&lost_id), &totp(&lost, &app.clock, 0))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{name}: the old device is refused"
        );
        assert_eq!(
            submit_code(&mut browser, Some(&new_id), &totp(&new, &app.clock, 0))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{name}"
        );

        let subjects: Vec<String> = app
            .mails_to("ann@example.com")
            .await
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert!(
            subjects.iter().any(|s| s.contains("started to sign in")),
            "{name}: {subjects:?}"
        );
        assert!(
            subjects
                .iter()
                .any(|s| s.contains("signed in to latchkey with alternative factors")),
            "{name}"
        );
        let events: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(e, o, _)| format!("{e}:{o}"))
            .collect();
        for expected in [
            "recovery_started:success",
            "recovery_email_sent:success",
            "recovery_email_verified:success",
            "recovery_call_placed:success",
            "phone_code:success",
            "recovery_completed:success",
        ] {
            assert!(events.contains(&expected.to_owned()), "{name}: {expected}");
        }
    }
}

#[tokio::test]
async fn steps_cannot_be_skipped_reordered_or_started_without_the_password() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "bo@example.com").await;

        let mut stranger = app.browser();
        let page = stranger.get("/signin").await;
        let no_password = stranger
            .post("/signin/recovery", &[("csrf_token", &page.csrf())])
            .await;
        assert_eq!(
            no_password.status,
            StatusCode::GONE,
            "{name}: no attempt, no flow"
        );

        start(&mut browser, "bo@example.com").await;
        assert_eq!(
            press(&mut browser, "/signin/recovery/call").await.status,
            StatusCode::CONFLICT,
            "{name}: call before email"
        );
        assert_eq!(
            press(&mut browser, "/signin/recovery/complete")
                .await
                .status,
            StatusCode::CONFLICT,
            "{name}: sign in before both"
        );
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "bo@example.com").await;
        assert_eq!(
            press(&mut browser, "/signin/recovery/email").await.status,
            StatusCode::CONFLICT,
            "{name}: step 1 is over"
        );
        assert_eq!(
            press(&mut browser, "/signin/recovery/complete")
                .await
                .status,
            StatusCode::CONFLICT,
            "{name}: phone first"
        );
        press(&mut browser, "/signin/recovery/call").await;
        let code = code_on(&browser.get("/signin/recovery").await);
        key_on_dev_phone(&app, &mut browser, &code).await;
        let flow_cookie = browser
            .cookies
            .get("latchkey_recovery")
            .cloned()
            .expect(name);
        let done = press(&mut browser, "/signin/recovery/complete").await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{name}");
        assert!(
            !browser.cookies.contains_key("latchkey_recovery"),
            "{name}: the flow cookie is cleared"
        );
        // Replaying the last step (a second tab, a resubmitted form) issues nothing.
        let mut replay = app.browser();
        replay
            .cookies
            .insert("latchkey_recovery".into(), flow_cookie);
        let replayed = press(&mut replay, "/signin/recovery/complete").await;
        assert_eq!(replayed.status, StatusCode::GONE, "{name}");
        assert!(replay.session_cookie().is_none(), "{name}");
    }
}

#[tokio::test]
async fn links_are_single_use_expire_and_a_resend_invalidates_the_earlier_one() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "cy@example.com").await;
        start(&mut browser, "cy@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        let first = app.link_in_latest_mail("cy@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        let second = app.link_in_latest_mail("cy@example.com").await;
        assert_ne!(first, second);
        assert_eq!(
            browser.get(&first).await.status,
            StatusCode::GONE,
            "the resend made the first link useless"
        );
        // Fifteen minutes later the second one is dead too.
        app.clock.advance(Duration::minutes(15));
        assert_eq!(browser.get(&second).await.status, StatusCode::GONE);
        let token = second.split("token=").nth(1).unwrap();
        let csrf = browser.get("/signin/recovery").await.csrf();
        assert_eq!(
            browser
                .post(
                    "/recovery/email",
                    &[("token", token), ("csrf_token", &csrf)]
                )
                .await
                .status,
            StatusCode::GONE
        );
        // A third (the last allowed) works once.
        press(&mut browser, "/signin/recovery/email").await;
        let third = app.link_in_latest_mail("cy@example.com").await;
        let confirm = browser.get(&third).await;
        let token = third.split("token=").nth(1).unwrap();
        assert_eq!(
            browser
                .post(
                    "/recovery/email",
                    &[("token", token), ("csrf_token", &confirm.csrf())]
                )
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            browser
                .post(
                    "/recovery/email",
                    &[("token", token), ("csrf_token", &confirm.csrf())]
                )
                .await
                .status,
            StatusCode::GONE
        );
    }
}

#[tokio::test]
async fn floods_of_emails_and_calls_hit_their_budgets() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "di@example.com").await;
        start(&mut browser, "di@example.com").await;
        for _ in 0..3 {
            assert_eq!(
                press(&mut browser, "/signin/recovery/email").await.status,
                StatusCode::SEE_OTHER
            );
        }
        assert_eq!(
            press(&mut browser, "/signin/recovery/email").await.status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            app.mails_to("di@example.com")
                .await
                .iter()
                .filter(|m| m
                    .subject
                    .starts_with("Verify your email address to sign in"))
                .count(),
            3
        );
        confirm_email(&app, &mut browser, "di@example.com").await;
        for _ in 0..3 {
            assert_eq!(
                press(&mut browser, "/signin/recovery/call").await.status,
                StatusCode::SEE_OTHER
            );
        }
        let refused = press(&mut browser, "/signin/recovery/call").await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert!(refused.body.contains("No more calls"));
        app.deliver().await;
        let placed = app
            .audit_events()
            .await
            .into_iter()
            .filter(|(e, o, _)| e == "recovery_call_placed" && o == "success")
            .count();
        assert_eq!(placed, 3);
        let rang = app.service.dev_calls().await.unwrap();
        assert_eq!(
            rang.len(),
            1,
            "calls superseded before the worker reached them never ring"
        );
        assert_eq!(rang[0].status, latchkey_service::store::CallStatus::Placed);
        let details: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(_, _, d)| d)
            .collect();
        assert!(details.contains(&"call_budget".to_owned()));
    }
}

#[tokio::test]
async fn wrong_digits_are_bounded_counted_and_a_new_call_does_not_reset_the_count() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "ed@example.com").await;
        start(&mut browser, "ed@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "ed@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let first_code = code_on(&browser.get("/signin/recovery").await);
        let wrong = if first_code == "000000" {
            "111111"
        } else {
            "000000"
        };
        let retry = key_on_dev_phone(&app, &mut browser, wrong).await;
        assert!(
            retry
                .body
                .contains("That code is not correct. Enter the 6 digit code")
        );
        let phone = browser.get("/dev/phone").await;
        assert!(phone.body.contains("ringing"));
        let call_id = app.service.dev_calls().await.unwrap()[0].id.clone();
        // Only the page's own form answers: not a link, a prefetch or another site's form.
        let path = format!("/dev/phone/{call_id}");
        assert_eq!(
            browser.get(&path).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(browser.post(&path, &[]).await.status, StatusCode::FORBIDDEN);
        for expected in [
            "That code is not correct. Enter",
            "no attempts left on this call",
        ] {
            let page = browser
                .submit("/password/forgot", &format!("/dev/phone/{call_id}"), &[])
                .await;
            let keyed = browser
                .post(
                    &format!("/dev/phone/{call_id}/digits"),
                    &[
                        ("digits", wrong),
                        ("attempt", &page.hidden("attempt")),
                        ("csrf_token", &page.csrf()),
                    ],
                )
                .await;
            assert!(keyed.body.contains(expected), "{expected}: {}", keyed.body);
        }
        // The call is over: even the right code on it changes nothing.
        let page = browser
            .submit("/password/forgot", &format!("/dev/phone/{call_id}"), &[])
            .await;
        assert!(page.body.contains("no longer valid"));
        let account = app
            .store
            .account_by_email(&latchkey_domain::EmailAddress::parse("ed@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        let failures = |account: latchkey_domain::AccountId| {
            let store = app.store.clone();
            async move {
                store
                    .failure_counts(account.as_str())
                    .await
                    .unwrap()
                    .iter()
                    .map(|(_, n)| n)
                    .sum::<u32>()
            }
        };
        assert_eq!(
            failures(account.id.clone()).await,
            3,
            "wrong digits count on the account"
        );
        // Try again: a new call and a new code; the old code does not work on it, and the count
        // is not reset.
        press(&mut browser, "/signin/recovery/call").await;
        let second_code = code_on(&browser.get("/signin/recovery").await);
        assert!(
            key_on_dev_phone(&app, &mut browser, &first_code)
                .await
                .body
                .contains("not correct")
                || first_code == second_code
        );
        assert!(failures(account.id.clone()).await >= 3);
        assert!(
            key_on_dev_phone(&app, &mut browser, &second_code)
                .await
                .body
                .contains("verified")
        );
    }
}

#[tokio::test]
async fn the_flow_expires_after_thirty_minutes() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "fay@example.com").await;
        start(&mut browser, "fay@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        app.clock.advance(Duration::minutes(30));
        let page = browser.get("/signin/recovery").await;
        assert_eq!(page.status, StatusCode::GONE);
        assert!(page.body.contains("Sign in again"));
    }
}

#[tokio::test]
async fn the_recovery_session_lasts_at_most_an_hour() {
    for app in TestApp::all().await {
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "hal@example.com").await;
        start(&mut browser, "hal@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "hal@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let code = code_on(&browser.get("/signin/recovery").await);
        key_on_dev_phone(&app, &mut browser, &code).await;
        press(&mut browser, "/signin/recovery/complete").await;
        for _ in 0..5 {
            app.clock.advance(Duration::minutes(12));
            browser.get("/console/security-credentials").await;
        }
        assert_eq!(
            browser
                .get("/console/security-credentials")
                .await
                .location(),
            "/signin"
        );
    }
}

/// Stands in for Twilio's REST API inside the process (the end-to-end suite uses a real
/// HTTP server speaking Twilio's protocol): hands out CallSids.
struct FakeTwilioRest(AtomicUsize);

#[async_trait]
impl VoiceCaller for FakeTwilioRest {
    async fn place_call(&self, _call: &OutgoingCall) -> Result<PlacedCall, SendError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(PlacedCall {
            provider_call_id: format!("CA{n:032}"),
        })
    }
    fn describe(&self) -> String {
        "fake Twilio REST".into()
    }
}

const TOKEN: &str = "twilio-auth-token-for-tests";

fn signed(
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
    url_base: &str,
) -> Request<Body> {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = token {
        let signature = latchkey_web::twilio_signature(token, &format!("{url_base}{path}"), &owned);
        request = request.header("x-twilio-signature", signature);
    }
    request
        .body(Body::from(serde_urlencoded::to_string(params).unwrap()))
        .unwrap()
}

#[tokio::test]
async fn twilio_webhooks_are_signed_bound_to_the_placed_call_and_one_shot() {
    for backend in latchkey_test_support::backends().await {
        let app = TestApp::with_voice(
            backend,
            Arc::new(FakeTwilioRest(AtomicUsize::new(1))),
            Some(TOKEN.to_owned()),
        )
        .await;
        let name = app.name;
        let mut browser = app.browser();
        assert_eq!(
            browser.get("/dev/phone").await.status,
            StatusCode::NOT_FOUND,
            "{name}: no built-in phone with Twilio"
        );
        account_with_device(&app, &mut browser, "ivy@example.com").await;
        start(&mut browser, "ivy@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "ivy@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let code = code_on(&browser.get("/signin/recovery").await);
        app.deliver().await;
        let call = app
            .store
            .call(&{
                let flows = app.service.store().recent_audit(None, 100).await.unwrap();
                flows
                    .into_iter()
                    .find(|r| r.event == "recovery_call_placed")
                    .map(|r| latchkey_domain::CallId::new(r.detail))
                    .unwrap()
            })
            .await
            .unwrap()
            .unwrap();
        let sid = call.provider_call_id.clone().unwrap();
        assert!(sid.starts_with("CA"), "{name}");
        let base = crate::harness::ORIGIN;
        let voice = format!("/twilio/voice/{}", call.id);
        let gather = format!("/twilio/gather/{}?attempt=0", call.id);
        let retry_gather = format!("/twilio/gather/{}?attempt=1", call.id);

        // Unsigned, forged, signed with another token, or signed over a Host-derived URL: 403.
        assert_eq!(
            browser
                .send(signed(&voice, &[("CallSid", &sid)], None, base))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
        assert_eq!(
            browser
                .send(signed(
                    &voice,
                    &[("CallSid", &sid)],
                    Some("wrong-token"),
                    base
                ))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
        assert_eq!(
            browser
                .send(signed(
                    &voice,
                    &[("CallSid", &sid)],
                    Some(TOKEN),
                    "http://evil.example"
                ))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
        for unsigned in [&gather, &format!("/twilio/status/{}", call.id)] {
            assert_eq!(
                browser
                    .send(signed(unsigned, &[("CallSid", &sid)], None, base))
                    .await
                    .status,
                StatusCode::FORBIDDEN,
                "{name}: {unsigned}"
            );
        }
        let mut tampered = signed(
            &gather,
            &[("CallSid", &sid), ("Digits", "000000")],
            Some(TOKEN),
            base,
        );
        *tampered.body_mut() = Body::from(format!("CallSid={sid}&Digits={code}"));
        assert_eq!(
            browser.send(tampered).await.status,
            StatusCode::FORBIDDEN,
            "{name}: a changed parameter breaks the signature"
        );

        let answered = browser
            .send(signed(
                &voice,
                &[("CallSid", &sid), ("To", "+442079460958")],
                Some(TOKEN),
                base,
            ))
            .await;
        assert_eq!(answered.status, StatusCode::OK, "{name}");
        assert!(
            answered
                .body
                .contains("<Gather input=\"dtmf\" numDigits=\"6\""),
            "{name}: {}",
            answered.body
        );
        assert!(
            answered
                .body
                .contains(&format!("action=\"{base}{gather}\"")),
            "{name}"
        );

        // Digits arriving with another CallSid (an inbound call, another flow's call) or for an
        // unknown call id change nothing.
        let other = browser
            .send(signed(
                &gather,
                &[
                    ("CallSid", "CA99999999999999999999999999999999"),
                    ("Digits", &code),
                ],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(other.body.contains("no longer valid"), "{name}");
        let unknown = browser
            .send(signed(
                "/twilio/gather/call-unknown",
                &[("CallSid", &sid), ("Digits", &code)],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(unknown.body.contains("no longer valid"), "{name}");
        assert!(
            !browser
                .get("/signin/recovery")
                .await
                .body
                .contains("Sign in to the console</button>\n    </form>"),
            "{name}"
        );

        // Webhooks about another number (To), from another number (From), or with no
        // prompt number change nothing.
        let elsewhere = browser
            .send(signed(
                &voice,
                &[("CallSid", &sid), ("To", "+14155552671")],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(elsewhere.body.contains("no longer valid"), "{name}");
        let foreign = browser
            .send(signed(
                &gather,
                &[
                    ("CallSid", &sid),
                    ("Digits", &code),
                    ("From", "+14155550199"),
                ],
                Some(TOKEN),
                base,
            ))
            .await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{name}");
        let unnumbered = browser
            .send(signed(
                &format!("/twilio/gather/{}", call.id),
                &[("CallSid", &sid), ("Digits", &code)],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(unnumbered.body.contains("no longer valid"), "{name}");

        // A wrong entry, then the same webhook again (Twilio retrying, or a replay): counted
        // once, and the retry prompt names the next attempt.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..2 {
            let retried = browser
                .send(signed(
                    &gather,
                    &[
                        ("CallSid", &sid),
                        ("Digits", wrong),
                        ("From", crate::harness::TWILIO_FROM),
                        ("To", "+442079460958"),
                    ],
                    Some(TOKEN),
                    base,
                ))
                .await;
            assert!(
                retried.body.contains("not correct"),
                "{name}: {}",
                retried.body
            );
            assert!(
                retried.body.contains(&format!(
                    "action=\"{base}{}\"",
                    retry_gather.replace('&', "&amp;")
                )),
                "{name}: {}",
                retried.body
            );
        }
        assert_eq!(
            app.store
                .call(&call.id)
                .await
                .unwrap()
                .unwrap()
                .digit_attempts,
            1,
            "{name}: the duplicate was not counted"
        );

        let verified = browser
            .send(signed(
                &retry_gather,
                &[("CallSid", &sid), ("Digits", &code)],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(
            verified.body.contains("Your phone number is verified"),
            "{name}: {}",
            verified.body
        );
        // The same webhook again (a replay) is refused and changes nothing.
        let replayed = browser
            .send(signed(
                &retry_gather,
                &[("CallSid", &sid), ("Digits", &code)],
                Some(TOKEN),
                base,
            ))
            .await;
        assert!(replayed.body.contains("no longer valid"), "{name}");
        let status = browser
            .send(signed(
                &format!("/twilio/status/{}", call.id),
                &[("CallSid", &sid), ("CallStatus", "completed")],
                Some(TOKEN),
                base,
            ))
            .await;
        assert_eq!(status.status, StatusCode::NO_CONTENT, "{name}");
        assert_eq!(
            press(&mut browser, "/signin/recovery/complete")
                .await
                .location(),
            "/console/security-credentials",
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_same_flow_over_json() {
    let app = TestApp::sqlite().await;
    let mut browser = app.browser();
    let secret = account_with_device(&app, &mut browser, "jo@example.com").await;
    let _ = secret;
    let mut client = app.browser();
    let pending = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "jo@example.com", "password": PASSWORD})),
        )
        .await;
    let attempt = pending.json()["attempt_token"].as_str().unwrap().to_owned();
    let started = client
        .api(
            "POST",
            "/api/v1/recovery",
            None,
            Some(json!({"attempt_token": attempt})),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let flow = json!({"recovery_token": started.json()["recovery_token"]});
    assert_eq!(
        client
            .api("POST", "/api/v1/recovery/call", None, Some(flow.clone()))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        client
            .api("POST", "/api/v1/recovery/email", None, Some(flow.clone()))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let link = app.link_in_latest_mail("jo@example.com").await;
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(
        client
            .api(
                "POST",
                "/api/v1/recovery/verify-email",
                None,
                Some(json!({"token": token}))
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client
            .api("POST", "/api/v1/recovery/status", None, Some(flow.clone()))
            .await
            .json()["state"],
        "email_verified"
    );
    let call = client
        .api("POST", "/api/v1/recovery/call", None, Some(flow.clone()))
        .await;
    assert_eq!(call.status, StatusCode::CREATED);
    let code = call.json()["code"].as_str().unwrap().to_owned();
    key_on_dev_phone(&app, &mut browser, &code).await;
    let status = client
        .api("POST", "/api/v1/recovery/status", None, Some(flow.clone()))
        .await
        .json();
    assert_eq!(status["state"], "phone_verified");
    assert_eq!(status["call_status"], "verified");
    let session = client
        .api(
            "POST",
            "/api/v1/recovery/complete",
            None,
            Some(flow.clone()),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    let token = session.json()["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        client
            .api("GET", "/api/v1/mfa/devices", Some(&token), None)
            .await
            .json()["devices"][0]["name"],
        "Lost phone"
    );
    assert_eq!(
        client
            .api("POST", "/api/v1/recovery/complete", None, Some(flow))
            .await
            .status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn the_recovery_session_can_change_the_password_and_other_sessions_end() {
    for app in TestApp::all().await {
        let name = app.name;
        let mut browser = app.browser();
        account_with_device(&app, &mut browser, "kim@example.com").await;
        start(&mut browser, "kim@example.com").await;
        press(&mut browser, "/signin/recovery/email").await;
        confirm_email(&app, &mut browser, "kim@example.com").await;
        press(&mut browser, "/signin/recovery/call").await;
        let code = code_on(&browser.get("/signin/recovery").await);
        key_on_dev_phone(&app, &mut browser, &code).await;
        press(&mut browser, "/signin/recovery/complete").await;

        let form = browser.get("/console/password").await;
        assert!(form.body.contains("Current password"), "{name}");
        let wrong = browser
            .post(
                "/console/password",
                &[
                    ("current_password", "not-it-at-all"),
                    ("password", "fresh-harbor-signal-3"),
                    ("confirm_password", "fresh-harbor-signal-3"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            wrong.body.contains("The current password is not correct"),
            "{name}"
        );
        let done = browser
            .post(
                "/console/password",
                &[
                    ("current_password", PASSWORD),
                    ("password", "fresh-harbor-signal-3"),
                    ("confirm_password", "fresh-harbor-signal-3"),
                    ("csrf_token", &form.csrf()),
                ],
            )
            .await;
        assert_eq!(
            done.location(),
            "/console/security-credentials?done=password-changed",
            "{name}: {}",
            done.body
        );
        assert_eq!(
            browser.get("/console/security-credentials").await.status,
            StatusCode::OK,
            "{name}: this session stays"
        );
        let mails = app.mails_to("kim@example.com").await;
        assert!(
            mails
                .iter()
                .any(|m| m.subject == "Your latchkey password was changed"),
            "{name}"
        );
        let account = app
            .store
            .account_by_email(&latchkey_domain::EmailAddress::parse("kim@example.com").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(account.password_hash.starts_with("$argon2id$"), "{name}");
        let mut fresh = app.browser();
        assert_eq!(
            fresh.sign_in("kim@example.com", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED,
            "{name}: old password refused"
        );
    }
}
