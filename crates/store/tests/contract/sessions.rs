//! Sessions: issued once per sign-in, touched, revoked; never after a password change.

use super::races::{audit_details, race, racer_audit, winners};
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
            stored_session(&store, &new.token_hash).await.is_none(),
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
        let record = stored_session(&store, &secret.hash()).await.unwrap();
        assert_eq!(record.account_id, id, "{name}");
        assert_eq!(record.kind, SessionKind::Full, "{name}");
        assert_eq!(record.last_seen_at, T0, "{name}");

        let later = T0 + latchkey_domain::Duration::minutes(2);
        store.touch_session(&secret.hash(), later).await.unwrap();
        // A touch never moves time backwards.
        store.touch_session(&secret.hash(), T0).await.unwrap();
        assert_eq!(
            stored_session(&store, &secret.hash())
                .await
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
            stored_session(&store, &TokenHash("0".repeat(64)))
                .await
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

/// Starts `new` as a password-only sign-in would.
pub(super) async fn start(store: &Arc<dyn Store>, new: &NewSession) {
    let started = store
        .start_session(
            new,
            generation(store, &new.account_id).await,
            "*",
            &audit(Some(&new.account_id), "sign_in"),
        )
        .await
        .unwrap();
    assert_eq!(started, SessionStart::Started);
}

#[tokio::test]
async fn the_session_list_shows_the_accounts_live_sessions_newest_first() {
    for Backend { name, store, .. } in backends().await {
        let a = active_account(&store, 91, "list@example.com").await;
        let b = active_account(&store, 92, "other@example.com").await;
        let (_, older) = session(&a);
        start(&store, &older).await;
        let (_, newer) = session(&a);
        let newer = NewSession {
            created_at: T0 + latchkey_domain::Duration::minutes(5),
            user_agent: "the newer one".to_owned(),
            ..newer
        };
        start(&store, &newer).await;
        let (_, expired) = session(&a);
        let expired = NewSession {
            expires_at: T0 + latchkey_domain::Duration::minutes(1),
            ..expired
        };
        start(&store, &expired).await;
        let (_, revoked) = session(&a);
        start(&store, &revoked).await;
        assert!(
            store
                .revoke_session(&revoked.token_hash, T0, &audit(Some(&a), "sign_out"))
                .await
                .unwrap()
        );
        live_session(&store, &b).await;

        let now = T0 + latchkey_domain::Duration::minutes(10);
        let listed = store.account_sessions(&a, now).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|s| s.public_id.clone().unwrap())
                .collect::<Vec<_>>(),
            [newer.public_id.clone(), older.public_id.clone()],
            "{name}: live ones only, newest first, the other account's not"
        );
        assert_eq!(listed[0].user_agent, "the newer one", "{name}");
        assert_eq!(listed[0].token_hash, newer.token_hash, "{name}");
        assert_eq!(listed[0].mfa_device, None, "{name}");
    }
}

#[tokio::test]
async fn one_session_is_ended_by_its_public_id_once_and_only_by_its_account() {
    for Backend { name, store, .. } in backends().await {
        let a = active_account(&store, 93, "one@example.com").await;
        let b = active_account(&store, 94, "two@example.com").await;
        let (_, target) = session(&a);
        start(&store, &target).await;
        let (_, kept) = session(&a);
        start(&store, &kept).await;

        // Another account cannot end it, even knowing its id.
        let by_b = store
            .revoke_account_session(&b, &target.public_id, T0, &audit(Some(&b), "sign_out"))
            .await
            .unwrap();
        assert_eq!(by_b, None, "{name}");
        assert!(
            stored_session(&store, &target.token_hash)
                .await
                .unwrap()
                .revoked_at
                .is_none(),
            "{name}"
        );

        // Sixteen at once: one ends it and writes the one audit record.
        let results = race(|n| {
            let (store, a, id) = (store.clone(), a.clone(), target.public_id.clone());
            async move {
                store
                    .revoke_account_session(&a, &id, T0, &racer_audit(&a, "sign_out_one", n))
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(winners(&results, Option::is_some).len(), 1, "{name}");
        assert_eq!(
            results.iter().flatten().next(),
            Some(&target.token_hash),
            "{name}"
        );
        assert_eq!(
            audit_details(&store, &a, "sign_out_one").await.len(),
            1,
            "{name}"
        );
        let listed = store.account_sessions(&a, T0).await.unwrap();
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(
            listed[0].public_id.as_ref(),
            Some(&kept.public_id),
            "{name}"
        );

        // Everywhere: every live session of the account, and only of the account.
        let b_session = live_session(&store, &b).await;
        assert_eq!(
            store
                .revoke_every_session(&a, T0, &audit(Some(&a), "sign_out_everywhere"))
                .await
                .unwrap(),
            1,
            "{name}"
        );
        assert!(
            store.account_sessions(&a, T0).await.unwrap().is_empty(),
            "{name}"
        );
        assert!(
            stored_session(&store, &b_session)
                .await
                .unwrap()
                .revoked_at
                .is_none(),
            "{name}"
        );
    }
}
