//! `latchkey account disable` / `enable` and `account list`: a disabled account keeps no
//! session and gets none, whatever was under way when it was disabled.

use super::races::{RACERS, race};
use super::*;

async fn event_count(store: &Arc<dyn Store>, id: &AccountId, event: &str) -> usize {
    store
        .recent_audit(Some(id), 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.event == event)
        .count()
}

async fn mail_to(store: &Arc<dyn Store>, to: &str) -> usize {
    store
        .outbox_status(10_000)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.recipient == to)
        .count()
}

/// A sign-in whose password was right records its attempt (a code is awaited next);
/// whether it was recorded.
async fn password_checked(store: &Arc<dyn Store>, id: &AccountId, attempt: &SecretToken) -> bool {
    store
        .start_sign_in_attempt(
            &attempt.hash(),
            id,
            generation(store, id).await,
            "*",
            T0,
            T0 + latchkey_domain::Duration::minutes(10),
            &audit(Some(id), "sign_in_password_verified"),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_disable_ends_everything_under_way_and_no_session_is_issued_until_enable() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 301, "off@example.com").await;
        live_session(&store, &id).await;
        live_session(&store, &id).await;
        let attempt = SecretToken::generate();
        assert!(password_checked(&store, &id, &attempt).await, "{name}");
        let (reset, stored) = token(&id, TokenPurpose::ResetPassword, T0);
        store.insert_token(&stored).await.unwrap();

        let disabled = store
            .disable_account(
                &id,
                T0,
                &[outbox("disabled@example.com")],
                &audit(Some(&id), "operator_disabled_account"),
            )
            .await
            .unwrap();
        assert_eq!(disabled, Some(2), "{name}: both sessions revoked");
        assert!(
            store.account_sessions(&id, T0).await.unwrap().is_empty(),
            "{name}"
        );
        assert!(
            store
                .sign_in_attempt(&attempt.hash(), T0)
                .await
                .unwrap()
                .is_none(),
            "{name}: the sign-in waiting for its code ended"
        );
        assert!(
            store
                .email_token_account(&reset.hash(), TokenPurpose::ResetPassword, T0)
                .await
                .unwrap()
                .is_none(),
            "{name}: the mailed reset link no longer works"
        );
        let account = store.account_by_id(&id).await.unwrap().unwrap();
        assert_eq!(account.disabled_at, Some(T0), "{name}");
        assert_eq!(mail_to(&store, "disabled@example.com").await, 1, "{name}");
        assert_eq!(
            event_count(&store, &id, "operator_disabled_account").await,
            1,
            "{name}"
        );

        // Twice: nothing written the second time.
        assert_eq!(
            store
                .disable_account(
                    &id,
                    T0,
                    &[outbox("disabled@example.com")],
                    &audit(Some(&id), "operator_disabled_account"),
                )
                .await
                .unwrap(),
            None,
            "{name}"
        );
        assert_eq!(mail_to(&store, "disabled@example.com").await, 1, "{name}");
        assert_eq!(
            event_count(&store, &id, "operator_disabled_account").await,
            1,
            "{name}"
        );

        // Every way to a session is refused, and writes nothing of its transaction.
        let sign_ins = event_count(&store, &id, "sign_in").await;
        let (_, new) = session(&id);
        let refused = store
            .start_session(
                &new,
                generation(&store, &id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::AccountDisabled)),
            "{name}: {refused:?}"
        );
        assert!(
            stored_session(&store, &new.token_hash).await.is_none(),
            "{name}"
        );
        assert_eq!(
            event_count(&store, &id, "sign_in").await,
            sign_ins,
            "{name}"
        );
        // Nor does anything begin that would lead to one, or to a new password.
        let attempt = SecretToken::generate();
        assert!(
            !password_checked(&store, &id, &attempt).await,
            "{name}: no sign-in attempt"
        );
        let (_, link) = token(&id, TokenPurpose::ResetPassword, T0);
        assert!(
            !store
                .issue_email_token(
                    &link,
                    (3, T0 - latchkey_domain::Duration::hours(1)),
                    &[outbox("reset@example.com")],
                    &audit(Some(&id), "password_reset_requested"),
                )
                .await
                .unwrap(),
            "{name}: no reset link"
        );
        assert_eq!(mail_to(&store, "reset@example.com").await, 0, "{name}");
        assert!(
            matches!(
                store.insert_token(&link).await,
                Err(StoreError::AccountDisabled)
            ),
            "{name}"
        );
        let flow = NewRecoveryFlow {
            id: latchkey_domain::FlowId::new("rec-disabled".to_owned()),
            attempt_hash: attempt.hash(),
            source: "*".to_owned(),
            started_from: "192.0.2.9".to_owned(),
            started_agent: "test".to_owned(),
            token_hash: SecretToken::generate().hash(),
            account_id: id.clone(),
            cancel_token_hash: SecretToken::generate().hash(),
            created_at: T0,
            expires_at: T0 + latchkey_domain::Duration::minutes(30),
        };
        assert!(
            matches!(
                store
                    .create_recovery_flow(&flow, (5, T0), &[], &audit(Some(&id), "x"))
                    .await,
                Err(StoreError::AccountDisabled)
            ),
            "{name}: no recovery flow"
        );

        assert!(
            store
                .enable_account(
                    &id,
                    &[outbox("enabled@example.com")],
                    &audit(Some(&id), "operator_enabled_account"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .enable_account(
                    &id,
                    &[outbox("enabled@example.com")],
                    &audit(Some(&id), "operator_enabled_account"),
                )
                .await
                .unwrap(),
            "{name}: enabling an enabled account does nothing"
        );
        assert_eq!(mail_to(&store, "enabled@example.com").await, 1, "{name}");
        assert_eq!(
            store.account_by_id(&id).await.unwrap().unwrap().disabled_at,
            None,
            "{name}"
        );
        // Enabling ends nothing and restores nothing: the revoked sessions stay revoked,
        // and a new sign-in is issued again.
        assert!(
            store.account_sessions(&id, T0).await.unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(
            store
                .start_session(
                    &new,
                    generation(&store, &id).await,
                    "*",
                    &audit(Some(&id), "sign_in")
                )
                .await
                .unwrap(),
            SessionStart::Started,
            "{name}"
        );
    }
}

#[derive(Debug)]
enum Racer {
    Disabled(Option<u64>),
    Started,
    Refused,
}

/// Sign-ins past their checks race the disable: each one either committed before it (and
/// is revoked by it) or is refused; none is left signed in.
#[tokio::test]
async fn sign_ins_racing_a_disable_leave_no_live_session() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 302, "race-off@example.com").await;
        let generation = generation(&store, &id).await;
        let results = race(|n| {
            let store = Arc::clone(&store);
            let id = id.clone();
            async move {
                if n == RACERS / 2 {
                    return Racer::Disabled(
                        store
                            .disable_account(
                                &id,
                                T0,
                                &[],
                                &audit(Some(&id), "operator_disabled_account"),
                            )
                            .await
                            .unwrap(),
                    );
                }
                let (_, new) = session(&id);
                match store
                    .start_session(&new, generation, "*", &audit(Some(&id), "sign_in"))
                    .await
                {
                    Ok(SessionStart::Started) => Racer::Started,
                    Err(StoreError::AccountDisabled) => Racer::Refused,
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        let started = results
            .iter()
            .filter(|r| matches!(r, Racer::Started))
            .count() as u64;
        let revoked = results
            .iter()
            .find_map(|r| match r {
                Racer::Disabled(revoked) => Some(*revoked),
                _ => None,
            })
            .flatten();
        assert_eq!(
            revoked,
            Some(started),
            "{name}: the disable revoked exactly the sessions that committed before it"
        );
        assert!(
            store.account_sessions(&id, T0).await.unwrap().is_empty(),
            "{name}: {results:?}"
        );
    }
}

#[tokio::test]
async fn accounts_are_listed_in_email_order_a_page_at_a_time_with_their_counts() {
    for Backend { name, store, .. } in backends().await {
        let carol = active_account(&store, 313, "carol@example.com").await;
        let alice = active_account(&store, 311, "alice@example.com").await;
        let bob = active_account(&store, 312, "bob@example.com").await;
        live_session(&store, &alice).await;
        live_session(&store, &alice).await;
        store
            .disable_account(&carol, T0, &[], &audit(Some(&carol), "x"))
            .await
            .unwrap();
        let page = |after: Option<&'static str>, limit| AccountPage {
            after,
            limit,
            now: T0,
            seen_since: T0 - latchkey_domain::Duration::hours(1),
        };
        let first = store.list_accounts(&page(None, 2)).await.unwrap();
        let ids: Vec<_> = first.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids, [alice.clone(), bob.clone()], "{name}");
        assert_eq!(first[0].live_sessions, 2, "{name}");
        assert_eq!(first[0].last_sign_in_at, Some(T0), "{name}");
        assert_eq!(first[1].live_sessions, 0, "{name}");
        assert_eq!(first[1].last_sign_in_at, None, "{name}");
        assert_eq!(first[0].disabled_at, None, "{name}");
        let rest = store
            .list_accounts(&page(Some("bob@example.com"), 2))
            .await
            .unwrap();
        assert_eq!(rest.len(), 1, "{name}");
        assert_eq!(rest[0].id, carol, "{name}");
        assert_eq!(rest[0].disabled_at, Some(T0), "{name}");
        // Sessions idle since before `seen_since` no longer count.
        let later = AccountPage {
            seen_since: T0 + latchkey_domain::Duration::seconds(1),
            ..page(None, 1)
        };
        assert_eq!(
            store.list_accounts(&later).await.unwrap()[0].live_sessions,
            0,
            "{name}"
        );
    }
}

/// A sign-up the operator disabled keeps its address: a new sign-up a day later does not
/// delete it and take the address over.
#[tokio::test]
async fn a_disabled_sign_up_is_not_swept_away_by_a_new_one() {
    for Backend { name, store, .. } in backends().await {
        let pending = account(303, "abuse@example.com");
        store
            .insert_account(&pending, None, &[], &audit(Some(&pending.id), "sign_up"))
            .await
            .unwrap();
        let later = T0 + latchkey_domain::Duration::hours(48);
        store
            .disable_account(&pending.id, T0, &[], &audit(Some(&pending.id), "x"))
            .await
            .unwrap();
        assert!(
            !store
                .delete_unverified_account(&pending.email, later)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store.account_by_id(&pending.id).await.unwrap().is_some(),
            "{name}"
        );
        store
            .enable_account(&pending.id, &[], &audit(Some(&pending.id), "x"))
            .await
            .unwrap();
        assert!(
            store
                .delete_unverified_account(&pending.email, later)
                .await
                .unwrap(),
            "{name}: an enabled abandoned sign-up is swept as before"
        );
    }
}
