//! `IdentityStore`: a session with its account's identity and its device's kind, read in one
//! statement, whatever the session's state (the service decides liveness).

use super::devices::{add, mfa_session};
use super::sessions::start;
use super::*;
use latchkey_domain::mfa::DeviceKind;

#[tokio::test]
async fn a_session_comes_with_its_owner_and_its_device_kind() {
    for Backend { name, store, .. } in backends().await {
        let mut new = account(140, "who@example.com");
        new.status = AccountStatus::Active;
        new.email_verified_at = Some(T0);
        store
            .insert_account(&new, None, &[], &audit(Some(&new.id), "sign_up"))
            .await
            .unwrap();
        let id = new.id;
        let (password_only, new) = session(&id);
        start(&store, &new).await;
        let found = store
            .session_identity(&password_only.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.session.account_id, id, "{name}");
        assert_eq!(found.session.token_hash, password_only.hash(), "{name}");
        assert_eq!(found.email.as_str(), "who@example.com", "{name}");
        assert!(found.email_verified, "{name}");
        assert!(!found.name.is_empty(), "{name}");
        assert_eq!(found.device_kind, None, "{name}");

        add(&store, &id, "dev-who", "Phone").await;
        let (with_device, new) = mfa_session(&id, "dev-who");
        start(&store, &new).await;
        let found = store
            .session_identity(&with_device.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.device_kind, Some(DeviceKind::Virtual), "{name}");
        assert_eq!(found.session.mfa_device_id, new.mfa_device_id, "{name}");

        // A revoked session is still read (with its revocation): liveness is the caller's.
        assert!(
            store
                .revoke_session(&with_device.hash(), T0, &audit(Some(&id), "sign_out"))
                .await
                .unwrap()
        );
        let revoked = store
            .session_identity(&with_device.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.session.revoked_at, Some(T0), "{name}");
        assert!(
            store
                .session_identity(&TokenHash("0".repeat(64)))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}
