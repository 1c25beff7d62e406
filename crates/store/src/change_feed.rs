//! Telling the service which accounts changed (`ChangeFeedStore`), so that what it keeps in
//! memory never outlives a change.
//!
//! This process's commits are reported by the transaction itself, after it commits
//! ([`ChangeSinks`]). Every process's commits — other instances, the operator's commands —
//! are written by triggers (migration `0019_change_feed`) where each backend can carry them:
//! on PostgreSQL as notifications on channel `latchkey_changes`, delivered in commit order to
//! every listener; on SQLite into the `account_changes` table, numbered in commit order
//! because SQLite has one writer at a time. The follower reads them and proves how far it has
//! caught up: on PostgreSQL by a ping it sends itself on the same channel (when it comes
//! back, every notification committed before it was sent has been read), on SQLite by the
//! read itself (it sees every row committed before it began).

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use latchkey_domain::AccountId;
use latchkey_service::session_cache::CATCH_UP_INTERVAL;
use latchkey_service::store::{ChangeFeedStore, ChangeSink};
use sqlx::Row;
use sqlx::postgres::PgListener;

use crate::{PgStore, SqliteStore, db_error};

/// The notification channel of the PostgreSQL triggers and pings.
const CHANNEL: &str = "latchkey_changes";

/// How long the follower waits before reconnecting after the database failed it.
const RETRY: Duration = Duration::from_secs(1);

/// How long the PostgreSQL listener may hear nothing before it is replaced.
const SILENCE: Duration = Duration::from_secs(5);

/// How often the SQLite follower deletes the change rows it has read.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// The sinks this process's commits are reported to, held weakly.
#[derive(Default)]
pub(crate) struct ChangeSinks(RwLock<Vec<Weak<dyn ChangeSink>>>);

impl std::fmt::Debug for ChangeSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSinks").finish_non_exhaustive()
    }
}

impl ChangeSinks {
    fn add(&self, sink: &Arc<dyn ChangeSink>) {
        let mut sinks = self.0.write().unwrap_or_else(|p| p.into_inner());
        sinks.retain(|s| s.strong_count() > 0);
        sinks.push(Arc::downgrade(sink));
    }

    /// Tells every sink still alive that `accounts` changed.
    fn report(&self, accounts: &[AccountId]) {
        if accounts.is_empty() {
            return;
        }
        let sinks = self.0.read().unwrap_or_else(|p| p.into_inner());
        for sink in sinks.iter().filter_map(Weak::upgrade) {
            for account in accounts {
                sink.changed(account);
            }
        }
    }
}

/// The accounts one transaction changes, told to this process's sinks when it ends.
pub(crate) struct PendingChanges {
    accounts: Vec<AccountId>,
    sinks: Arc<ChangeSinks>,
}

impl PendingChanges {
    pub(crate) fn new(sinks: &Arc<ChangeSinks>) -> Self {
        Self {
            accounts: Vec::new(),
            sinks: sinks.clone(),
        }
    }

    pub(crate) fn note(&mut self, account: &AccountId) {
        if !self.accounts.contains(account) {
            self.accounts.push(account.clone());
        }
    }

    /// Called once the commit has answered, whatever it answered: a commit whose answer was
    /// lost may have happened, and forgetting what is kept costs only a read. (A transaction
    /// dropped without committing reports nothing.)
    pub(crate) fn report(self) {
        self.sinks.report(&self.accounts);
    }
}

/// What a change notification or row names: an account, or something this version cannot
/// read, which is taken to mean anything may have changed.
fn report_change(sink: &dyn ChangeSink, account: &str) {
    match AccountId::parse(account) {
        Some(account) => sink.changed(&account),
        None => sink.everything_changed(),
    }
}

#[async_trait]
impl ChangeFeedStore for SqliteStore {
    fn report_commits(&self, sink: Arc<dyn ChangeSink>) {
        self.sinks.add(&sink);
    }

    async fn follow_changes(&self, sink: Arc<dyn ChangeSink>) {
        let mut last: Option<i64> = None;
        let mut pruned = Instant::now();
        let mut ticker = tokio::time::interval(CATCH_UP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let began = Instant::now();
            match self.changes_after(last).await {
                Ok(Changes::Rows { accounts, newest }) => {
                    for account in &accounts {
                        report_change(&*sink, account);
                    }
                    last = Some(newest);
                    sink.caught_up(began);
                }
                Ok(Changes::Restart { newest }) => {
                    // The first read, or rows this follower never read are gone (another
                    // server pruned them, or the file was restored under it): what is kept
                    // may be stale, and what every later read sees starts here.
                    if last.is_some() {
                        tracing::warn!(
                            "the account change table lost rows this server had not read; \
                             is another server running on this SQLite file?"
                        );
                    }
                    sink.everything_changed();
                    last = Some(newest);
                    sink.caught_up(began);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the account change table");
                    continue;
                }
            }
            if pruned.elapsed() >= PRUNE_INTERVAL
                && let Some(last) = last
            {
                pruned = Instant::now();
                if let Err(e) = self.prune_changes(last).await {
                    tracing::warn!(error = %e, "cannot prune the account change table");
                }
            }
        }
    }
}

/// The last change row number SQLite gave out, which deleting rows does not change.
async fn last_given(
    read: &mut sqlx::SqliteConnection,
) -> Result<i64, latchkey_service::StoreError> {
    sqlx::query(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'account_changes'), 0) \
         AS n",
    )
    .fetch_one(read)
    .await
    .map_err(db_error)?
    .try_get("n")
    .map_err(db_error)
}

/// What a read of SQLite's change table found.
enum Changes {
    /// The rows after the last one read, in order, with no gap.
    Rows { accounts: Vec<String>, newest: i64 },
    /// Nothing to go on from: start again after row `newest`.
    Restart { newest: i64 },
}

impl SqliteStore {
    /// The accounts changed after row `after`. Rows are numbered in commit order without
    /// gaps (one writer at a time; a rolled-back insert gives its number back), so a first
    /// row that is not `after + 1`, or no rows while the last number given out is not
    /// `after`, means rows were lost (pruned by another server, or the file restored): then,
    /// as on the first read (`after` is `None`), the answer is to start again.
    async fn changes_after(
        &self,
        after: Option<i64>,
    ) -> Result<Changes, latchkey_service::StoreError> {
        // One read transaction: the rows and the last number given out from one snapshot.
        let mut read = self.pool.begin().await.map_err(db_error)?;
        let Some(after) = after else {
            return Ok(Changes::Restart {
                newest: last_given(&mut read).await?,
            });
        };
        let rows =
            sqlx::query("SELECT seq, account_id FROM account_changes WHERE seq > $1 ORDER BY seq")
                .bind(after)
                .fetch_all(&mut *read)
                .await
                .map_err(db_error)?;
        let mut last = after;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get("seq").map_err(db_error)?;
            if seq != last + 1 {
                return Ok(Changes::Restart {
                    newest: last_given(&mut read).await?,
                });
            }
            last = seq;
            accounts.push(row.try_get("account_id").map_err(db_error)?);
        }
        if accounts.is_empty() {
            let newest = last_given(&mut read).await?;
            if newest != after {
                return Ok(Changes::Restart { newest });
            }
        }
        Ok(Changes::Rows {
            accounts,
            newest: last,
        })
    }

    /// Deletes the change rows up to `last`, which this process has read. (One server runs
    /// on an SQLite file; the operator's commands write rows but never read them.)
    async fn prune_changes(&self, last: i64) -> Result<(), latchkey_service::StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM account_changes WHERE seq <= $1")
            .bind(last)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}

#[async_trait]
impl ChangeFeedStore for PgStore {
    fn report_commits(&self, sink: Arc<dyn ChangeSink>) {
        self.sinks.add(&sink);
    }

    async fn follow_changes(&self, sink: Arc<dyn ChangeSink>) {
        let origin = Instant::now();
        let me = latchkey_service::secrets::hex(&latchkey_service::secrets::random_bytes::<8>());
        let pinger = Pinger {
            store: self.clone(),
            me: me.clone(),
            origin,
        };
        let _pings = AbortOnDrop(tokio::spawn(pinger.run()));
        loop {
            if let Err(e) = self.listen(&*sink, &me, origin).await {
                tracing::warn!(error = %e, "lost the database's change notifications; retrying");
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

impl PgStore {
    /// Listens on the channel until the connection fails for good. Every notification names
    /// an account, or is a ping: ours says how far we have caught up.
    async fn listen(
        &self,
        sink: &dyn ChangeSink,
        me: &str,
        origin: Instant,
    ) -> Result<(), latchkey_service::StoreError> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(db_error)?;
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await.map_err(db_error)?;
        // Notifications sent before LISTEN took effect were never ours to read.
        sink.everything_changed();
        loop {
            // Pings arrive five times a second: silence means the connection died without
            // closing (no TCP keepalive reaches it), and a new one is made.
            let next = tokio::time::timeout(SILENCE, listener.try_recv())
                .await
                .map_err(|_| {
                    latchkey_service::StoreError::database(
                        "no change notification (not even a ping) for 5 s",
                    )
                })?;
            match next.map_err(db_error)? {
                Some(notification) => {
                    let payload = notification.payload();
                    match payload.strip_prefix("ping:") {
                        Some(ping) => {
                            if let Some(sent) = ping_sent(ping, me, origin) {
                                sink.caught_up(sent);
                            }
                        }
                        None => report_change(sink, payload),
                    }
                }
                // The connection was lost and is back (sqlx listens again before answering):
                // what was sent in between is lost.
                None => sink.everything_changed(),
            }
        }
    }
}

/// When our ping `payload` (`<instance>:<nanoseconds after origin>`) was sent; `None` for
/// another instance's.
fn ping_sent(payload: &str, me: &str, origin: Instant) -> Option<Instant> {
    let (instance, nanos) = payload.split_once(':')?;
    if instance != me {
        return None;
    }
    Some(origin + Duration::from_nanos(nanos.parse().ok()?))
}

struct Pinger {
    store: PgStore,
    me: String,
    origin: Instant,
}

impl Pinger {
    /// Sends a ping every [`CATCH_UP_INTERVAL`] through the store's pool, so it commits where
    /// every other write commits (after a failover, the new primary): a listener left on a
    /// server that no longer takes the writes never hears it, and stops vouching.
    async fn run(self) {
        let mut ticker = tokio::time::interval(CATCH_UP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticker.tick().await;
            let sent = self.origin.elapsed().as_nanos();
            let ping = format!("ping:{}:{sent}", self.me);
            match sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(ping)
                .execute(&self.store.pool)
                .await
            {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot send change-feed pings; answering from the database");
                }
                Err(_) => {}
            }
        }
    }
}

/// Stops the pinger with the follower.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
