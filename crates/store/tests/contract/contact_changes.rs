//! Contact changes: one waiting per contact, applied once with its proof, put back by the
//! old contact's link together with every other change since.

use super::races::{race, winners};
use super::*;
use latchkey_domain::Duration;
use latchkey_domain::contact_change::ContactKind;

fn change(account: &AccountId, n: usize, kind: ContactKind, value: &str) -> NewContactChange {
    NewContactChange {
        id: format!("chg-{n}"),
        account_id: account.clone(),
        kind,
        new_value: value.to_owned(),
        proof_hash: (kind == ContactKind::Email).then(|| TokenHash(format!("proof-{n}"))),
        requested_from: "127.0.0.1".to_owned(),
        created_at: T0,
        expires_at: T0 + Duration::hours(1),
    }
}

async fn begin(
    store: &Arc<dyn Store>,
    asker: &TokenHash,
    change: &NewContactChange,
) -> ChangeStart {
    store
        .begin_contact_change(
            change,
            asker,
            (100, Timestamp(0)),
            &[],
            &audit(Some(&change.account_id), "contact_change_requested"),
        )
        .await
        .unwrap()
}

/// `This wasn't me` through `token` at `now`; the notices go to the addresses it names.
async fn revert(store: &Arc<dyn Store>, token: &str, now: Timestamp) -> Option<ChangeReverted> {
    store
        .revert_contact_change(
            &RevertChange {
                revert_hash: &TokenHash(token.to_owned()),
                revoked_password_hash: "$argon2id$revoked",
                now,
            },
            &|reverted: &ChangeReverted| vec![outbox(&reverted.replaced_email)],
            &audit(None, "contact_change_reverted"),
        )
        .await
        .unwrap()
}

async fn apply(
    store: &Arc<dyn Store>,
    change: &NewContactChange,
    expected_old: &str,
    proof: Option<&str>,
    revert: &str,
) -> ChangeApplied {
    let proof = proof.map(|p| TokenHash(p.to_owned()));
    store
        .apply_contact_change(
            &ApplyChange {
                change_id: &change.id,
                account_id: &change.account_id,
                expected_old,
                proof_hash: proof.as_ref(),
                revert_hash: &TokenHash(revert.to_owned()),
                revert_expires_at: T0 + Duration::hours(24 * 7),
                now: T0 + Duration::minutes(1),
            },
            &[outbox("old@example.com")],
            &audit(Some(&change.account_id), "contact_changed"),
        )
        .await
        .unwrap()
}

async fn account_now(store: &Arc<dyn Store>, id: &AccountId) -> AccountRecord {
    store.account_by_id(id).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_change_needs_a_live_asker_and_a_free_address_and_replaces_the_one_waiting() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 70, "old@example.com").await;
        active_account(&store, 71, "taken@example.com").await;
        let asker = live_session(&store, &id).await;
        assert_eq!(
            begin(
                &store,
                &TokenHash("nobody".into()),
                &change(&id, 1, ContactKind::Email, "new@example.com")
            )
            .await,
            ChangeStart::SessionGone,
            "{name}"
        );
        assert_eq!(
            begin(
                &store,
                &asker,
                &change(&id, 2, ContactKind::Email, "taken@example.com")
            )
            .await,
            ChangeStart::EmailTaken,
            "{name}"
        );
        let first = change(&id, 3, ContactKind::Email, "first@example.com");
        let second = change(&id, 4, ContactKind::Email, "second@example.com");
        assert_eq!(
            begin(&store, &asker, &first).await,
            ChangeStart::Started,
            "{name}"
        );
        assert_eq!(
            begin(&store, &asker, &second).await,
            ChangeStart::Started,
            "{name}"
        );
        let waiting = store
            .pending_contact_change(&id, ContactKind::Email, T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(waiting.new_value, "second@example.com", "{name}");
        // The replaced change's link proves nothing any more.
        assert!(
            store
                .contact_change_by_proof(&TokenHash("proof-3".into()), T0)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert_eq!(
            apply(&store, &first, "old@example.com", Some("proof-3"), "r3").await,
            ChangeApplied::Gone,
            "{name}"
        );
        // Expired: gone too.
        assert!(
            store
                .pending_contact_change(&id, ContactKind::Email, T0 + Duration::hours(2))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn racing_requests_leave_one_change_waiting_and_racing_confirmations_apply_it_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 72, "old@example.com").await;
        let asker = live_session(&store, &id).await;
        let started = race(|n| {
            let (store, id, asker) = (store.clone(), id.clone(), asker.clone());
            async move {
                begin(
                    &store,
                    &asker,
                    &change(
                        &id,
                        100 + n,
                        ContactKind::Email,
                        &format!("new{n}@example.com"),
                    ),
                )
                .await
            }
        })
        .await;
        assert!(
            started.iter().all(|s| *s == ChangeStart::Started),
            "{name}: {started:?}"
        );
        let waiting = store
            .pending_contact_change(&id, ContactKind::Email, T0)
            .await
            .unwrap()
            .unwrap();
        let n: usize = waiting.id.trim_start_matches("chg-").parse().unwrap();
        let winner = change(&id, n, ContactKind::Email, &waiting.new_value);
        let applied = race(|r| {
            let (store, winner) = (store.clone(), winner.clone());
            async move {
                apply(
                    &store,
                    &winner,
                    "old@example.com",
                    Some(&format!("proof-{n}")),
                    &format!("revert-{r}"),
                )
                .await
            }
        })
        .await;
        assert_eq!(
            winners(&applied, |a| *a == ChangeApplied::Applied).len(),
            1,
            "{name}: {applied:?}"
        );
        let account = account_now(&store, &id).await;
        assert_eq!(account.email.as_str(), waiting.new_value, "{name}");
        assert_eq!(
            account.email_changed_at,
            Some(T0 + Duration::minutes(1)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_phone_change_applies_only_once_its_call_is_answered() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 73, "old@example.com").await;
        let asker = live_session(&store, &id).await;
        let phone = change(&id, 5, ContactKind::Phone, "+14155552671");
        assert_eq!(
            begin(&store, &asker, &phone).await,
            ChangeStart::Started,
            "{name}"
        );
        assert_eq!(
            apply(&store, &phone, "+442079460958", None, "r5").await,
            ChangeApplied::Gone,
            "{name}: not proven"
        );
        // The verification call to the new number, answered with the right digits.
        let call = NewCall {
            id: latchkey_domain::CallId::new("call-chg-5"),
            account_id: id.clone(),
            purpose: CallPurpose::ContactChange,
            flow_id: phone.id.clone(),
            to_number: phone.new_value.clone(),
            client_network: "127.0.0.1".into(),
            code_hash: "hash".into(),
            code_expires_at: T0 + Duration::minutes(10),
            created_at: T0,
        };
        assert_eq!(
            store
                .place_call(&call, None, &[], &[], &audit(Some(&id), "x"))
                .await
                .unwrap(),
            CallPlacement::Placed,
            "{name}"
        );
        assert!(
            store.bind_call(&call.id, "CA1", T0).await.unwrap(),
            "{name}"
        );
        assert!(
            store
                .verify_call(&call.id, "CA1", T0, &audit(Some(&id), "x"))
                .await
                .unwrap(),
            "{name}"
        );
        // Applied over the number the caller saw only.
        assert_eq!(
            apply(&store, &phone, "+440000000000", None, "r5").await,
            ChangeApplied::Gone,
            "{name}"
        );
        assert_eq!(
            apply(&store, &phone, "+442079460958", None, "r5").await,
            ChangeApplied::Applied,
            "{name}"
        );
        let account = account_now(&store, &id).await;
        assert_eq!(account.phone.as_str(), "+14155552671", "{name}");
        assert!(account.phone_changed_at.is_some(), "{name}");
    }
}

#[tokio::test]
async fn this_wasnt_me_puts_back_every_change_since_signs_out_and_works_once() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 74, "old@example.com").await;
        let asker = live_session(&store, &id).await;
        // The owner allowed an application long before; the intruder, signed in, another.
        super::oidc::consents_given(&store, &id, T0 - Duration::hours(1), T0).await;
        // The intruder changes the address, then the number (its notice goes to their address).
        let email = change(&id, 6, ContactKind::Email, "evil@example.com");
        begin(&store, &asker, &email).await;
        assert_eq!(
            apply(
                &store,
                &email,
                "old@example.com",
                Some("proof-6"),
                "revert-email"
            )
            .await,
            ChangeApplied::Applied
        );
        let phone = change(&id, 7, ContactKind::Phone, "+14155552671");
        begin(&store, &asker, &phone).await;
        sqlx_verify_phone_change(&store, &id, &phone).await;
        assert_eq!(
            apply(&store, &phone, "+442079460958", None, "revert-phone").await,
            ChangeApplied::Applied
        );
        // And starts another one.
        begin(
            &store,
            &asker,
            &change(&id, 8, ContactKind::Email, "evil2@example.com"),
        )
        .await;

        let later = T0 + Duration::hours(1);
        assert!(
            store
                .contact_revert_is_live(&TokenHash("revert-email".into()), later)
                .await
                .unwrap()
        );
        let reverted = revert(&store, "revert-email", later).await.unwrap();
        assert_eq!(reverted.account_id, id, "{name}");
        assert_eq!(
            reverted.restored,
            [
                (ContactKind::Email, "old@example.com".to_owned()),
                (ContactKind::Phone, "+442079460958".to_owned())
            ],
            "{name}"
        );
        let account = account_now(&store, &id).await;
        assert_eq!(
            (account.email.as_str(), account.phone.as_str()),
            ("old@example.com", "+442079460958"),
            "{name}"
        );
        assert_eq!(
            (account.email_changed_at, account.phone_changed_at),
            (Some(later), Some(later)),
            "{name}: put back contacts cool off like new ones"
        );
        assert_eq!(
            account.password_hash, "$argon2id$revoked",
            "{name}: password disabled"
        );
        assert_eq!(reverted.replaced_email, "evil@example.com", "{name}");
        assert!(
            stored_session(&store, &asker)
                .await
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}: signed out"
        );
        assert!(
            store
                .pending_contact_change(&id, ContactKind::Email, later)
                .await
                .unwrap()
                .is_none(),
            "{name}: waiting change cancelled"
        );
        assert_eq!(
            super::oidc::consents_left(&store, &id).await,
            (true, false),
            "{name}: the intruder's consent is withdrawn, the owner's kept"
        );
        // The audit record names the account, though only the token did.
        let records = store.recent_audit(Some(&id), 1).await.unwrap();
        assert_eq!(records[0].event, "contact_change_reverted", "{name}");
        // Once only; the other change's link is spent with it.
        for token in ["revert-email", "revert-phone"] {
            assert!(
                revert(&store, token, later).await.is_none(),
                "{name}: {token}"
            );
        }
    }
}

#[tokio::test]
async fn a_revert_link_expires() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 75, "old@example.com").await;
        let asker = live_session(&store, &id).await;
        let email = change(&id, 9, ContactKind::Email, "new@example.com");
        begin(&store, &asker, &email).await;
        apply(
            &store,
            &email,
            "old@example.com",
            Some("proof-9"),
            "revert-9",
        )
        .await;
        let week_later = T0 + Duration::hours(24 * 7);
        assert!(
            !store
                .contact_revert_is_live(&TokenHash("revert-9".into()), week_later)
                .await
                .unwrap()
        );
        assert!(
            revert(&store, "revert-9", week_later).await.is_none(),
            "{name}"
        );
        assert_eq!(
            account_now(&store, &id).await.email.as_str(),
            "new@example.com",
            "{name}"
        );
    }
}

/// Marks a phone change proven the way its call does.
async fn sqlx_verify_phone_change(
    store: &Arc<dyn Store>,
    id: &AccountId,
    phone: &NewContactChange,
) {
    let call = NewCall {
        id: latchkey_domain::CallId::new(format!("call-{}", phone.id)),
        account_id: id.clone(),
        purpose: CallPurpose::ContactChange,
        flow_id: phone.id.clone(),
        to_number: phone.new_value.clone(),
        client_network: "127.0.0.1".into(),
        code_hash: "hash".into(),
        code_expires_at: T0 + Duration::minutes(10),
        created_at: T0,
    };
    store
        .place_call(&call, None, &[], &[], &audit(Some(id), "x"))
        .await
        .unwrap();
    store.bind_call(&call.id, "CA2", T0).await.unwrap();
    assert!(
        store
            .verify_call(&call.id, "CA2", T0, &audit(Some(id), "x"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_revert_undoes_its_change_and_later_ones_not_earlier_ones() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 76, "first@example.com").await;
        let asker = live_session(&store, &id).await;
        // The owner moves off an old address on purpose …
        let owner = change(&id, 10, ContactKind::Email, "owner@example.com");
        begin(&store, &asker, &owner).await;
        apply(
            &store,
            &owner,
            "first@example.com",
            Some("proof-10"),
            "revert-owner",
        )
        .await;
        // … and later an intruder changes the phone number.
        let later = NewContactChange {
            created_at: T0 + Duration::minutes(5),
            ..change(&id, 11, ContactKind::Phone, "+14155552671")
        };
        begin(&store, &asker, &later).await;
        sqlx_verify_phone_change(&store, &id, &later).await;
        let applied = store
            .apply_contact_change(
                &ApplyChange {
                    change_id: &later.id,
                    account_id: &id,
                    expected_old: "+442079460958",
                    proof_hash: None,
                    revert_hash: &TokenHash("revert-phone".to_owned()),
                    revert_expires_at: T0 + Duration::hours(24 * 7),
                    now: T0 + Duration::minutes(6),
                },
                &[],
                &audit(Some(&id), "contact_changed"),
            )
            .await
            .unwrap();
        assert_eq!(applied, ChangeApplied::Applied, "{name}");
        let reverted = revert(&store, "revert-phone", T0 + Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!(
            reverted.restored,
            [(ContactKind::Phone, "+442079460958".to_owned())],
            "{name}: the earlier address change stays"
        );
        assert_eq!(
            account_now(&store, &id).await.email.as_str(),
            "owner@example.com",
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_sign_up_that_took_the_freed_address_does_not_block_the_revert() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 77, "own@example.com").await;
        let asker = live_session(&store, &id).await;
        let email = change(&id, 12, ContactKind::Email, "evil@example.com");
        begin(&store, &asker, &email).await;
        apply(
            &store,
            &email,
            "own@example.com",
            Some("proof-12"),
            "revert-12",
        )
        .await;
        // The intruder signs up with the freed address (never verified).
        store
            .insert_account(
                &account(78, "own@example.com"),
                None,
                &[],
                &audit(None, "sign_up"),
            )
            .await
            .unwrap();
        let reverted = revert(&store, "revert-12", T0 + Duration::minutes(2))
            .await
            .unwrap();
        assert_eq!(
            reverted.restored,
            [(ContactKind::Email, "own@example.com".to_owned())],
            "{name}"
        );
        assert_eq!(
            account_now(&store, &id).await.email.as_str(),
            "own@example.com",
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_account_may_ask_for_so_many_changes_a_day() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 79, "budget@example.com").await;
        let asker = live_session(&store, &id).await;
        let ask = |n: usize| {
            let (store, id, asker) = (store.clone(), id.clone(), asker.clone());
            async move {
                store
                    .begin_contact_change(
                        &change(
                            &id,
                            200 + n,
                            ContactKind::Email,
                            &format!("b{n}@example.com"),
                        ),
                        &asker,
                        (3, T0 - Duration::hours(24)),
                        &[],
                        &audit(Some(&id), "contact_change_requested"),
                    )
                    .await
                    .unwrap()
            }
        };
        let results = race(ask).await;
        assert_eq!(
            winners(&results, |r| *r == ChangeStart::Started).len(),
            3,
            "{name}: {results:?}"
        );
        assert!(
            results
                .iter()
                .all(|r| matches!(r, ChangeStart::Started | ChangeStart::OverBudget)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_new_address_ends_the_links_sent_to_the_old_one() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 80, "links@example.com").await;
        let asker = live_session(&store, &id).await;
        let (reset, record) = token(&id, TokenPurpose::ResetPassword, T0);
        store.insert_token(&record).await.unwrap();
        assert!(
            store
                .email_token_account(&reset.hash(), TokenPurpose::ResetPassword, T0)
                .await
                .unwrap()
                .is_some(),
            "{name}: the reset link works before the change"
        );
        let email = change(&id, 13, ContactKind::Email, "links.new@example.com");
        begin(&store, &asker, &email).await;
        apply(
            &store,
            &email,
            "links@example.com",
            Some("proof-13"),
            "revert-13",
        )
        .await;
        assert!(
            store
                .email_token_account(
                    &reset.hash(),
                    TokenPurpose::ResetPassword,
                    T0 + Duration::minutes(2)
                )
                .await
                .unwrap()
                .is_none(),
            "{name}: the reset link in the old inbox is dead"
        );
    }
}

#[tokio::test]
async fn changes_in_one_second_are_undone_in_the_order_they_applied() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 81, "orig@example.com").await;
        let asker = live_session(&store, &id).await;
        // Two address changes within the same second (the clock has whole seconds).
        let first = change(&id, 14, ContactKind::Email, "step1@example.com");
        begin(&store, &asker, &first).await;
        apply(
            &store,
            &first,
            "orig@example.com",
            Some("proof-14"),
            "revert-14",
        )
        .await;
        let second = change(&id, 15, ContactKind::Email, "step2@example.com");
        begin(&store, &asker, &second).await;
        apply(
            &store,
            &second,
            "step1@example.com",
            Some("proof-15"),
            "revert-15",
        )
        .await;
        let reverted = revert(&store, "revert-14", T0 + Duration::minutes(2))
            .await
            .unwrap();
        assert_eq!(
            reverted.restored,
            [(ContactKind::Email, "orig@example.com".to_owned())],
            "{name}: what the first change replaced, not what the second did"
        );
        assert_eq!(reverted.replaced_email, "step2@example.com", "{name}");
    }
}

#[tokio::test]
async fn an_undo_that_cannot_restore_the_address_changes_nothing() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 82, "mine@example.com").await;
        let asker = live_session(&store, &id).await;
        let email = change(&id, 16, ContactKind::Email, "theirs@example.com");
        begin(&store, &asker, &email).await;
        apply(
            &store,
            &email,
            "mine@example.com",
            Some("proof-16"),
            "revert-16",
        )
        .await;
        // Another account has verified the freed address meanwhile.
        active_account(&store, 83, "mine@example.com").await;
        let refused = store
            .revert_contact_change(
                &RevertChange {
                    revert_hash: &TokenHash("revert-16".to_owned()),
                    revoked_password_hash: "$argon2id$revoked",
                    now: T0 + Duration::minutes(2),
                },
                &|_: &ChangeReverted| Vec::new(),
                &audit(None, "contact_change_reverted"),
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{name}: {refused:?}"
        );
        let account = account_now(&store, &id).await;
        assert_eq!(account.email.as_str(), "theirs@example.com", "{name}");
        assert_ne!(
            account.password_hash, "$argon2id$revoked",
            "{name}: nothing undone"
        );
        assert!(
            store
                .contact_revert_is_live(
                    &TokenHash("revert-16".to_owned()),
                    T0 + Duration::minutes(2)
                )
                .await
                .unwrap(),
            "{name}: the link still works"
        );
    }
}
