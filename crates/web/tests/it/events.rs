//! Event history: the owner reads their own account's audit records, newest first, filtered
//! by type and time and a page at a time, on the console and over JSON.

use axum::http::StatusCode;
use serde_json::{Value, json};

use latchkey_test_support::fixtures::audit_record;

use crate::harness::{PASSWORD, TestApp};

async fn bearer(app: &TestApp, email: &str) -> String {
    let mut client = app.browser();
    let signed_in = client
        .api(
            "POST",
            "/api/v1/sessions",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{}", signed_in.body);
    signed_in.json()["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_owner_reads_their_own_history_newest_first_filtered_and_paged() {
    for app in TestApp::all().await {
        let name = app.name;
        app.active_account("ann@example.com").await;
        app.active_account("bob@example.com").await;
        let mut browser = app.browser();
        let refused = browser.sign_in("ann@example.com", "not the password").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{name}");
        let signed_in = browser.sign_in("ann@example.com", PASSWORD).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{name}");
        bearer(&app, "bob@example.com").await;
        let token = bearer(&app, "ann@example.com").await;
        let mut client = app.browser();

        let all = client
            .api("GET", "/api/v1/events", Some(&token), None)
            .await;
        assert_eq!(all.status, StatusCode::OK, "{name}: {} {token}", all.body);
        let all = all.json();
        // Ann's alone (Bob's sign-in is not here), newest first.
        assert_eq!(
            types(&all),
            [
                "sign_in success",
                "sign_in success",
                "sign_in failure",
                "account_created_by_operator success"
            ],
            "{name}: {all}"
        );
        let events = all["events"].as_array().unwrap();
        assert_eq!(events[2]["client_address"], "127.0.0.1", "{name}");
        assert!(!events[2]["detail"].as_str().unwrap().is_empty(), "{name}");
        assert_eq!(all["older_before"], Value::Null, "{name}");

        let only = client
            .api(
                "GET",
                "/api/v1/events?type=account_created_by_operator,password_changed",
                Some(&token),
                None,
            )
            .await
            .json();
        assert_eq!(
            types(&only),
            ["account_created_by_operator success"],
            "{name}"
        );
        let later = client
            .api("GET", "/api/v1/events?since=1800000001", Some(&token), None)
            .await
            .json();
        assert_eq!(
            types(&later),
            Vec::<String>::new(),
            "{name}: the clock stands at T0"
        );
        let earlier = client
            .api("GET", "/api/v1/events?until=1800000001", Some(&token), None)
            .await
            .json();
        assert_eq!(types(&earlier).len(), 4, "{name}");

        // A page at a time, each continuing where the last ended.
        let mut seen = Vec::new();
        let mut path = "/api/v1/events?limit=3".to_owned();
        loop {
            let page = client.api("GET", &path, Some(&token), None).await.json();
            seen.extend(types(&page));
            match page["older_before"].as_i64() {
                Some(before) => path = format!("/api/v1/events?limit=3&before={before}"),
                None => break,
            }
        }
        assert_eq!(seen, types(&all), "{name}: pages add up to the whole");

        // Bad filters are named, field by field.
        let bad = client
            .api(
                "GET",
                "/api/v1/events?type=sign_in,mfa_activated&since=yesterday&limit=500",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let fields: Vec<_> = bad.json()["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, ["type", "since", "limit"], "{name}: {}", bad.body);
        let many = format!("/api/v1/events?type={}", ["nonsense"; 200].join(","));
        let many = client.api("GET", &many, Some(&token), None).await;
        assert_eq!(
            many.json()["error"]["fields"].as_array().unwrap().len(),
            1,
            "{name}: one problem, however many unknown names"
        );
        let repeated = client
            .api(
                "GET",
                &format!("/api/v1/events?type={}", ["sign_in"; 200].join(",")),
                Some(&token),
                None,
            )
            .await
            .json();
        assert_eq!(types(&repeated).len(), 3, "{name}");
        let anonymous = client.api("GET", "/api/v1/events", None, None).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{name}");

        // The console page: the same events in words.
        let page = browser.get("/console/events").await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert_eq!(page.body.matches("<td>Signed in</td>").count(), 3, "{name}");
        assert_eq!(
            page.body.matches("<strong>Refused</strong>").count(),
            1,
            "{name}"
        );
        assert!(
            page.body.contains("Account created by the operator"),
            "{name}"
        );
        let filtered = browser
            .get("/console/events?type=account_created_by_operator&since=2027-01-15&until=2027-01-15")
            .await;
        assert_eq!(
            filtered.body.matches("<td>Signed in</td>").count(),
            0,
            "{name}"
        );
        assert!(
            filtered.body.contains("Account created by the operator"),
            "{name}"
        );
        let nothing = browser.get("/console/events?until=2027-01-14").await;
        assert!(
            nothing.body.contains("No events match this filter."),
            "{name}"
        );
        let wrong = browser.get("/console/events?since=15/01/2027").await;
        assert!(
            wrong.body.contains("Enter a date such as 2026-11-30."),
            "{name}: {}",
            wrong.body
        );
        let twice = browser
            .get("/console/events?type=sign_in&type=sign_out")
            .await;
        assert!(
            twice
                .body
                .contains("This filter could not be read; showing every event."),
            "{name}"
        );
        let credentials = browser.get("/console/security-credentials").await;
        assert!(
            credentials.body.contains("href=\"/console/events\""),
            "{name}"
        );

        let signed_out = app.browser().get("/console/events").await;
        assert_eq!(signed_out.status, StatusCode::SEE_OTHER, "{name}");
    }
}

#[tokio::test]
async fn the_console_pages_back_through_older_events_keeping_the_filter() {
    let app = TestApp::sqlite().await;
    let id = app.active_account("cy@example.com").await;
    for _ in 0..52 {
        app.store
            .append_audit(&audit_record(Some(&id), "sign_in"))
            .await
            .unwrap();
    }
    let mut browser = app.browser();
    let first = browser.sign_in("cy@example.com", PASSWORD).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let page = browser.get("/console/events?type=sign_in").await;
    assert_eq!(page.body.matches("<tr><td>").count(), 50);
    let older = page
        .body
        .split("href=\"")
        .find(|s| s.starts_with("/console/events?type=sign_in&#38;before="))
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("an Older events link keeping the filter: {}", page.body))
        .replace("&#38;", "&");
    let next = browser.get(&older).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(next.body.matches("<tr><td>").count(), 3, "{}", next.body);
    assert!(!next.body.contains("Older events"));
}
