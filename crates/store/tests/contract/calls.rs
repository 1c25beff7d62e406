//! Verification calls: budgets under concurrency and superseded calls.

use super::*;
use latchkey_domain::Duration;

fn call(account: &AccountId, n: usize, purpose: CallPurpose, to: &str, net: &str) -> NewCall {
    NewCall {
        id: format!("call-{}-{n}", purpose.as_str()),
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
        assert!(store.bind_call("call-sign_up-3", "CA3", T0).await.unwrap());
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
