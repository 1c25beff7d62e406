//! A full hashing queue as clients meet it: the console and the API answer 503 with
//! `Retry-After` at once, nothing is checked, counted or audited for the refused attempts,
//! and a returning user's known device is still served ahead of the queue.

use axum::http::StatusCode;
use latchkey_service::QueueLimits;
use serde_json::json;

use crate::harness::{PASSWORD, TestApp};

/// A refusal must not wait for the held slot: were the check queued instead, this fails
/// (after a generous bound) rather than hanging the suite.
async fn at_once<T>(answer: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), answer)
        .await
        .expect("answered at once, not queued behind the held slot")
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_and_a_known_device_still_gets_in() {
    // One slot; one check may wait in each queue.
    let app = TestApp::with_hash_queue(
        QueueLimits {
            normal_per_slot: 1,
            known_device_per_slot: 1,
        },
        std::time::Duration::ZERO,
    )
    .await;
    let ann = app.active_account("ann@example.com").await;
    let mut owner = app.browser();
    let first = owner
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "ann@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let device_token = first.json()["device_token"].as_str().unwrap().to_owned();

    let held = app.hasher.hold_slot().await;
    // A new device's check waits in the normal queue, which is then full.
    let queued = tokio::spawn({
        let mut client = app.browser();
        async move {
            client
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "ann@example.com", "password": "wrong-guess-123"})),
                )
                .await
        }
    });
    at_once(async {
        while app.hasher.queue_depth().normal < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    let mut client = app.browser();
    let api = at_once(client.api(
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"email": "ann@example.com", "password": PASSWORD})),
    ))
    .await;
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE, "{}", api.body);
    assert_eq!(api.headers["retry-after"], "2");
    assert_eq!(api.json()["error"]["code"], "overloaded");
    assert!(
        api.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Nothing was checked or counted"),
        "{}",
        api.body
    );

    let mut browser = app.browser();
    let page = at_once(browser.sign_in("ann@example.com", PASSWORD)).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert_eq!(page.headers["retry-after"], "2");
    assert!(
        page.body.contains("Busy") && page.body.contains("wait 2 seconds"),
        "{}",
        page.body
    );
    assert_eq!(
        app.hasher.queue_depth().normal,
        1,
        "the refusals queued nothing"
    );

    // The owner's known device is admitted although the normal queue is full, and is served
    // first when the slot frees.
    let known = tokio::spawn(async move {
        owner
            .api(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({
                    "email": "ann@example.com",
                    "password": PASSWORD,
                    "device_token": device_token,
                })),
            )
            .await
    });
    at_once(async {
        while app.hasher.queue_depth().known_device < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    drop(held);
    let known = known.await.unwrap();
    assert_eq!(known.status, StatusCode::CREATED, "{}", known.body);
    let queued = queued.await.unwrap();
    assert_eq!(queued.status, StatusCode::UNAUTHORIZED, "{}", queued.body);

    let depth = app.hasher.queue_depth();
    assert_eq!(
        (depth.free_slots, depth.known_device, depth.normal),
        (1, 0, 0),
        "every slot came back"
    );
    // Only the three checks that ran are on record (the last two in either order: each
    // writes once its hash is done); the refused two left no trace.
    let mut sign_ins: Vec<_> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|(event, _, _)| event == "sign_in")
        .map(|(_, outcome, detail)| format!("{outcome} {detail}"))
        .collect();
    sign_ins.sort();
    assert_eq!(
        sign_ins,
        [
            "failure wrong_password",
            "success password",
            "success password"
        ]
    );
    let counted: u32 = app
        .store
        .failure_counts(ann.as_str())
        .await
        .unwrap()
        .iter()
        .map(|(_, failures)| failures)
        .sum();
    assert_eq!(
        counted, 1,
        "only the wrong password that was checked counts"
    );
}

#[tokio::test]
async fn an_overload_refusal_is_held_like_a_throttled_one() {
    let pause = std::time::Duration::from_millis(500);
    // No queue at all: with the one slot held, every password check is refused.
    let app = TestApp::with_hash_queue(
        QueueLimits {
            normal_per_slot: 0,
            known_device_per_slot: 0,
        },
        pause,
    )
    .await;
    let _held = app.hasher.hold_slot().await;
    let mut client = app.browser();
    let started = std::time::Instant::now();
    let refused = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": "nobody@example.com", "password": "guess-guess-guess"})),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(started.elapsed() >= pause, "the refusal was held");
}

/// The owner's `This wasn't me` hashes a password nobody knows. With the hashing queue full
/// of a flood's checks it waits ahead of them, as a known device does, and is never refused
/// with them.
#[tokio::test]
async fn this_wasnt_me_goes_ahead_of_a_full_queue() {
    let app = TestApp::with_hash_queue(
        QueueLimits {
            normal_per_slot: 1,
            known_device_per_slot: 1,
        },
        std::time::Duration::ZERO,
    )
    .await;
    let mut owner = app.browser();
    crate::recovery::account_with_device(&app, &mut owner, "ann@example.com").await;
    let mut intruder = app.browser();
    crate::recovery::start(&mut intruder, "ann@example.com").await;
    let link =
        crate::recovery_undo::report_link(&app, "ann@example.com", "started to sign in").await;

    let held = app.hasher.hold_slot().await;
    let flood = tokio::spawn({
        let mut client = app.browser();
        async move {
            client
                .api(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "bob@example.com", "password": "wrong-guess-123"})),
                )
                .await
        }
    });
    at_once(async {
        while app.hasher.queue_depth().normal < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let report =
        tokio::spawn(
            async move { crate::recovery_undo::press_this_wasnt_me(&mut owner, &link).await },
        );
    // Queued ahead of the flood, not refused with it.
    at_once(async {
        while app.hasher.queue_depth().known_device < 1 {
            assert!(!report.is_finished(), "answered while the slot was held");
            tokio::task::yield_now().await;
        }
    })
    .await;
    drop(held);
    let stopped = report.await.unwrap();
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    assert_eq!(flood.await.unwrap().status, StatusCode::UNAUTHORIZED);
}

/// `This wasn't me` for a contact change hashes a throwaway password, but only for a live
/// link: made-up tokens, which anyone can post, cost a lookup and never a hashing slot.
#[tokio::test]
async fn a_dead_contact_undo_link_never_takes_a_hashing_slot() {
    let app = TestApp::with_hash_queue(
        QueueLimits {
            normal_per_slot: 0,
            known_device_per_slot: 0,
        },
        std::time::Duration::ZERO,
    )
    .await;
    let _held = app.hasher.hold_slot().await;
    let mut client = app.browser();
    let csrf = client.get("/signin").await.csrf();
    // Well formed, so only the database can tell it is no link latchkey sent.
    let made_up = latchkey_service::SecretToken::generate();
    let answer = client
        .post(
            "/account/contact/revert",
            &[("token", made_up.expose()), ("csrf_token", &csrf)],
        )
        .await;
    // With every slot held and no queue, a hash would have been refused with 503.
    assert_eq!(answer.status, StatusCode::GONE, "{}", answer.body);
}
