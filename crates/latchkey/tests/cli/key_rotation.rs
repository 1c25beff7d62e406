//! `latchkey key rotate`, `status`, `reseal` and `retire` on the real binary, on SQLite and
//! PostgreSQL: what was sealed before a rotation is re-sealed under the new key and still
//! opens, the audit chain verifies across it, an instance left with the old key file is
//! refused, and an old key is retired only once nothing is sealed under it.

use std::sync::Arc;

use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{DeviceId, Duration, EnrollmentId};
use latchkey_service::store::*;
use latchkey_service::{Clock, ServerKey, SystemClock};
use latchkey_test_support::TempDir;
use latchkey_test_support::fixtures::{audit_record, new_account};

use super::latchkey;

const SEED: &[u8] = b"12345678901234567890";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key_file(dir: &TempDir) -> ServerKey {
    ServerKey::from_hex(&std::fs::read_to_string(dir.path().join("secret.key")).unwrap())
        .expect("the key file holds keys")
}

/// An account with one virtual device (and its finished enrolment) and one queued email,
/// sealed under `key` as the service seals them.
async fn sealed_secrets(store: &Arc<dyn Store>, key: &ServerKey) -> latchkey_domain::AccountId {
    let now = SystemClock.now();
    let account = new_account(41, "rotate@example.com");
    store
        .insert_account(
            &account,
            None,
            &[],
            &audit_record(Some(&account.id), "sign_up"),
        )
        .await
        .unwrap();
    let enrollment = EnrollmentId::new("enr-rot".to_owned());
    store
        .create_enrollment(&NewEnrollment {
            id: enrollment.clone(),
            account_id: account.id.clone(),
            kind: DeviceKind::Virtual,
            secret_sealed: key.sealer("mfa-secret").seal(SEED, b"enrollment\0enr-rot"),
            created_at: now,
            expires_at: now + Duration::minutes(15),
        })
        .await
        .unwrap();
    let device = NewDevice {
        id: DeviceId::new("dev-rot".to_owned()),
        account_id: account.id.clone(),
        kind: DeviceKind::Virtual,
        name: "Phone".to_owned(),
        secret_sealed: key.sealer("mfa-secret").seal(SEED, b"device\0dev-rot"),
        params: TotpParams::VIRTUAL,
        last_used_step: 0,
        created_at: now,
        serial: None,
        added_by: None,
    };
    assert_eq!(
        store
            .assign_device(
                &enrollment,
                &device,
                8,
                now,
                &[],
                &audit_record(Some(&account.id), "mfa_activated")
            )
            .await
            .unwrap(),
        AssignOutcome::Assigned
    );
    let mail = NewOutboxMessage {
        kind: "email",
        recipient: "rotate@example.com".to_owned(),
        payload: key
            .sealer("outbox")
            .seal(b"{}", b"latchkey outbox\0email\0rotate@example.com"),
        created_at: now,
    };
    store
        .append_audit_with_outbox(&[mail], &audit_record(Some(&account.id), "x"))
        .await
        .unwrap();
    account.id
}

#[test]
fn a_rotation_reseals_everything_keeps_the_chain_and_refuses_the_old_key_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in runtime.block_on(latchkey_test_support::backends()) {
        let name = backend.name;
        let dir = TempDir::new();
        let run = |args: &[&str]| {
            latchkey(&dir)
                .env("LATCHKEY_DATABASE_URL", &backend.url)
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["audit", "verify"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let old = key_file(&dir);
        let store: Arc<dyn Store> = runtime.block_on(async {
            latchkey_store::open(Some(&backend.url), dir.path(), old.audit_chain_key())
                .await
                .unwrap()
                .0
        });
        let account = runtime.block_on(sealed_secrets(&store, &old));

        let status = run(&["key", "status"]);
        assert!(status.status.success(), "{name}: {}", text(&status.stderr));
        assert!(
            text(&status.stdout)
                .contains(&format!("{}  current  seals 3 values", old.current_id())),
            "{name}: {}",
            text(&status.stdout)
        );

        // First run: the new key is staged; nothing is sealed under it yet.
        let staged = run(&["key", "rotate"]);
        assert!(staged.status.success(), "{name}: {}", text(&staged.stderr));
        assert!(
            text(&staged.stdout).contains("Staged the new key"),
            "{name}: {}",
            text(&staged.stdout)
        );
        let staged_file = key_file(&dir);
        let next = staged_file.next_id().expect("a staged key");
        assert_eq!(staged_file.current_id(), old.current_id(), "{name}");
        let status = text(&run(&["key", "status"]).stdout);
        assert!(
            status.contains(&format!("{next}  next")),
            "{name}: {status}"
        );
        // Second run: the staged key becomes current; `reseal` moves everything onto it.
        let rotated = run(&["key", "rotate"]);
        assert!(
            rotated.status.success(),
            "{name}: {}",
            text(&rotated.stderr)
        );
        assert!(
            text(&rotated.stdout).contains(&format!("The current server key is now {next}")),
            "{name}: {}",
            text(&rotated.stdout)
        );
        let resealed = run(&["key", "reseal"]);
        assert!(
            resealed.status.success(),
            "{name}: {}",
            text(&resealed.stderr)
        );
        assert!(
            text(&resealed.stdout).contains("Re-sealed 3 values"),
            "{name}: {}",
            text(&resealed.stdout)
        );
        let ring = key_file(&dir);
        assert_eq!(ring.ids().len(), 2, "{name}");
        assert_eq!(ring.ids()[1], old.current_id(), "{name}: the old key stays");
        let new = ring.current_id();
        // The device's seed is sealed under the new key now, and is the same seed.
        let device = runtime
            .block_on(store.mfa_devices(&account))
            .unwrap()
            .remove(0);
        let sealer = ring.sealer("mfa-secret");
        assert_eq!(sealer.sealed_by(&device.secret_sealed), Some(new), "{name}");
        assert_eq!(
            sealer
                .open(&device.secret_sealed, b"device\0dev-rot")
                .unwrap(),
            SEED,
            "{name}"
        );
        assert!(
            old.sealer("mfa-secret")
                .open(&device.secret_sealed, b"device\0dev-rot")
                .is_err(),
            "{name}: the old key alone no longer opens it"
        );

        // The chain verifies across the rotation, which it records.
        let verify = run(&["audit", "verify"]);
        assert!(verify.status.success(), "{name}: {}", text(&verify.stderr));
        let log = text(
            &run(&[
                "audit",
                "--event",
                "server_key_rotated",
                "--event",
                "sealed_data_resealed",
            ])
            .stdout,
        );
        assert!(
            log.contains("server_key_rotated") && log.contains("sealed_data_resealed"),
            "{name}: {log}"
        );

        // An instance left with the key file from before the rotation is refused, and so is
        // one with the staged file: the database never goes back to the replaced key.
        for (file, stale_key) in [("stale.key", &old), ("staged.key", &staged_file)] {
            let stale = dir.path().join(file);
            std::fs::write(&stale, stale_key.to_file_text()).unwrap();
            let refused = latchkey(&dir)
                .env("LATCHKEY_DATABASE_URL", &backend.url)
                .env("LATCHKEY_SECRET_KEY_FILE", &stale)
                .args(["audit", "verify"])
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{name}: {file}");
            assert!(
                text(&refused.stderr).contains("was replaced by a rotation"),
                "{name}: {file}: {}",
                text(&refused.stderr)
            );
        }
        let still = run(&["audit", "verify"]);
        assert!(still.status.success(), "{name}: {}", text(&still.stderr));

        // Retiring: never the current key; the old one, now that nothing is sealed under it.
        let current = run(&["key", "retire", &new.to_hex()]);
        assert!(!current.status.success(), "{name}");
        assert!(
            text(&current.stderr).contains("is the current key"),
            "{name}"
        );
        let unknown = run(&["key", "retire", "zz"]);
        assert!(!unknown.status.success(), "{name}");
        let retired = run(&["key", "retire", &old.current_id().to_hex()]);
        assert!(
            retired.status.success(),
            "{name}: {}",
            text(&retired.stderr)
        );
        let ring = key_file(&dir);
        assert_eq!(ring.ids(), vec![new], "{name}");
        assert_eq!(ring.retired_ids(), vec![old.current_id()], "{name}");
        let status = text(&run(&["key", "status"]).stdout);
        assert!(
            status.contains(&format!("{}  retired", old.current_id())),
            "{name}: {status}"
        );
        // The records chained under the retired key still verify.
        let verify = run(&["audit", "verify"]);
        assert!(verify.status.success(), "{name}: {}", text(&verify.stderr));
        assert!(
            text(&run(&["audit"]).stdout).contains("server_key_retired"),
            "{name}"
        );
    }
}
