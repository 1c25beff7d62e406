//! Races: many consumers released at once on the same transition, so that exactly one may
//! win it on every backend.

use super::*;
use std::future::Future;
use tokio::sync::Barrier;

/// How many consumers race each transition: as many as PostgreSQL's pool has connections,
/// twice SQLite's.
pub(super) const RACERS: usize = 16;

/// Runs `racer(0..RACERS)` each on its own task, released together by a barrier once every
/// one of them is spawned, and returns what each returned, in racer order.
pub(super) async fn race<T, F, Fut>(racer: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            // Not started yet: a future does nothing until it is polled, after the barrier.
            let run = racer(n);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(RACERS);
    for task in tasks {
        results.push(task.await.expect("a racer panicked"));
    }
    results
}

/// The racers whose result passes `won`.
pub(super) fn winners<T>(results: &[T], won: impl Fn(&T) -> bool) -> Vec<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, result)| won(result))
        .map(|(n, _)| n)
        .collect()
}

/// An audit record of `account` that names the racer who wrote it.
pub(super) fn racer_audit(account: &AccountId, event: &str, n: usize) -> AuditRecord {
    AuditRecord {
        detail: format!("racer-{n}"),
        ..audit(Some(account), event)
    }
}

/// The details of `account`'s audit records with `event`, oldest first.
pub(super) async fn audit_details(
    store: &Arc<dyn Store>,
    account: &AccountId,
    event: &str,
) -> Vec<String> {
    let mut details: Vec<_> = store
        .recent_audit(Some(account), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == event)
        .map(|r| r.detail)
        .collect();
    details.reverse();
    details
}

/// The racer's own outbox recipient, so the queued messages tell who committed.
fn racer_recipient(n: usize) -> String {
    format!("racer-{n}@example.com")
}

/// A message to the racer's own recipient.
pub(super) fn racer_mail(n: usize) -> NewOutboxMessage {
    outbox(&racer_recipient(n))
}

/// The recipients that got a message: the racers whose transaction committed.
pub(super) async fn racers_with_mail(store: &Arc<dyn Store>) -> Vec<usize> {
    let status = store.outbox_status(10_000).await.unwrap();
    (0..RACERS)
        .filter(|&n| status.iter().any(|m| m.recipient == racer_recipient(n)))
        .collect()
}

/// One integer column of one row, read around the port (for state the port does not show).
pub(super) async fn read_i64(backend: &Backend, sql: &'static str, key: &str) -> Option<i64> {
    if let Some(sqlite) = &backend.sqlite {
        return sqlx::query_scalar::<_, Option<i64>>(sql)
            .bind(key)
            .fetch_one(sqlite.pool())
            .await
            .unwrap();
    }
    let postgres = backend.postgres.as_ref().expect("a backend");
    sqlx::query_scalar::<_, Option<i64>>(sql)
        .bind(key)
        .fetch_one(postgres.pool())
        .await
        .unwrap()
}
