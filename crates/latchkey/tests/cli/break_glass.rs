//! The operator's break-glass commands as an operator runs them: `account unblock-recovery`
//! and `account reset-mfa` on the real binary, with the account prepared through the store on
//! the same data directory, the audit log read back with `latchkey audit` and the owner's
//! notice opened from the outbox with the server key the binary created.

use std::process::Output;
use std::sync::Arc;

use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::session::SessionKind;
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{AccountId, Duration, EmailAddress};
use latchkey_service::store::*;
use latchkey_service::{Clock, OutgoingEmail, SecretToken, SystemClock};
use latchkey_test_support::TempDir;

use super::{create, latchkey};

pub(super) const EMAIL: &str = "ops@example.com";

pub(super) fn run(dir: &TempDir, args: &[&str]) -> Output {
    latchkey(dir).args(args).output().unwrap()
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An account made with `account create`, and the store on the same database.
pub(super) fn account(
    dir: &TempDir,
    runtime: &tokio::runtime::Runtime,
) -> (Arc<dyn Store>, AccountId) {
    let created = create(dir, EMAIL, "violet-anchor-tundra-42");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let id = AccountId::parse(text(&created.stdout).trim()).unwrap();
    let chain = super::server_key(dir).audit_chain_key();
    let store = runtime.block_on(async {
        latchkey_store::open(None, dir.path(), chain)
            .await
            .unwrap()
            .0
    });
    (store, id)
}

pub(super) fn audit(account: &AccountId, event: &str) -> AuditRecord {
    AuditRecord {
        at: SystemClock.now(),
        account_id: Some(account.clone()),
        client_addr: "192.0.2.7".to_owned(),
        user_agent: "cli-test".to_owned(),
        event: event.to_owned(),
        outcome: "success".to_owned(),
        detail: String::new(),
    }
}

/// The owner reports a recovery as not theirs, as `This wasn't me` does: alternative factors
/// are blocked until a reset by email and a sign-in with an older device.
async fn report_a_recovery(store: &Arc<dyn Store>, account: &AccountId) {
    let now = SystemClock.now();
    let flow = NewRecoveryFlow {
        id: latchkey_domain::FlowId::new("rec-intruder".to_owned()),
        attempt_hash: SecretToken::generate().hash(),
        source: "*".to_owned(),
        started_from: "203.0.113.5".to_owned(),
        started_agent: "intruder".to_owned(),
        token_hash: SecretToken::generate().hash(),
        account_id: account.clone(),
        cancel_token_hash: SecretToken::generate().hash(),
        created_at: now - Duration::minutes(20),
        expires_at: now + Duration::minutes(10),
    };
    let started = store
        .create_recovery_flow(
            &flow,
            (5, now - Duration::hours(24)),
            &[],
            &audit(account, "x"),
        )
        .await
        .unwrap();
    assert_eq!(started, FlowStart::Started);
    let report = RecoveryReport {
        flow_id: &flow.id,
        account,
        undo_window: Duration::hours(24 * 7),
        revoked_password_hash: "$argon2id$revoked",
        now,
    };
    store
        .report_recovery(&report, &[], &audit(account, "recovery_cancelled"))
        .await
        .unwrap()
        .expect("reported");
}

/// The newest queued email to `to` whose subject contains `subject`, opened with the key the
/// binary keeps in the data directory.
pub(super) async fn notice(
    dir: &TempDir,
    store: &Arc<dyn Store>,
    to: &str,
    subject: &str,
) -> OutgoingEmail {
    let key = super::server_key(dir);
    let reader = latchkey_service::outbox::OutboxWriter::new(&key).reader();
    let later = SystemClock.now() + Duration::hours(1);
    store
        .claim_outbox(later, later + Duration::minutes(5), 100)
        .await
        .unwrap()
        .iter()
        .filter(|item| item.kind == "email" && item.recipient == to)
        .map(|item| reader.email(&item.recipient, &item.payload).unwrap())
        .rfind(|mail| mail.subject.contains(subject))
        .unwrap_or_else(|| panic!("no notice about {subject:?} to {to}"))
}

pub(super) fn audit_log(dir: &TempDir) -> String {
    let output = run(dir, &["audit", "--limit", "20"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn unblock_recovery_lifts_the_block_records_the_reason_and_tells_the_owner() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    runtime.block_on(report_a_recovery(&store, &id));

    let reason = "ticket 4711: owner called from the number on file, no older device";
    let output = run(
        &dir,
        &["account", "unblock-recovery", EMAIL, "--reason", reason],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(
        said.contains(&id.to_string()) && said.contains("emailed"),
        "{said}"
    );
    assert!(
        runtime
            .block_on(store.recovery_blocked_at(&id))
            .unwrap()
            .is_none()
    );
    let log = audit_log(&dir);
    let line = log
        .lines()
        .find(|l| l.contains("operator_unblocked_recovery"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("success")
            && line.contains(&id.to_string())
            && line.contains("cli")
            && line.contains(reason),
        "{line}"
    );
    let mail = runtime.block_on(notice(&dir, &store, EMAIL, "unblocked"));
    for expected in [reason, "UTC", "Forgot password?", "did not ask for this"] {
        assert!(mail.text.contains(expected), "{expected}: {}", mail.text);
    }

    // Not blocked any more: refused, and the refusal is on record.
    let again = run(
        &dir,
        &["account", "unblock-recovery", EMAIL, "--reason", reason],
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("is not blocked"),
        "{}",
        text(&again.stderr)
    );
    assert!(audit_log(&dir).contains("not_blocked"));
}

#[test]
fn reset_mfa_removes_every_device_signs_out_and_says_what_it_removed() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    let session = runtime.block_on(async {
        let long_ago = SystemClock.now() - Duration::hours(24);
        store
            .create_enrollment(&NewEnrollment {
                id: latchkey_domain::EnrollmentId::new("enr-phone".to_owned()),
                account_id: id.clone(),
                kind: DeviceKind::Virtual,
                secret_sealed: vec![9; 40],
                created_at: long_ago,
                expires_at: SystemClock.now() + Duration::minutes(15),
            })
            .await
            .unwrap();
        let phone = NewDevice {
            id: latchkey_domain::DeviceId::new("mfa-phone".to_owned()),
            account_id: id.clone(),
            kind: DeviceKind::Virtual,
            name: "Old phone".to_owned(),
            secret_sealed: vec![7; 40],
            params: TotpParams::VIRTUAL,
            last_used_step: 1,
            created_at: long_ago,
            serial: None,
            added_by: None,
        };
        let outcome = store
            .assign_device(
                &latchkey_domain::EnrollmentId::new("enr-phone"),
                &phone,
                8,
                long_ago,
                &[],
                &audit(&id, "x"),
            )
            .await
            .unwrap();
        assert_eq!(outcome, AssignOutcome::Assigned);
        store
            .import_tokens(
                &[NewHardwareToken {
                    serial: "GALT-0042".to_owned(),
                    manufacturer: None,
                    params: TotpParams::VIRTUAL,
                    secret_sealed: vec![5; 40],
                    imported_at: long_ago,
                }],
                &audit(&id, "x"),
            )
            .await
            .unwrap();
        let token = NewDevice {
            id: latchkey_domain::DeviceId::new("mfa-token".to_owned()),
            kind: DeviceKind::Hardware,
            name: "Desk token".to_owned(),
            serial: Some("GALT-0042".to_owned()),
            ..phone
        };
        let outcome = store
            .assign_hardware_device(&token, 8, &[], &audit(&id, "x"))
            .await
            .unwrap();
        assert_eq!(outcome, AssignOutcome::Assigned);
        let session = SecretToken::generate();
        store
            .start_session(
                &NewSession {
                    token_hash: session.hash(),
                    public_id: latchkey_service::secrets::new_id("ses"),
                    account_id: id.clone(),
                    kind: SessionKind::Full,
                    mfa_device_id: Some(latchkey_domain::DeviceId::new("mfa-phone".to_owned())),
                    created_at: SystemClock.now(),
                    expires_at: SystemClock.now() + Duration::hours(12),
                    client_addr: "192.0.2.7".to_owned(),
                    user_agent: "browser".to_owned(),
                    replaces: None,
                },
                store
                    .account_by_id(&id)
                    .await
                    .unwrap()
                    .unwrap()
                    .password_generation,
                "*",
                &audit(&id, "sign_in"),
            )
            .await
            .unwrap();
        session
    });
    let password_before = runtime
        .block_on(store.account_by_id(&id))
        .unwrap()
        .unwrap()
        .password_hash;

    let reason = "ticket 4712: lost phone and token, identity checked in person";
    let output = run(&dir, &["account", "reset-mfa", EMAIL, "--reason", reason]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    for expected in [
        "Old phone",
        "Desk token",
        "GALT-0042",
        "1 session",
        "password",
        "activate",
    ] {
        assert!(said.contains(expected), "{expected}: {said}");
    }

    runtime.block_on(async {
        assert!(store.mfa_devices(&id).await.unwrap().is_empty());
        let token = store.hardware_token("GALT-0042").await.unwrap().unwrap();
        assert!(
            token.device_id.is_none(),
            "the token is back in the inventory"
        );
        let session = store
            .session_identity(&session.hash())
            .await
            .unwrap()
            .unwrap()
            .session;
        assert!(session.revoked_at.is_some());
        let account = store.account_by_id(&id).await.unwrap().unwrap();
        assert_eq!(
            account.password_hash, password_before,
            "the password is untouched"
        );
    });
    let log = audit_log(&dir);
    let line = log
        .lines()
        .find(|l| l.contains("operator_reset_mfa"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("success")
            && line.contains("mfa-phone")
            && line.contains("mfa-token")
            && line.contains(reason),
        "{line}"
    );
    let mail = runtime.block_on(notice(&dir, &store, EMAIL, "MFA devices"));
    for expected in [
        reason,
        "Old phone",
        "GALT-0042",
        "activate a new MFA device",
        "did not ask for this",
    ] {
        assert!(mail.text.contains(expected), "{expected}: {}", mail.text);
    }
}

#[test]
fn reset_mfa_lifts_a_block_too() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    runtime.block_on(report_a_recovery(&store, &id));
    let output = run(
        &dir,
        &["account", "reset-mfa", EMAIL, "--reason", "ticket 4713"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(
        said.contains("no MFA devices")
            && said.contains("lifted the This wasn't me block")
            && said.contains("Forgot password?"),
        "{said}"
    );
    let mail = runtime.block_on(notice(&dir, &store, EMAIL, "MFA devices"));
    assert!(
        mail.text.contains("it had no MFA devices")
            && mail.text.contains("lifted the block")
            && mail.text.contains("Forgot password?"),
        "{}",
        mail.text
    );
    assert!(
        runtime
            .block_on(store.recovery_blocked_at(&id))
            .unwrap()
            .is_none()
    );
}

#[test]
fn break_glass_commands_refuse_unknown_accounts_and_missing_reasons() {
    let dir = TempDir::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = account(&dir, &runtime);
    runtime.block_on(report_a_recovery(&store, &id));
    for command in ["unblock-recovery", "reset-mfa"] {
        let unknown = run(
            &dir,
            &["account", command, "nobody@example.com", "--reason", "x"],
        );
        assert!(!unknown.status.success(), "{command}");
        assert!(
            text(&unknown.stderr).contains("no account has the email address nobody@example.com"),
            "{command}: {}",
            text(&unknown.stderr)
        );
        let missing = run(&dir, &["account", command, EMAIL]);
        assert!(!missing.status.success(), "{command}");
        assert!(text(&missing.stderr).contains("--reason"), "{command}");
        for empty in ["", "   "] {
            let refused = run(&dir, &["account", command, EMAIL, "--reason", empty]);
            assert!(!refused.status.success(), "{command} {empty:?}");
            assert!(
                text(&refused.stderr).contains("--reason"),
                "{command}: {}",
                text(&refused.stderr)
            );
        }
    }
    // Nothing was done: the account is still blocked, and only the unknown-account attempts
    // are on record.
    assert!(
        runtime
            .block_on(store.recovery_blocked_at(&id))
            .unwrap()
            .is_some()
    );
    let log = audit_log(&dir);
    assert_eq!(log.matches("unknown_account").count(), 2, "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("operator_") && l.contains("success")),
        "{log}"
    );
    let email = EmailAddress::parse(EMAIL).unwrap();
    let unchanged = runtime.block_on(store.account_by_email(&email)).unwrap();
    assert_eq!(unchanged.unwrap().password_hash, "$argon2id$revoked");
}

#[test]
fn break_glass_commands_explain_themselves() {
    let dir = TempDir::new();
    for command in ["unblock-recovery", "reset-mfa"] {
        let output = run(&dir, &["account", command, "--help"]);
        assert!(output.status.success(), "{command}");
        let help = text(&output.stdout);
        for expected in ["Usage", "EMAIL", "--reason", "audit", "emailed"] {
            assert!(help.contains(expected), "{command}: {expected}:\n{help}");
        }
    }
    let listed = text(&run(&dir, &["account", "--help"]).stdout);
    assert!(
        listed.contains("unblock-recovery") && listed.contains("reset-mfa"),
        "{listed}"
    );
}
