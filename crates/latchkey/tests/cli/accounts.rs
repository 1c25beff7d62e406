//! `latchkey account list`, `account show`, `account disable` and `account enable` on the real
//! binary, with sessions issued through the store on the same data directory and the owner's
//! notices opened from the outbox.

use latchkey_domain::Duration;
use latchkey_domain::session::SessionKind;
use latchkey_service::store::*;
use latchkey_service::{Clock, SecretToken, SystemClock};
use latchkey_test_support::TempDir;

use super::break_glass::{EMAIL, account, audit, audit_log, notice, run, text};
use super::create;

fn signed_in(
    runtime: &tokio::runtime::Runtime,
    store: &std::sync::Arc<dyn Store>,
    id: &latchkey_domain::AccountId,
) -> Result<SessionStart, StoreError> {
    let now = SystemClock.now();
    let session = NewSession {
        token_hash: SecretToken::generate().hash(),
        public_id: latchkey_service::secrets::new_id("ses"),
        account_id: id.clone(),
        kind: SessionKind::Full,
        mfa_device_id: None,
        created_at: now,
        expires_at: now + Duration::hours(12),
        client_addr: "198.51.100.23".to_owned(),
        user_agent: "Firefox/140".to_owned(),
        replaces: None,
    };
    runtime.block_on(async {
        let generation = store
            .account_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .password_generation;
        store
            .start_session(&session, generation, "*", &audit(id, "sign_in"))
            .await
    })
}

#[test]
fn list_and_show_give_the_operator_each_account_with_contacts_masked() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    assert!(
        create(&dir, "adele@example.com", "violet-anchor-tundra-42")
            .status
            .success()
    );
    assert_eq!(
        signed_in(&runtime, &store, &id).unwrap(),
        SessionStart::Started
    );

    let listed = run(&dir, &["account", "list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let lines: Vec<String> = text(&listed.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("adele@example.com"),
        "email order: {lines:?}"
    );
    assert!(lines[1].starts_with(id.as_str()) && lines[1].contains(EMAIL));
    assert!(lines[1].contains("active") && lines[1].contains("1 live session(s)"));
    assert!(lines[0].contains("last sign-in never"), "{lines:?}");

    let first = run(&dir, &["account", "list", "--limit", "1", "--json"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let page: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(page["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(page["accounts"][0]["email"], "adele@example.com");
    assert_eq!(page["next_after"], "adele@example.com");
    let next = run(
        &dir,
        &["account", "list", "--after", "adele@example.com", "--json"],
    );
    let page: serde_json::Value = serde_json::from_slice(&next.stdout).unwrap();
    assert_eq!(page["accounts"][0]["id"], id.as_str());
    assert_eq!(page["accounts"][0]["live_sessions"], 1);
    assert_eq!(page["next_after"], serde_json::Value::Null);

    let shown = run(&dir, &["account", "show", EMAIL]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    assert!(
        !shown.contains("2079460958"),
        "the phone is masked: {shown}"
    );
    assert!(!shown.contains(EMAIL), "the address is masked: {shown}");
    assert!(shown.contains("+**********58"), "{shown}");
    assert!(shown.contains("Live sessions (1):"), "{shown}");
    assert!(
        shown.contains("198.51.100.23") && shown.contains("Firefox/140"),
        "{shown}"
    );
    assert!(shown.contains("MFA devices (0):"), "{shown}");
    assert!(shown.contains("account_created_by_operator"), "{shown}");

    let json = run(&dir, &["account", "show", EMAIL, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(json["phone"], "+**********58");
    assert_eq!(json["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(json["disabled_at"], serde_json::Value::Null);

    let unknown = run(&dir, &["account", "show", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("no account has this email address"));
}

#[test]
fn disable_signs_out_refuses_sign_in_until_enable_and_tells_the_owner() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    assert_eq!(
        signed_in(&runtime, &store, &id).unwrap(),
        SessionStart::Started
    );

    let missing = run(&dir, &["account", "disable", EMAIL]);
    assert!(!missing.status.success(), "--reason is required");

    let disabled = run(
        &dir,
        &[
            "account",
            "disable",
            EMAIL,
            "--reason",
            "ticket 7: laptop stolen",
        ],
    );
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert!(
        text(&disabled.stdout).contains("signed out 1 session"),
        "{}",
        text(&disabled.stdout)
    );
    let now = SystemClock.now();
    assert!(
        runtime
            .block_on(store.account_sessions(&id, now))
            .unwrap()
            .is_empty()
    );
    assert!(
        matches!(
            signed_in(&runtime, &store, &id),
            Err(StoreError::AccountDisabled)
        ),
        "no session is issued while disabled"
    );
    let mail = runtime.block_on(notice(&dir, &store, EMAIL, "disabled"));
    assert!(
        mail.text.contains("ticket 7: laptop stolen"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("disabled your account"), "{}", mail.text);
    let log = audit_log(&dir);
    assert!(log.contains("operator_disabled_account"), "{log}");
    assert!(log.contains("reason: ticket 7: laptop stolen"), "{log}");

    let shown = text(&run(&dir, &["account", "show", EMAIL]).stdout);
    assert!(shown.contains("Status:   disabled since"), "{shown}");

    let again = run(&dir, &["account", "disable", EMAIL, "--reason", "again"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("disabled already"),
        "{}",
        text(&again.stderr)
    );

    let enabled = run(
        &dir,
        &["account", "enable", EMAIL, "--reason", "ticket 7 closed"],
    );
    assert!(enabled.status.success(), "{}", text(&enabled.stderr));
    assert_eq!(
        signed_in(&runtime, &store, &id).unwrap(),
        SessionStart::Started
    );
    let mail = runtime.block_on(notice(&dir, &store, EMAIL, "enabled again"));
    assert!(mail.text.contains("ticket 7 closed"), "{}", mail.text);
    assert!(audit_log(&dir).contains("operator_enabled_account"));

    let twice = run(&dir, &["account", "enable", EMAIL, "--reason", "again"]);
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("is not disabled"),
        "{}",
        text(&twice.stderr)
    );
}
