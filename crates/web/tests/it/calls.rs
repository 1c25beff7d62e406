//! Verification calls as a toll fraudster or a nuisance caller meets them: numbers latchkey
//! does not call, budgets per number and per network, and sign-up floods that must not use up
//! the calls owners need for recovery.

use axum::http::StatusCode;
use latchkey_domain::calls::Budget;
use latchkey_domain::{Duration, EmailAddress};
use serde_json::json;

use crate::harness::{Browser, PASSWORD, TestApp};

/// Signs up over the API and follows the emailed link; returns the token that asks for the
/// phone call.
async fn sign_up_to_the_phone_step(
    app: &TestApp,
    client: &mut Browser,
    email: &str,
    phone: &str,
) -> String {
    let created = client
        .api(
            "POST",
            "/api/v1/accounts",
            None,
            Some(json!({"email": email, "account_name": "Acme", "password": PASSWORD, "phone": phone})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let link = app.link_in_latest_mail(email).await;
    let token = link.split("token=").nth(1).unwrap();
    let verified = client
        .api(
            "POST",
            "/api/v1/accounts/verify-email",
            None,
            Some(json!({"token": token})),
        )
        .await;
    verified.json()["sign_up_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ask_for_call(client: &mut Browser, sign_up_token: &str) -> crate::harness::Page {
    client
        .api(
            "POST",
            "/api/v1/accounts/phone/call",
            None,
            Some(json!({"sign_up_token": sign_up_token})),
        )
        .await
}

#[tokio::test]
async fn sign_up_refuses_numbers_outside_the_allowed_countries_and_premium_numbers() {
    for backend in latchkey_test_support::backends().await {
        let app = TestApp::with_service_config(backend, |config| {
            config.calls.allowed_regions = Some(vec!["GB".to_owned()]);
        })
        .await;
        let name = app.name;
        let mut client = app.browser();
        for (phone, reason) in [
            (
                "+1 415 555 2671",
                "does not call numbers in this country (it calls numbers in GB)",
            ),
            (
                "+44 909 879 0000",
                "does not call premium-rate or shared-cost numbers",
            ),
        ] {
            let refused = client
                .api(
                    "POST",
                    "/api/v1/accounts",
                    None,
                    Some(json!({"email": "zed@example.com", "account_name": "Acme", "password": PASSWORD, "phone": phone})),
                )
                .await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
            assert_eq!(refused.json()["error"]["fields"][0]["field"], "phone");
            assert!(refused.body.contains(reason), "{name}: {}", refused.body);
        }
        assert!(
            app.store
                .account_by_email(&EmailAddress::parse("zed@example.com").unwrap())
                .await
                .unwrap()
                .is_none(),
            "{name}: nothing created"
        );
        // The console says the same next to the field.
        let mut browser = app.browser();
        let page = browser
            .submit(
                "/signup",
                "/signup",
                &[
                    ("email", "zed@example.com"),
                    ("account_name", "Acme"),
                    ("password", PASSWORD),
                    ("phone", "+1 415 555 2671"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(page.body.contains("it calls numbers in GB"), "{name}");
    }
}

#[tokio::test]
async fn sign_up_calls_are_bounded_per_number_and_a_sign_up_flood_cannot_starve_recovery() {
    for backend in latchkey_test_support::backends().await {
        let app = TestApp::with_service_config(backend, |config| {
            config.calls.sign_up.per_destination = Budget::new(2, Duration::hours(24));
            config.calls.sign_up.server = Budget::new(3, Duration::hours(1));
        })
        .await;
        let name = app.name;
        // An owner who will need a recovery call later.
        let mut owner = app.browser();
        crate::recovery::account_with_device(&app, &mut owner, "own@example.com").await;

        // Someone signs up again and again with one victim's number: two calls, then none.
        let mut client = app.browser();
        for (n, expected) in [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .into_iter()
        .enumerate()
        {
            let token = sign_up_to_the_phone_step(
                &app,
                &mut client,
                &format!("v{n}@example.com"),
                "+44 20 7946 0001",
            )
            .await;
            let call = ask_for_call(&mut client, &token).await;
            assert_eq!(call.status, expected, "{name}: call {n}: {}", call.body);
            if expected == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(call.json()["error"]["code"], "call_budget", "{name}");
            }
        }
        // More sign-ups, other numbers: the server's sign-up budget runs out.
        let token =
            sign_up_to_the_phone_step(&app, &mut client, "w1@example.com", "+44 20 7946 0002")
                .await;
        assert_eq!(
            ask_for_call(&mut client, &token).await.status,
            StatusCode::CREATED
        );
        let token =
            sign_up_to_the_phone_step(&app, &mut client, "w2@example.com", "+44 20 7946 0003")
                .await;
        assert_eq!(
            ask_for_call(&mut client, &token).await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{name}"
        );
        let details: Vec<String> = app
            .audit_events()
            .await
            .into_iter()
            .map(|(_, _, d)| d)
            .collect();
        assert!(
            details.contains(&"call_budget_destination".to_owned()),
            "{name}"
        );
        assert!(details.contains(&"call_budget_server".to_owned()), "{name}");

        // The owner's recovery call still goes out: recovery has budgets of its own.
        crate::recovery::start(&mut owner, "own@example.com").await;
        crate::recovery::press(&mut owner, "/signin/recovery/email").await;
        crate::recovery::confirm_email(&app, &mut owner, "own@example.com").await;
        let called = crate::recovery::press(&mut owner, "/signin/recovery/call").await;
        assert_eq!(
            called.status,
            StatusCode::SEE_OTHER,
            "{name}: {}",
            called.body
        );
        let page = owner.get("/signin/recovery").await;
        assert!(!crate::recovery::code_on(&page).is_empty(), "{name}");
    }
}

/// Waits until the worker is dialling `phone`; a worker that found nothing to dial fails the
/// test instead of hanging it.
async fn dialled(phone: &SlowPhone) {
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        phone.dialling.notified(),
    )
    .await
    .expect("the worker dialled the phone");
}

/// A phone whose provider answers only when the test lets it: a new call can be asked for
/// while the previous one is being dialled.
struct SlowPhone {
    dialling: tokio::sync::Notify,
    release: tokio::sync::Notify,
    rang: std::sync::Mutex<Vec<String>>,
    next: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl latchkey_service::VoiceCaller for SlowPhone {
    async fn place_call(
        &self,
        call: &latchkey_service::OutgoingCall,
    ) -> Result<latchkey_service::PlacedCall, latchkey_service::SendError> {
        self.rang.lock().unwrap().push(call.to.clone());
        self.dialling.notify_one();
        self.release.notified().await;
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(latchkey_service::PlacedCall {
            provider_call_id: format!("CA{n:032}"),
        })
    }

    fn describe(&self) -> String {
        "slow phone".into()
    }
}

/// A call superseded while it is being dialled still rang: it counts against the budgets,
/// so asking for a new call each time the last one starts ringing gets nowhere.
#[tokio::test]
async fn calls_superseded_while_ringing_still_count() {
    for backend in latchkey_test_support::backends().await {
        let phone = std::sync::Arc::new(SlowPhone {
            dialling: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
            rang: std::sync::Mutex::new(Vec::new()),
            next: std::sync::atomic::AtomicUsize::new(1),
        });
        let app = TestApp::with_voice(backend, phone.clone(), None).await;
        let name = app.name;
        let mut client = app.browser();
        let token =
            sign_up_to_the_phone_step(&app, &mut client, "tom@example.com", "+44 20 7946 0777")
                .await;
        assert_eq!(
            ask_for_call(&mut client, &token).await.status,
            StatusCode::CREATED
        );
        let mut answers = Vec::new();
        for _ in 0..6 {
            let (_, again) = tokio::join!(app.deliver(), async {
                dialled(&phone).await;
                let again = ask_for_call(&mut client.clone(), &token).await;
                phone.release.notify_one();
                again
            });
            answers.push(again.status);
            if again.status != StatusCode::CREATED {
                break;
            }
        }
        let rang = phone.rang.lock().unwrap().len();
        let budget = latchkey_domain::calls::CallPolicy::default()
            .sign_up
            .per_account
            .max as usize;
        assert!(
            rang <= budget,
            "{name}: {rang} calls rang, budget {budget}: {answers:?}"
        );
        assert_eq!(
            answers.last(),
            Some(&StatusCode::TOO_MANY_REQUESTS),
            "{name}: {answers:?}"
        );
    }
}

/// While the provider is being asked to ring (the call is claimed, not yet placed), the page
/// keeps refreshing itself: it must not stop waiting half-way through a call.
#[tokio::test]
async fn the_phone_page_keeps_waiting_while_the_call_is_dialled() {
    let phone = std::sync::Arc::new(SlowPhone {
        dialling: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
        rang: std::sync::Mutex::new(Vec::new()),
        next: std::sync::atomic::AtomicUsize::new(1),
    });
    let app = TestApp::with_voice(
        latchkey_test_support::sqlite_backend().await,
        phone.clone(),
        None,
    )
    .await;
    let mut browser = app.browser();
    crate::recovery::account_with_device(&app, &mut browser, "wes@example.com").await;
    crate::recovery::start(&mut browser, "wes@example.com").await;
    crate::recovery::press(&mut browser, "/signin/recovery/email").await;
    crate::recovery::confirm_email(&app, &mut browser, "wes@example.com").await;
    crate::recovery::press(&mut browser, "/signin/recovery/call").await;
    let (_, page) = tokio::join!(app.deliver(), async {
        dialled(&phone).await;
        let page = browser.clone().get("/signin/recovery").await;
        phone.release.notify_one();
        page
    });
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "{}",
        page.body
    );
}
