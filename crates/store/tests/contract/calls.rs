//! Verification calls: budgets under concurrency, superseded calls, and each step of a
//! call (claimed, bound, an entry counted, verified) taken once under races.

use super::races::{RACERS, audit_details, race, racer_audit, read_i64, winners};
use super::*;
use latchkey_domain::Duration;

fn call(account: &AccountId, n: usize, purpose: CallPurpose, to: &str, net: &str) -> NewCall {
    NewCall {
        id: latchkey_domain::CallId::new(format!("call-{}-{n}", purpose.as_str())),
        account_id: account.clone(),
        purpose,
        flow_id: format!("flow-{n}"),
        to_number: to.into(),
        client_network: net.into(),
        code_hash: "hash".into(),
        code_expires_at: T0 + Duration::minutes(10),
        created_at: T0,
    }
}

fn limit(scope: CallScope, max: u32) -> CallLimit {
    CallLimit {
        scope,
        since: T0 - Duration::hours(1),
        max,
    }
}

#[tokio::test]
async fn sixteen_concurrent_calls_fit_a_budget_exactly() {
    for Backend { name, store, .. } in backends().await {
        let mut accounts = Vec::new();
        for i in 0..16 {
            accounts.push(active_account(&store, 60 + i, &format!("c{i}@example.com")).await);
        }
        // Sixteen sign-ups to one number from sixteen networks, at once: the
        // per-destination budget of three holds.
        let tasks: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(n, account)| {
                let store = Arc::clone(&store);
                let call = call(
                    account,
                    n,
                    CallPurpose::SignUp,
                    "+442079460958",
                    &format!("net-{n}"),
                );
                tokio::spawn(async move {
                    store
                        .place_call(
                            &call,
                            None,
                            &[limit(CallScope::Destination, 3)],
                            &[],
                            &audit(None, "sign_up_call_placed"),
                        )
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut placed = 0;
        for task in tasks {
            match task.await.unwrap() {
                CallPlacement::Placed => placed += 1,
                CallPlacement::OverBudget(CallScope::Destination) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(placed, 3, "{name}");
        // Sign-up's server budget is spent; recovery's is its own.
        assert_eq!(
            store
                .place_call(
                    &call(
                        &accounts[0],
                        99,
                        CallPurpose::SignUp,
                        "+14155552671",
                        "net-x"
                    ),
                    None,
                    &[limit(CallScope::Server, 3)],
                    &[],
                    &audit(None, "x"),
                )
                .await
                .unwrap(),
            CallPlacement::OverBudget(CallScope::Server),
            "{name}"
        );
        assert_eq!(
            store
                .place_call(
                    &call(
                        &accounts[1],
                        99,
                        CallPurpose::Recovery,
                        "+442079460958",
                        "net-x"
                    ),
                    None,
                    &[
                        limit(CallScope::Server, 3),
                        limit(CallScope::Destination, 3)
                    ],
                    &[],
                    &audit(None, "x"),
                )
                .await
                .unwrap(),
            CallPlacement::Placed,
            "{name}: sign-ups cannot starve recovery"
        );
    }
}

#[tokio::test]
async fn a_call_superseded_before_it_rang_costs_nothing() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 90, "sup@example.com").await;
        let budget = [limit(CallScope::Account, 2)];
        for n in 0..4 {
            // Each new sign-up call supersedes the previous, still queued one.
            assert_eq!(
                store
                    .place_call(
                        &call(&id, n, CallPurpose::SignUp, "+442079460958", "net"),
                        None,
                        &budget,
                        &[],
                        &audit(None, "x"),
                    )
                    .await
                    .unwrap(),
                CallPlacement::Placed,
                "{name}: call {n}"
            );
        }
        // One that rang (bound by the provider) counts, even once superseded.
        assert!(
            store
                .bind_call(&latchkey_domain::CallId::new("call-sign_up-3"), "CA3", T0)
                .await
                .unwrap()
        );
        store
            .place_call(
                &call(&id, 4, CallPurpose::SignUp, "+442079460958", "net"),
                None,
                &budget,
                &[],
                &audit(None, "x"),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .place_call(
                    &call(&id, 5, CallPurpose::SignUp, "+442079460958", "net"),
                    None,
                    &budget,
                    &[],
                    &audit(None, "x"),
                )
                .await
                .unwrap(),
            CallPlacement::OverBudget(CallScope::Account),
            "{name}"
        );
    }
}

/// Queues a sign-up call of `account`: its id.
async fn queued_sign_up_call(store: &Arc<dyn Store>, account: &AccountId) -> String {
    let call = call(account, 0, CallPurpose::SignUp, "+442079460958", "net");
    assert_eq!(
        store
            .place_call(&call, None, &[], &[], &audit(Some(account), "x"))
            .await
            .unwrap(),
        CallPlacement::Placed
    );
    call.id.to_string()
}

/// Queues a call for a recovery flow at step 2, claims it and binds it to the provider's
/// call, as the worker does: (call id, provider call id).
pub(super) async fn answered_recovery_call(
    store: &Arc<dyn Store>,
    account: &AccountId,
    flow_id: &str,
) -> (String, String) {
    let now = T0 + Duration::seconds(2);
    let call = NewCall {
        id: latchkey_domain::CallId::new(format!("call-{flow_id}")),
        flow_id: flow_id.to_owned(),
        created_at: now,
        ..call(account, 0, CallPurpose::Recovery, "+442079460958", "net")
    };
    assert_eq!(
        store
            .place_call(
                &call,
                Some(3),
                &[],
                &[],
                &audit(Some(account), "recovery_call_placed")
            )
            .await
            .unwrap(),
        CallPlacement::Placed
    );
    let provider = format!("CA-{}", call.id);
    assert!(store.claim_call(&call.id, now).await.unwrap());
    assert!(store.bind_call(&call.id, &provider, now).await.unwrap());
    (call.id.to_string(), provider)
}

async fn status(store: &Arc<dyn Store>, id: &str) -> CallStatus {
    store
        .call(&latchkey_domain::CallId::new(id))
        .await
        .unwrap()
        .expect("call")
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_workers_claiming_one_queued_call_dial_it_once() {
    for backend in backends().await {
        let (name, store) = (backend.name, Arc::clone(&backend.store));
        let id = active_account(&store, 310, "race-claim@example.com").await;
        let call = queued_sign_up_call(&store, &id).await;
        // Each worker claims at its own moment, so `placed_at` tells which one won.
        let at = |n: usize| T0 + Duration::seconds(1 + n as i64);
        let results = race(|n| {
            let (store, call) = (Arc::clone(&store), call.clone());
            async move {
                store
                    .claim_call(&latchkey_domain::CallId::new(&*call), at(n))
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |claimed| *claimed);
        assert_eq!(won.len(), 1, "{name}: one worker dials, got {won:?}");
        assert_eq!(status(&store, &call).await, CallStatus::Dialling, "{name}");
        assert_eq!(
            read_i64(&backend, "SELECT placed_at FROM calls WHERE id = $1", &call).await,
            Some(at(won[0]).0),
            "{name}: the winner's claim is the one stored"
        );
        assert!(
            !store
                .claim_call(&latchkey_domain::CallId::new(&*call), at(RACERS))
                .await
                .unwrap(),
            "{name}: claimed for good"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_bindings_of_one_call_keep_one_provider_call() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 311, "race-bind@example.com").await;
        let call = queued_sign_up_call(&store, &id).await;
        assert!(
            store
                .claim_call(&latchkey_domain::CallId::new(&*call), T0)
                .await
                .unwrap(),
            "{name}"
        );
        let provider = |n: usize| format!("CA-racer-{n}");
        let results = race(|n| {
            let (store, call, provider) = (Arc::clone(&store), call.clone(), provider(n));
            async move {
                store
                    .bind_call(
                        &latchkey_domain::CallId::new(&*call),
                        &provider,
                        T0 + Duration::seconds(1),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |bound| *bound);
        assert_eq!(won.len(), 1, "{name}: one binding, got {won:?}");
        let record = store
            .call(&latchkey_domain::CallId::new(&*call))
            .await
            .unwrap()
            .expect(name);
        assert_eq!(record.status, CallStatus::Placed, "{name}");
        assert_eq!(
            record.provider_call_id,
            Some(provider(won[0])),
            "{name}: the winner's provider call is the one stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_right_answers_verify_a_recovery_call_and_move_its_flow_once() {
    use latchkey_domain::recovery::RecoveryState;
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 312, "race-verify@example.com").await;
        let flow = super::recovery::flow_at_step_two(&store, &id, "rec-verify").await;
        let (call, provider) = answered_recovery_call(&store, &id, flow.id.as_str()).await;
        let now = T0 + Duration::seconds(5);
        assert!(
            store
                .reserve_digit_attempt(&latchkey_domain::CallId::new(&*call), 0, 3, now)
                .await
                .unwrap(),
            "{name}"
        );
        let results = race(|n| {
            let (store, id, call, provider) = (
                Arc::clone(&store),
                id.clone(),
                call.clone(),
                provider.clone(),
            );
            async move {
                store
                    .verify_call(
                        &latchkey_domain::CallId::new(&*call),
                        &provider,
                        now,
                        &racer_audit(&id, "phone_code", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |verified| *verified);
        assert_eq!(won.len(), 1, "{name}: one verification, got {won:?}");
        assert_eq!(status(&store, &call).await, CallStatus::Verified, "{name}");
        let record = store
            .recovery_flow(&flow.token_hash)
            .await
            .unwrap()
            .expect(name);
        assert_eq!(record.state, RecoveryState::PhoneVerified, "{name}");
        assert_eq!(
            audit_details(&store, &id, "phone_code").await,
            [format!("racer-{}", won[0])],
            "{name}: the flow moved on once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_right_answers_verify_a_sign_up_phone_once() {
    for Backend { name, store, .. } in backends().await {
        let mut new = account(313, "race-sign-up@example.com");
        new.email_verified_at = Some(T0);
        store
            .insert_account(&new, None, &[], &audit(Some(&new.id), "sign_up"))
            .await
            .unwrap();
        let id = new.id;
        let call = queued_sign_up_call(&store, &id).await;
        assert!(
            store
                .claim_call(&latchkey_domain::CallId::new(&*call), T0)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .bind_call(&latchkey_domain::CallId::new(&*call), "CA-1", T0)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .reserve_digit_attempt(&latchkey_domain::CallId::new(&*call), 0, 3, T0)
                .await
                .unwrap(),
            "{name}"
        );
        // Each answer arrives at its own moment: `phone_verified_at` tells which one won.
        let at = |n: usize| T0 + Duration::seconds(1 + n as i64);
        let results = race(|n| {
            let (store, id, call) = (Arc::clone(&store), id.clone(), call.clone());
            async move {
                store
                    .verify_call(
                        &latchkey_domain::CallId::new(&*call),
                        "CA-1",
                        at(n),
                        &racer_audit(&id, "phone_code", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let won = winners(&results, |verified| *verified);
        assert_eq!(won.len(), 1, "{name}: one verification, got {won:?}");
        assert_eq!(status(&store, &call).await, CallStatus::Verified, "{name}");
        let record = store.account_by_id(&id).await.unwrap().expect(name);
        assert_eq!(record.status, AccountStatus::Active, "{name}");
        assert_eq!(record.phone_verified_at, Some(at(won[0])), "{name}");
        assert_eq!(
            audit_details(&store, &id, "phone_code").await,
            [format!("racer-{}", won[0])],
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_entries_for_one_prompt_count_one_attempt() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 314, "race-digits@example.com").await;
        let call = queued_sign_up_call(&store, &id).await;
        assert!(
            store
                .claim_call(&latchkey_domain::CallId::new(&*call), T0)
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store
                .bind_call(&latchkey_domain::CallId::new(&*call), "CA-1", T0)
                .await
                .unwrap(),
            "{name}"
        );
        const MAX: u32 = 3;
        // Every prompt answered sixteen times at once (duplicated webhooks, replays) counts
        // once; past the last one, nothing does.
        for prompt in 0..=MAX {
            let results = race(|_| {
                let (store, call) = (Arc::clone(&store), call.clone());
                async move {
                    store
                        .reserve_digit_attempt(
                            &latchkey_domain::CallId::new(&*call),
                            prompt,
                            MAX,
                            T0 + Duration::seconds(1),
                        )
                        .await
                        .unwrap()
                }
            })
            .await;
            let won = winners(&results, |counted| *counted);
            let expected = if prompt < MAX { 1 } else { 0 };
            assert_eq!(won.len(), expected, "{name}: prompt {prompt}, got {won:?}");
            assert_eq!(
                store
                    .call(&latchkey_domain::CallId::new(&*call))
                    .await
                    .unwrap()
                    .expect(name)
                    .digit_attempts,
                (prompt + 1).min(MAX),
                "{name}: prompt {prompt}"
            );
        }
    }
}
