//! One database, one server key: a second instance started without the shared key file, or
//! with another key, refuses to start and says why, on SQLite and on PostgreSQL.

use latchkey_test_support::TempDir;

use super::latchkey;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_instance_with_another_server_key_refuses_to_start_and_says_why() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in runtime.block_on(latchkey_test_support::backends()) {
        let name = backend.name;
        let run = |dir: &TempDir| {
            latchkey(dir)
                .env("LATCHKEY_DATABASE_URL", &backend.url)
                .args(["audit", "verify"])
                .output()
                .unwrap()
        };
        // The first instance creates its key and the database records it.
        let first = TempDir::new();
        let out = run(&first);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));

        // A second instance with no key file generates one: refused, and the stray key goes.
        let second = TempDir::new();
        let out = run(&second);
        assert!(!out.status.success(), "{name}");
        let err = text(&out.stderr);
        assert!(
            err.contains("is not the one this database was used with")
                && err.contains("LATCHKEY_SECRET_KEY_FILE")
                && err.contains("a new key was generated; it has been removed again"),
            "{name}: {err}"
        );
        assert!(!second.path().join("secret.key").exists(), "{name}");

        // Another key file that exists: refused, and left where it is.
        let other = latchkey_service::ServerKey::generate();
        std::fs::write(second.path().join("secret.key"), other.to_hex()).unwrap();
        let out = run(&second);
        assert!(!out.status.success(), "{name}");
        assert!(
            !text(&out.stderr).contains("a new key was generated"),
            "{name}: {}",
            text(&out.stderr)
        );
        assert!(second.path().join("secret.key").exists(), "{name}");

        // The same key file: starts.
        std::fs::copy(
            first.path().join("secret.key"),
            second.path().join("secret.key"),
        )
        .unwrap();
        let out = run(&second);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
}

#[test]
fn a_key_made_on_the_spot_cannot_claim_a_database_that_has_accounts() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in runtime.block_on(latchkey_test_support::backends()) {
        let name = backend.name;
        // A database from before keys were recorded: it has an account, no fingerprint.
        runtime
            .block_on(backend.store.insert_account(
                &latchkey_test_support::fixtures::new_account(7, "old@example.com"),
                None,
                &[],
                &latchkey_test_support::fixtures::audit_record(None, "sign_up"),
            ))
            .unwrap();
        let dir = TempDir::new();
        let out = latchkey(&dir)
            .env("LATCHKEY_DATABASE_URL", &backend.url)
            .args(["audit", "verify"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let err = text(&out.stderr);
        assert!(
            err.contains("this database already has accounts")
                && err.contains("the new key has been removed again"),
            "{name}: {err}"
        );
        assert!(!dir.path().join("secret.key").exists(), "{name}");
    }
}
