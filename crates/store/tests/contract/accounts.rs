//! Accounts and their emailed links.

use super::*;

#[tokio::test]
async fn accounts_are_found_by_email_and_id_and_emails_are_unique() {
    for Backend { name, store, .. } in backends().await {
        let new = account(1, "ann@example.com");
        let (_, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(
                &new,
                Some(&stored),
                &[outbox("ann@example.com")],
                &audit(Some(&new.id), "sign_up"),
            )
            .await
            .unwrap();
        let by_email = store
            .account_by_email(&new.email)
            .await
            .unwrap()
            .expect(name);
        assert_eq!(by_email.id, new.id, "{name}");
        assert_eq!(
            by_email.status,
            AccountStatus::PendingVerification,
            "{name}"
        );
        assert_eq!(by_email.phone.as_str(), "+442079460958", "{name}");
        let by_id = store.account_by_id(&new.id).await.unwrap().expect(name);
        assert_eq!(by_id.email, new.email, "{name}");

        let duplicate_email = account(2, "ann@example.com");
        let err = store
            .insert_account(
                &duplicate_email,
                None,
                &[outbox("x")],
                &audit(None, "sign_up"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("email")),
            "{name}: {err:?}"
        );
        let duplicate_id = account(1, "bob@example.com");
        let err = store
            .insert_account(&duplicate_id, None, &[], &audit(None, "sign_up"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("account id")),
            "{name}: {err:?}"
        );

        // The failed inserts left nothing behind: one message queued, one audit line.
        assert_eq!(store.outbox_status(10).await.unwrap().len(), 1, "{name}");
        assert_eq!(
            store.recent_audit(None, 10).await.unwrap().len(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_verification_link_is_consumed_exactly_once_even_under_concurrency() {
    for Backend { name, store, .. } in backends().await {
        // The phone is already verified, so the email link is the last step.
        let mut new = account(3, "cy@example.com");
        new.phone_verified_at = Some(T0);
        let (secret, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(&new, Some(&stored), &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::VerifyEmail, T0)
                .await
                .unwrap(),
            Some(new.id.clone()),
            "{name}"
        );
        // A token is only good for its own purpose.
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::ResetPassword, T0)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        let attempts: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let hash = secret.hash();
                let id = new.id.clone();
                tokio::spawn(async move {
                    store
                        .verify_email(&hash, &id, T0, None, &audit(Some(&id), "email_verified"))
                        .await
                })
            })
            .collect();
        let mut successes = 0;
        for attempt in attempts {
            if attempt.await.unwrap().unwrap() {
                successes += 1;
            }
        }
        assert_eq!(successes, 1, "{name}");
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Active, "{name}");
        assert_eq!(account.email_verified_at, Some(T0), "{name}");
        assert_eq!(
            store
                .email_token_account(&secret.hash(), TokenPurpose::VerifyEmail, T0)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        // Only the winning attempt wrote an audit line (plus the sign-up).
        let events = store.recent_audit(Some(&new.id), 100).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event == "email_verified")
                .count(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_account_is_active_only_once_email_and_phone_are_verified() {
    for Backend { name, store, .. } in backends().await {
        let new = account(30, "both@example.com");
        let (secret, stored) = token(&new.id, TokenPurpose::VerifyEmail, T0);
        store
            .insert_account(&new, Some(&stored), &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        let (next, next_stored) = token(&new.id, TokenPurpose::ContinueSignUp, T0);
        assert!(
            store
                .verify_email(
                    &secret.hash(),
                    &new.id,
                    T0,
                    Some(&next_stored),
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap()
        );
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.email_verified_at, Some(T0), "{name}");
        assert_eq!(
            account.status,
            AccountStatus::PendingVerification,
            "{name}: the phone is next"
        );
        assert_eq!(
            store
                .email_token_account(&next.hash(), TokenPurpose::ContinueSignUp, T0)
                .await
                .unwrap(),
            Some(new.id.clone()),
            "{name}"
        );
        let call = NewCall {
            id: latchkey_domain::CallId::new("call-1"),
            account_id: new.id.clone(),
            purpose: CallPurpose::SignUp,
            flow_id: "sign-up".into(),
            to_number: "+442079460958".into(),
            client_network: "192.0.2.1".into(),
            code_hash: "hash".into(),
            code_expires_at: T0 + latchkey_domain::Duration::minutes(10),
            created_at: T0,
        };
        assert_eq!(
            store
                .place_call(
                    &call,
                    None,
                    &[],
                    &[outbox("+442079460958")],
                    &audit(Some(&new.id), "x"),
                )
                .await
                .unwrap(),
            CallPlacement::Placed
        );
        assert!(
            !store
                .verify_call(
                    &latchkey_domain::CallId::new("call-1"),
                    "CA1",
                    T0,
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap(),
            "{name}: not placed yet"
        );
        assert!(
            store
                .bind_call(&latchkey_domain::CallId::new("call-1"), "CA1", T0)
                .await
                .unwrap()
        );
        assert!(
            !store
                .bind_call(&latchkey_domain::CallId::new("call-1"), "CA2", T0)
                .await
                .unwrap(),
            "{name}: bound once"
        );
        assert!(
            !store
                .verify_call(
                    &latchkey_domain::CallId::new("call-1"),
                    "CA2",
                    T0,
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap(),
            "{name}: another call's id"
        );
        assert!(
            store
                .verify_call(
                    &latchkey_domain::CallId::new("call-1"),
                    "CA1",
                    T0,
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            !store
                .verify_call(
                    &latchkey_domain::CallId::new("call-1"),
                    "CA1",
                    T0,
                    &audit(Some(&new.id), "x")
                )
                .await
                .unwrap(),
            "{name}: one-shot"
        );
        let account = store.account_by_id(&new.id).await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Active, "{name}");
        assert_eq!(account.phone_verified_at, Some(T0), "{name}");
    }
}

#[tokio::test]
async fn reset_links_stay_valid_when_more_are_asked_for_within_a_budget_and_expire() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 4, "di@example.com").await;
        let budget = (3, T0);
        let (first, first_stored) = token(&id, TokenPurpose::ResetPassword, T0);
        assert!(
            store
                .issue_email_token(
                    &first_stored,
                    budget,
                    &[outbox("di@example.com")],
                    &audit(Some(&id), "x"),
                )
                .await
                .unwrap(),
            "{name}"
        );
        let later = T0 + latchkey_domain::Duration::minutes(1);
        let (second, second_stored) = token(&id, TokenPurpose::ResetPassword, later);
        assert!(
            store
                .issue_email_token(&second_stored, budget, &[], &audit(Some(&id), "x"))
                .await
                .unwrap()
        );
        // Asking again leaves the first link working.
        assert_eq!(
            store
                .email_token_account(&first.hash(), TokenPurpose::ResetPassword, later)
                .await
                .unwrap(),
            Some(id.clone()),
            "{name}"
        );
        // Sixteen more at once: exactly one fits the budget of three.
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                let (_, stored) = token(&id, TokenPurpose::ResetPassword, later);
                tokio::spawn(async move {
                    store
                        .issue_email_token(&stored, budget, &[], &audit(None, "x"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut issued = 0;
        for task in tasks {
            issued += usize::from(task.await.unwrap());
        }
        assert_eq!(issued, 1, "{name}");

        // The second expires after its lifetime.
        let expired = later + TokenPurpose::ResetPassword.lifetime();
        assert_eq!(
            store
                .email_token_account(&second.hash(), TokenPurpose::ResetPassword, expired)
                .await
                .unwrap(),
            None,
            "{name}"
        );
        assert!(
            !store
                .reset_password(
                    &second.hash(),
                    &id,
                    "new",
                    expired,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        // Using one link ends the others.
        assert!(
            store
                .reset_password(
                    &first.hash(),
                    &id,
                    "new",
                    later,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            store
                .email_token_account(&second.hash(), TokenPurpose::ResetPassword, later)
                .await
                .unwrap(),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_password_reset_changes_the_hash_clears_failures_and_revokes_every_session() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 5, "ed@example.com").await;
        let (s1, new1) = session(&id);
        store
            .start_session(
                &new1,
                generation(&store, &new1.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let (s2, new2) = session(&id);
        store
            .start_session(
                &new2,
                generation(&store, &new2.account_id).await,
                "*",
                &audit(Some(&id), "sign_in"),
            )
            .await
            .unwrap();
        let policy = latchkey_domain::lockout::LockoutPolicy::default();
        for source in ["*", "device:abc"] {
            let key = ThrottleKey {
                subject: id.as_str().to_owned(),
                source: source.to_owned(),
            };
            assert_eq!(
                store
                    .reserve_attempt(&reservation(&key), &policy, T0)
                    .await
                    .unwrap(),
                Reservation::Reserved { failures: 1 },
                "{name}"
            );
        }
        store
            .create_enrollment(&NewEnrollment {
                id: latchkey_domain::EnrollmentId::new("enr-r"),
                account_id: id.clone(),
                kind: latchkey_domain::mfa::DeviceKind::Virtual,
                secret_sealed: vec![9; 40],
                created_at: T0,
                expires_at: T0 + latchkey_domain::Duration::minutes(15),
            })
            .await
            .unwrap();
        let device = NewDevice {
            id: latchkey_domain::DeviceId::new("dev-r"),
            account_id: id.clone(),
            kind: latchkey_domain::mfa::DeviceKind::Virtual,
            name: "Phone".into(),
            secret_sealed: vec![7; 40],
            params: latchkey_domain::totp::TotpParams::VIRTUAL,
            last_used_step: 100,
            created_at: T0,
            serial: None,
            added_by: None,
        };
        store
            .assign_device(
                &latchkey_domain::EnrollmentId::new("enr-r"),
                &device,
                8,
                T0,
                &[],
                &audit(Some(&id), "x"),
            )
            .await
            .unwrap();
        let code_key = ThrottleKey {
            subject: id.as_str().to_owned(),
            source: "device:x".to_owned(),
        };
        store
            .reserve_attempt(
                &AttemptReservation {
                    key: &code_key,
                    judged: 0,
                    device: Some((&id, "dev-r")),
                    device_limit: 100,
                },
                &policy,
                T0,
            )
            .await
            .unwrap();
        assert_eq!(store.mfa_devices(&id).await.unwrap()[0].failed_attempts, 1);
        let (reset, stored) = token(&id, TokenPurpose::ResetPassword, T0);
        store
            .issue_email_token(&stored, (3, T0), &[], &audit(Some(&id), "x"))
            .await
            .unwrap();

        let later = T0 + latchkey_domain::Duration::minutes(5);
        assert!(
            store
                .reset_password(
                    &reset.hash(),
                    &id,
                    "$argon2id$new",
                    later,
                    &[outbox("ed@example.com")],
                    &audit(Some(&id), "password_reset")
                )
                .await
                .unwrap(),
            "{name}"
        );
        let account = store.account_by_id(&id).await.unwrap().unwrap();
        assert_eq!(account.password_hash, "$argon2id$new", "{name}");
        assert_eq!(account.password_changed_at, later, "{name}");
        assert_eq!(
            store.failure_counts(id.as_str()).await.unwrap(),
            vec![],
            "every counter of the account is cleared: {name}"
        );
        assert!(
            store
                .mfa_devices(&id)
                .await
                .unwrap()
                .iter()
                .all(|d| d.failed_attempts == 0),
            "the devices' own counts too: {name}"
        );
        for s in [s1, s2] {
            assert_eq!(
                stored_session(&store, &s.hash()).await.unwrap().revoked_at,
                Some(later),
                "{name}"
            );
        }
        // Single use.
        assert!(
            !store
                .reset_password(
                    &reset.hash(),
                    &id,
                    "$argon2id$again",
                    later,
                    &[],
                    &audit(Some(&id), "x")
                )
                .await
                .unwrap(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn only_old_unverified_sign_ups_can_be_replaced() {
    for Backend { name, store, .. } in backends().await {
        let pending = account(8, "hal@example.com");
        store
            .insert_account(&pending, None, &[], &audit(None, "sign_up"))
            .await
            .unwrap();
        assert!(
            !store
                .delete_unverified_account(&pending.email, T0)
                .await
                .unwrap(),
            "{name}: too recent"
        );
        let id = active_account(&store, 9, "ivy@example.com").await;
        let ivy = EmailAddress::parse("ivy@example.com").unwrap();
        assert!(
            !store
                .delete_unverified_account(&ivy, Timestamp(T0.0 + 1))
                .await
                .unwrap(),
            "{name}: active"
        );
        assert!(store.account_by_id(&id).await.unwrap().is_some(), "{name}");
        assert!(
            store
                .delete_unverified_account(&pending.email, Timestamp(T0.0 + 1))
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .account_by_email(&pending.email)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}
