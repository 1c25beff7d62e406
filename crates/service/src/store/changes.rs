//! What the store tells the service about committed changes, so that nothing the service
//! keeps in memory about an account (its sessions, its Security credentials overview) can
//! outlive a change to it: this process's commits are reported as they commit, and every
//! other process's (another instance, the operator's commands) by following the database.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use latchkey_domain::AccountId;

/// Who is told about committed changes.
pub trait ChangeSink: Send + Sync {
    /// A transaction that changed `account` (its row, sessions, devices, audit records) has
    /// committed.
    fn changed(&self, account: &AccountId);
    /// Changes may have been missed (the database connection that reports them was lost
    /// and is back): whatever is kept may be stale.
    fn everything_changed(&self);
    /// Every change any process committed before `instant` has been reported.
    fn caught_up(&self, instant: Instant);
}

#[async_trait]
pub trait ChangeFeedStore: Send + Sync {
    /// Tells `sink`, right after each commit of this process and before the committing call
    /// returns, which accounts the commit changed. The store holds it weakly: it is told
    /// for as long as someone else keeps it.
    fn report_commits(&self, sink: Arc<dyn ChangeSink>);

    /// Follows what every process commits to the database and reports it to `sink`, with
    /// [`ChangeSink::caught_up`] several times a second while the database answers. Runs
    /// until the task running it is dropped; a lost connection is reported with
    /// [`ChangeSink::everything_changed`] once it is back.
    async fn follow_changes(&self, sink: Arc<dyn ChangeSink>);
}
