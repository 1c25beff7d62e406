//! The audit log: read back in order, and never edited.

use super::races::{RACERS, race, racer_audit};
use super::*;
use latchkey_domain::audit_chain::{ChainBreak, ChainWalk, Legacy};

#[tokio::test]
async fn audit_records_read_back_newest_first_and_per_account() {
    for Backend { name, store, .. } in backends().await {
        let a = AccountId::from_random(13);
        for (i, event) in ["one", "two", "three"].iter().enumerate() {
            let mut record = audit(Some(&a), event);
            record.at = Timestamp(T0.0 + i as i64);
            store.append_audit(&record).await.unwrap();
        }
        store.append_audit(&audit(None, "anonymous")).await.unwrap();
        let all = store.recent_audit(None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["anonymous", "three", "two", "one"],
            "{name}"
        );
        let mine = store.recent_audit(Some(&a), 2).await.unwrap();
        assert_eq!(
            mine.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
            ["three", "two"],
            "{name}"
        );
        assert_eq!(mine[0].user_agent, "test", "{name}");
    }
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_audit_records() {
    for backend in backends().await {
        backend
            .store
            .append_audit(&audit(None, "kept"))
            .await
            .unwrap();
        let statements = [
            "UPDATE audit_log SET event = 'forged'",
            "DELETE FROM audit_log",
        ];
        for sql in statements {
            let refused = match (&backend.sqlite, &backend.postgres) {
                (Some(s), _) => sqlx::query(sql).execute(s.pool()).await.is_err(),
                (_, Some(p)) => sqlx::query(sql).execute(p.pool()).await.is_err(),
                _ => unreachable!(),
            };
            assert!(refused, "{}: {sql} was allowed", backend.name);
        }
        let records = backend.store.recent_audit(None, 10).await.unwrap();
        assert_eq!(records.len(), 1, "{}", backend.name);
        assert_eq!(records[0].event, "kept", "{}", backend.name);
    }
}

/// Walks the whole chain with the test key, as `latchkey audit verify` does.
async fn walk_chain(store: &Arc<dyn Store>) -> Result<i64, ChainBreak> {
    let legacy = store.unchained_audit().await.unwrap().before_chain;
    let key = latchkey_test_support::fixtures::server_key().audit_chain_key();
    let mut walk = ChainWalk::new(key, legacy, None);
    for chained in store
        .audit_chain_page((i64::MIN, i64::MIN), 10_000)
        .await
        .unwrap()
    {
        walk.step(&chained.record.linked(chained.seq), &chained.mac)?;
    }
    walk.finish()?;
    Ok(walk.checked())
}

#[tokio::test]
async fn every_append_takes_the_next_place_in_the_chain_even_when_they_race() {
    for Backend { name, store, .. } in backends().await {
        let a = AccountId::from_random(15);
        store.append_audit(&audit(Some(&a), "first")).await.unwrap();
        // Every kind of write that appends: plain, with messages, and "once".
        let results = race(|n| {
            let (store, a) = (store.clone(), a.clone());
            async move {
                let record = racer_audit(&a, "raced", n);
                match n % 3 {
                    0 => store.append_audit(&record).await,
                    1 => store.append_audit_with_outbox(&[], &record).await,
                    _ => store.append_audit_once(&record, T0, &[]).await.map(|_| ()),
                }
            }
        })
        .await;
        assert!(results.iter().all(Result::is_ok), "{name}: {results:?}");
        let chain = store.audit_chain_page((0, 0), 100).await.unwrap();
        assert_eq!(
            chain.iter().map(|c| c.seq).collect::<Vec<_>>(),
            (1..=1 + RACERS as i64).collect::<Vec<_>>(),
            "{name}: one place each, no gaps"
        );
        assert_eq!(walk_chain(&store).await, Ok(1 + RACERS as i64), "{name}");
        // Paging resumes after the place it stopped at.
        let rest = store
            .audit_chain_page((chain[4].seq, chain[4].row), 100)
            .await
            .unwrap();
        assert_eq!(rest.first().map(|c| c.seq), Some(6), "{name}");
        assert_eq!(
            store.unchained_audit().await.unwrap(),
            UnchainedAudit {
                before_chain: Legacy::default(),
                first_after_start: None
            },
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_record_edited_removed_or_added_in_the_database_breaks_the_chain_there() {
    for backend in backends().await {
        let name = backend.name;
        for event in ["one", "two", "three", "four"] {
            backend
                .store
                .append_audit(&audit(None, event))
                .await
                .unwrap();
        }
        // Whoever owns the database can take the append-only guard away.
        if backend.sqlite.is_some() {
            backend
                .execute_raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete")
                .await;
        } else {
            backend
                .execute_raw("ALTER TABLE audit_log DISABLE TRIGGER USER")
                .await;
        }
        assert_eq!(walk_chain(&backend.store).await, Ok(4), "{name}");

        backend
            .execute_raw("UPDATE audit_log SET detail = 'forged' WHERE seq = 2")
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Altered { seq: 2 }),
            "{name}: edited"
        );
        backend
            .execute_raw("UPDATE audit_log SET detail = '' WHERE seq = 2")
            .await;
        assert_eq!(walk_chain(&backend.store).await, Ok(4), "{name}: put back");

        backend
            .execute_raw("UPDATE audit_log SET at = at + 1 WHERE seq = 4")
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Altered { seq: 4 }),
            "{name}: time moved"
        );
        backend
            .execute_raw("UPDATE audit_log SET at = at - 1 WHERE seq = 4")
            .await;

        backend
            .execute_raw("DELETE FROM audit_log WHERE seq = 3")
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Missing {
                expected: 3,
                found: 4
            }),
            "{name}: removed"
        );
        backend
            .execute_raw("UPDATE audit_log SET seq = seq - 1 WHERE seq = 4")
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Altered { seq: 3 }),
            "{name}: removed and renumbered"
        );

        // Added: after the chain's end with a made-up MAC, or outside the chain.
        let fresh = latchkey_test_support::backends()
            .await
            .into_iter()
            .find(|b| b.name == name)
            .unwrap();
        for event in ["one", "two"] {
            fresh.store.append_audit(&audit(None, event)).await.unwrap();
        }
        let insert = "INSERT INTO audit_log (at, account_id, client_addr, user_agent, event, \
                      outcome, detail, seq, chain_mac) VALUES (1800000000, NULL, '127.0.0.1', \
                      'test', 'sign_in', 'success', '', 3, NULL)";
        fresh.execute_raw(insert).await;
        assert_eq!(
            walk_chain(&fresh.store).await,
            Err(ChainBreak::Altered { seq: 3 }),
            "{name}: appended"
        );
        assert_eq!(
            fresh
                .store
                .unchained_audit()
                .await
                .unwrap()
                .first_after_start,
            None,
            "{name}"
        );
        fresh
            .execute_raw(
                "INSERT INTO audit_log (at, account_id, client_addr, user_agent, event, outcome, \
             detail) VALUES (1800000000, NULL, '127.0.0.1', 'test', 'sign_in', 'success', '')",
            )
            .await;
        let unchained = fresh.store.unchained_audit().await.unwrap();
        assert_eq!(unchained.before_chain, Legacy::default(), "{name}");
        assert!(
            unchained.first_after_start.is_some(),
            "{name}: outside the chain"
        );
    }
}

#[tokio::test]
async fn history_is_filtered_by_account_event_and_time_and_pages_back() {
    for Backend { name, store, .. } in backends().await {
        let (a, b) = (AccountId::from_random(16), AccountId::from_random(17));
        for (i, (account, event)) in [
            (&a, "sign_in"),
            (&b, "sign_in"),
            (&a, "mfa_activated"),
            (&a, "sign_in"),
            (&a, "password_changed"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut record = audit(Some(account), event);
            record.at = Timestamp(T0.0 + 10 * i as i64);
            store.append_audit(&record).await.unwrap();
        }
        let events = |query: AuditQuery<'static>| {
            let store = store.clone();
            async move {
                store
                    .audit_events(&query)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.record.event, e.record.at.0 - T0.0))
                    .collect::<Vec<_>>()
            }
        };
        let a: &'static AccountId = Box::leak(Box::new(a));
        let all_of_a = AuditQuery {
            account: Some(a),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            events(all_of_a.clone()).await,
            [
                ("password_changed".to_owned(), 40),
                ("sign_in".to_owned(), 30),
                ("mfa_activated".to_owned(), 20),
                ("sign_in".to_owned(), 0)
            ],
            "{name}: newest first, only a's"
        );
        assert_eq!(
            events(AuditQuery {
                events: &["sign_in", "mfa_activated"],
                since: Some(Timestamp(T0.0 + 10)),
                until: Some(Timestamp(T0.0 + 30)),
                ..all_of_a.clone()
            })
            .await,
            [("mfa_activated".to_owned(), 20)],
            "{name}: since is inclusive, until is not"
        );
        let first_page = store
            .audit_events(&AuditQuery {
                limit: 2,
                ..all_of_a.clone()
            })
            .await
            .unwrap();
        let next = store
            .audit_events(&AuditQuery {
                limit: 2,
                before_row: Some(first_page[1].row),
                ..all_of_a.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            next.iter()
                .map(|e| e.record.at.0 - T0.0)
                .collect::<Vec<_>>(),
            [20, 0],
            "{name}: the next page starts after the last row seen"
        );
        assert_eq!(
            events(AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .len(),
            5,
            "{name}"
        );
    }
}

/// A row written straight into the log with the given place, and the given id or the next.
fn forged_row(backend: &Backend, id: Option<i64>, seq: Option<i64>) -> String {
    let overriding = if backend.postgres.is_some() && id.is_some() {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let (id_column, id) = id.map_or((String::new(), String::new()), |id| {
        ("id, ".to_owned(), format!("{id}, "))
    });
    let seq = seq.map_or("NULL".to_owned(), |s| s.to_string());
    format!(
        "INSERT INTO audit_log ({id_column}at, account_id, client_addr, user_agent, event, \
         outcome, detail, seq, chain_mac) {overriding} VALUES ({id}1800000000, NULL, \
         '203.0.113.9', 'x', 'sign_in', 'success', '', {seq}, NULL)"
    )
}

#[tokio::test]
async fn records_from_before_the_chain_are_counted_and_none_can_be_put_among_them_or_before_it() {
    for backend in backends().await {
        let name = backend.name;
        // Two records from before the chain existed (as an older latchkey wrote them) …
        backend.execute_raw(&forged_row(&backend, None, None)).await;
        backend.execute_raw(&forged_row(&backend, None, None)).await;
        for event in ["one", "two"] {
            backend
                .store
                .append_audit(&audit(None, event))
                .await
                .unwrap();
        }
        let unchained = backend.store.unchained_audit().await.unwrap();
        assert_eq!(
            unchained.before_chain,
            Legacy {
                count: 2,
                max_row: 2
            },
            "{name}"
        );
        // … are covered by the first record: the chain is intact with them.
        assert_eq!(walk_chain(&backend.store).await, Ok(2), "{name}");
        // One more "from before" is not.
        backend
            .execute_raw(&forged_row(&backend, Some(-5), None))
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Altered { seq: 1 }),
            "{name}: added among the old records"
        );
    }
    for backend in backends().await {
        let name = backend.name;
        for event in ["one", "two"] {
            backend
                .store
                .append_audit(&audit(None, event))
                .await
                .unwrap();
        }
        backend
            .execute_raw(&forged_row(&backend, None, Some(-1)))
            .await;
        assert_eq!(
            walk_chain(&backend.store).await,
            Err(ChainBreak::Duplicate { seq: -1 }),
            "{name}: put before the first place"
        );
    }
}
