//! `latchkey audit` as an operator runs it: the filters and `--json`, and `audit verify`
//! finding a record edited, removed or added directly in the database, on SQLite and on
//! PostgreSQL (the binary pointed at each backend's test database with
//! `LATCHKEY_DATABASE_URL`).

use std::process::Output;
use std::sync::Arc;

use latchkey_service::Store;
use latchkey_test_support::TempDir;
use latchkey_test_support::fixtures::audit_record;

use super::{create, latchkey, server_key};

fn audit(dir: &TempDir, url: &str, args: &[&str]) -> Output {
    latchkey(dir)
        .env("LATCHKEY_DATABASE_URL", url)
        .arg("audit")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn audit_verify_finds_a_record_edited_removed_or_added_in_the_database() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in runtime.block_on(latchkey_test_support::backends()) {
        let name = backend.name;
        let dir = TempDir::new();
        let verify = |expect_ok: bool| {
            let out = audit(&dir, &backend.url, &["verify"]);
            assert_eq!(
                out.status.success(),
                expect_ok,
                "{name}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            (text(&out.stdout), text(&out.stderr))
        };
        // The first command creates the server key; nothing is chained yet.
        assert!(verify(true).0.contains("no chained records yet"), "{name}");

        // Records appended through latchkey's own store, with the binary's key.
        let store: Arc<dyn Store> = runtime.block_on(async {
            latchkey_store::open(
                Some(&backend.url),
                dir.path(),
                server_key(&dir).audit_chain_key(),
            )
            .await
            .unwrap()
            .0
        });
        for event in ["sign_in", "mfa_activated", "sign_in", "password_changed"] {
            runtime
                .block_on(store.append_audit(&audit_record(None, event)))
                .unwrap();
        }
        let (out, _) = verify(true);
        assert!(
            out.contains("intact: 4 records chained from the first."),
            "{name}: {out}"
        );
        let head = out
            .lines()
            .find_map(|line| line.strip_prefix("Head: "))
            .unwrap_or_else(|| panic!("{name}: no head in {out}"))
            .to_owned();
        assert!(
            head.starts_with("4:") && head.len() == 2 + 64,
            "{name}: {head}"
        );
        let verify_head = |head: &str, expect_ok: bool| {
            let out = audit(&dir, &backend.url, &["verify", "--head", head]);
            assert_eq!(
                out.status.success(),
                expect_ok,
                "{name}: {}",
                text(&out.stderr)
            );
            text(&out.stderr)
        };
        verify_head(&head, true);
        let other = format!("4:{}", "0".repeat(64));
        assert!(
            verify_head(&other, false).contains("record 4 is not the head you kept"),
            "{name}"
        );
        assert!(
            verify_head("4", false).contains("is not a head as `audit verify` prints it"),
            "{name}"
        );

        // Whoever owns the database can take the append-only guard away …
        runtime.block_on(backend.execute_raw(if backend.sqlite.is_some() {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
        } else {
            "ALTER TABLE audit_log DISABLE TRIGGER USER"
        }));
        // … but not the chain: an edit is found where it was made, and undoing it mends it.
        runtime.block_on(
            backend.execute_raw("UPDATE audit_log SET outcome = 'failure' WHERE seq = 2"),
        );
        let (_, err) = verify(false);
        assert!(
            err.contains("record 2 is not what latchkey wrote")
                && err.contains("the 1 records before it are intact"),
            "{name}: {err}"
        );
        runtime.block_on(
            backend.execute_raw("UPDATE audit_log SET outcome = 'success' WHERE seq = 2"),
        );
        verify(true);

        // The newest record removed: the rest is intact, but the kept head is gone …
        runtime.block_on(backend.execute_raw("DELETE FROM audit_log WHERE seq = 4"));
        assert!(verify(true).0.contains("intact: 3 records"), "{name}");
        assert!(
            verify_head(&head, false)
                .contains("the chain ends at record 3, before the head you kept (record 4)"),
            "{name}"
        );
        // … and stays gone when latchkey writes at its place again.
        runtime
            .block_on(store.append_audit(&audit_record(None, "sign_in")))
            .unwrap();
        verify(true);
        assert!(
            verify_head(&head, false).contains("record 4 is not the head you kept"),
            "{name}"
        );

        // Added beside the chain.
        runtime.block_on(backend.execute_raw(
            "INSERT INTO audit_log (at, account_id, client_addr, user_agent, event, outcome, \
             detail) VALUES (1800000000, NULL, '203.0.113.9', 'x', 'sign_in', 'success', '')",
        ));
        let (_, err) = verify(false);
        assert!(
            err.contains("was added outside the chain after the chain began"),
            "{name}: {err}"
        );

        // Removed: found at its place, before anything later.
        runtime.block_on(backend.execute_raw("DELETE FROM audit_log WHERE seq = 3"));
        let (_, err) = verify(false);
        assert!(
            err.contains("record 3 is missing") && err.contains("the 2 records before it"),
            "{name}: {err}"
        );
    }
}

#[test]
fn audit_filters_by_event_and_time_and_prints_json() {
    let dir = TempDir::new();
    let created = create(&dir, "ops@example.com", "violet-anchor-tundra-42");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let id = text(&created.stdout).trim().to_owned();
    let url = format!("sqlite://{}", dir.path().join("latchkey.sqlite3").display());

    let out = audit(
        &dir,
        &url,
        &["--event", "account_created_by_operator", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = document["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{document}");
    assert_eq!(events[0]["event"], "account_created_by_operator");
    assert_eq!(events[0]["account_id"], id.as_str());
    assert_eq!(events[0]["outcome"], "success");
    assert!(
        events[0]["at"].as_str().unwrap().ends_with('Z'),
        "{document}"
    );
    assert_eq!(document["older_before"], serde_json::Value::Null);

    // Nothing happened after the year 2999, and nothing of another event.
    for args in [
        &["--since", "2999-01-01", "--json"][..],
        &["--event", "mfa_removed", "--json"][..],
        &["--until", "2000-01-01T00:00:00Z", "--json"][..],
    ] {
        let out = audit(&dir, &url, args);
        let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(document["events"], serde_json::json!([]), "{args:?}");
    }

    // Mistakes are named, with what would have been right.
    let out = audit(&dir, &url, &["--event", "sign-in"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"sign-in\" is not an event latchkey records")
            && text(&out.stderr).contains("sign_in, sign_out"),
        "{}",
        text(&out.stderr)
    );
    let out = audit(&dir, &url, &["--since", "yesterday"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("use 2026-11-30, 2026-11-30T12:00:00Z or Unix seconds"),
        "{}",
        text(&out.stderr)
    );
}
