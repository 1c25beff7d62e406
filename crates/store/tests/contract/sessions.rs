//! Sessions: issued once per sign-in, touched, revoked; never after a password change.

use super::*;

/// A sign-in checks the password, then (a slow hash later) writes its session or its
/// attempt. A password change committed in between must win: the write refuses a password
/// generation that is no longer the account's, so nothing the old password began survives.
#[tokio::test]
async fn a_sign_in_checked_against_a_password_since_changed_issues_nothing() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 90, "race@example.com").await;
        let checked = generation(&store, &id).await;
        let keep = live_session(&store, &id).await;
        assert!(
            store
                .change_password(&id, "$argon2id$new", &keep, T0, &[], &audit(Some(&id), "x"))
                .await
                .unwrap(),
            "{name}"
        );
        let (_, new) = session(&id);
        assert_eq!(
            store
                .start_session(&new, checked, "*", &audit(Some(&id), "sign_in"))
                .await
                .unwrap(),
            SessionStart::PasswordChanged,
            "{name}"
        );
        assert!(
            store.session(&new.token_hash).await.unwrap().is_none(),
            "{name}"
        );
        let attempt = SecretToken::generate();
        assert!(
            !store
                .start_sign_in_attempt(
                    &attempt.hash(),
                    &id,
                    checked,
                    "*",
                    T0,
                    T0 + latchkey_domain::Duration::minutes(10),
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .sign_in_attempt(&attempt.hash(), T0)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        // With the generation it now has, both go through.
        assert_eq!(
            store
                .start_session(&new, checked + 1, "*", &audit(Some(&id), "sign_in"))
                .await
                .unwrap(),
            SessionStart::Started,
            "{name}"
        );
    }
}

#[tokio::test]
async fn sessions_are_touched_and_revoked_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 7, "gus@example.com").await;
        let (secret, new) = session(&id);
        store
            .start_session(
                &new,
                generation(&store, &new.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let record = store.session(&secret.hash()).await.unwrap().unwrap();
        assert_eq!(record.account_id, id, "{name}");
        assert_eq!(record.kind, SessionKind::Full, "{name}");
        assert_eq!(record.last_seen_at, T0, "{name}");

        let later = T0 + latchkey_domain::Duration::minutes(2);
        store.touch_session(&secret.hash(), later).await.unwrap();
        // A touch never moves time backwards.
        store.touch_session(&secret.hash(), T0).await.unwrap();
        assert_eq!(
            store
                .session(&secret.hash())
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            later,
            "{name}"
        );

        assert!(
            store
                .revoke_session(&secret.hash(), later, &audit(Some(&id), "sign_out"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .revoke_session(&secret.hash(), later, &audit(Some(&id), "sign_out"))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .session(&TokenHash("0".repeat(64)))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        let sign_outs = store.recent_audit(Some(&id), 10).await.unwrap();
        assert_eq!(
            sign_outs.iter().filter(|e| e.event == "sign_out").count(),
            1,
            "{name}"
        );
    }
}
