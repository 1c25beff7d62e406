//! The fast path's memory: live sessions by token hash, with their owner's identity, the
//! OpenID Connect access tokens `userinfo` is asked about, and each account's Security
//! credentials overview, kept so that a signed-in request needs no database round trip in
//! the common case.
//!
//! Nothing kept here may outlive a change to its account. Three rules make that so
//! (`docs/design/fast-path.md` has the argument and the failure modes):
//!
//! - **Told of every change.** The store reports each commit of this process before the
//!   committing call returns, and follows every other process's commits
//!   ([`ChangeFeedStore`](crate::store::ChangeFeedStore)); both drop what is kept about the
//!   account.
//! - **Fresh or not at all.** The follower says how far it has caught up: every change
//!   committed before that instant has been reported. Entries are used only while that
//!   instant is less than [`FRESHNESS`] old; otherwise every read goes to the database, which
//!   is what happens when the database connection that reports changes is lost.
//! - **No stale fill.** A read from the database is kept only if no change to its account
//!   (and no loss of the feed) was reported while it ran — the epoch, taken before the read,
//!   is compared with the epoch of the account's last change — so a read that raced a
//!   revocation cannot put the revoked session back, and changes to other accounts do not
//!   stop it from being kept.
//!
//! The maps are bounded ([`MAX_SESSIONS`], [`MAX_OVERVIEWS`]) and every entry is read again
//! from the database after [`MAX_AGE`], whatever it was told.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use latchkey_domain::{AccountId, Timestamp};

use crate::secrets::TokenHash;
use crate::store::{ChangeSink, OidcToken, SessionIdentityRecord};

/// How old the follower's last catch-up may be for entries to be used. The guarantee that a
/// revocation is honoured everywhere within one second is this plus the time to deliver the
/// change (milliseconds) and the request's own time.
pub const FRESHNESS: Duration = Duration::from_millis(750);

/// How often the follower proves it has caught up (a ping through the database's own
/// notifications on PostgreSQL, a read of the change table on SQLite).
pub const CATCH_UP_INTERVAL: Duration = Duration::from_millis(200);

/// The longest an entry is used before it is read from the database again.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// The most sessions kept; past it, expired entries are dropped, then all of them.
pub const MAX_SESSIONS: usize = 100_000;

/// The most access tokens kept, with the same rule.
pub const MAX_TOKENS: usize = 100_000;

/// The most overviews kept, with the same rule.
pub const MAX_OVERVIEWS: usize = 20_000;

/// The most accounts whose last change is remembered for fills under way; past it, they are
/// forgotten and every fill under way is refused instead.
const MAX_CHANGED: usize = 100_000;

/// Taken before a read from the database; the read is kept only if it is still current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry<T> {
    value: T,
    read_at: Instant,
}

/// Entries by key (a token hash), with the keys of each account's entries, so that one
/// account's change drops them all.
struct Keyed<T> {
    entries: HashMap<String, Entry<T>>,
    by_account: HashMap<AccountId, Vec<String>>,
    max: usize,
}

impl<T: Clone> Keyed<T> {
    fn new(max: usize) -> Self {
        Self {
            entries: HashMap::new(),
            by_account: HashMap::new(),
            max,
        }
    }

    fn get(&self, key: &str, now: Instant) -> Option<T> {
        let entry = self.entries.get(key)?;
        (now.duration_since(entry.read_at) < MAX_AGE).then(|| entry.value.clone())
    }

    fn insert(&mut self, key: String, account: AccountId, value: T, now: Instant) {
        if self.entries.len() >= self.max {
            self.entries
                .retain(|_, e| now.duration_since(e.read_at) < MAX_AGE);
            if self.entries.len() >= self.max {
                self.entries.clear();
            }
            let entries = &self.entries;
            self.by_account.retain(|_, keys| {
                keys.retain(|k| entries.contains_key(k));
                !keys.is_empty()
            });
        }
        let keys = self.by_account.entry(account).or_default();
        if !keys.contains(&key) {
            keys.push(key.clone());
        }
        self.entries.insert(
            key,
            Entry {
                value,
                read_at: now,
            },
        );
    }

    fn drop_account(&mut self, account: &AccountId) {
        if let Some(keys) = self.by_account.remove(account) {
            for key in keys {
                self.entries.remove(&key);
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.by_account.clear();
    }
}

struct Maps<O> {
    sessions: Keyed<SessionIdentityRecord>,
    tokens: Keyed<OidcToken>,
    overviews: HashMap<AccountId, Entry<Arc<O>>>,
    /// The epoch of each account's last reported change.
    changed_at: HashMap<AccountId, u64>,
    /// The epoch of the last time everything changed (the feed was lost).
    everything_at: u64,
}

impl<O> Maps<O> {
    /// Whether a read of `account` that began at `ticket` is still current.
    fn current(&self, ticket: Ticket, account: &AccountId) -> bool {
        self.everything_at <= ticket.0
            && self
                .changed_at
                .get(account)
                .is_none_or(|at| *at <= ticket.0)
    }
}

/// The cache, generic over what an account's overview holds (`credentials::Overview`).
pub struct SessionCache<O> {
    maps: Mutex<Maps<O>>,
    /// Bumped under the lock by every change reported: a read of an account that began
    /// before its last change is not kept.
    epoch: AtomicU64,
    /// Nanoseconds after `origin` of the latest catch-up, plus one; 0 until the first.
    caught_up: AtomicU64,
    /// The same catch-up on the wall clock (milliseconds since the Unix epoch): the monotonic
    /// clock stops while the machine is suspended, and entries from before a suspension must
    /// not look fresh after it.
    caught_up_wall: AtomicU64,
    origin: Instant,
}

impl<O> Default for SessionCache<O> {
    fn default() -> Self {
        Self {
            maps: Mutex::new(Maps {
                sessions: Keyed::new(MAX_SESSIONS),
                tokens: Keyed::new(MAX_TOKENS),
                overviews: HashMap::new(),
                changed_at: HashMap::new(),
                everything_at: 0,
            }),
            epoch: AtomicU64::new(0),
            caught_up: AtomicU64::new(0),
            caught_up_wall: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

impl<O: Send + Sync> SessionCache<O> {
    fn maps(&self) -> MutexGuard<'_, Maps<O>> {
        // A panic while the lock was held left the maps consistent (every change to them is
        // a single insert or remove), so a poisoned lock is still usable.
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the follower has caught up recently enough for entries to be used.
    pub fn is_fresh(&self) -> bool {
        self.fresh_at(Instant::now(), wall_millis())
    }

    fn fresh_at(&self, now: Instant, wall_now: u64) -> bool {
        match self.caught_up.load(Ordering::Acquire) {
            0 => false,
            n => {
                let caught_up = self.origin + Duration::from_nanos(n - 1);
                let wall = self.caught_up_wall.load(Ordering::Acquire);
                now.saturating_duration_since(caught_up) < FRESHNESS
                    && Duration::from_millis(wall_now.saturating_sub(wall)) < FRESHNESS
            }
        }
    }

    /// Whether every change committed before `instant` has been reported (the follower has
    /// caught up past it).
    pub fn caught_up_since(&self, instant: Instant) -> bool {
        let since = instant.saturating_duration_since(self.origin).as_nanos();
        u128::from(self.caught_up.load(Ordering::Acquire)) > since + 1
    }

    /// Whether anyone follows the database's changes at all: a process that never does (an
    /// operator's command) keeps nothing.
    fn is_followed(&self) -> bool {
        self.caught_up.load(Ordering::Acquire) != 0
    }

    /// Taken before reading what [`keep_session`](Self::keep_session) or
    /// [`keep_overview`](Self::keep_overview) will be given.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    /// The session kept for `hash`, when entries may be used and it was read less than
    /// [`MAX_AGE`] ago.
    pub fn session(&self, hash: &TokenHash) -> Option<SessionIdentityRecord> {
        let now = Instant::now();
        // Freshness first: what it promises (every change before it has been applied to the
        // maps) must be seen by the lookup that follows.
        if !self.fresh_at(now, wall_millis()) {
            return None;
        }
        self.maps().sessions.get(hash.as_str(), now)
    }

    /// Keeps `record`, read from the database after `ticket` was taken, unless a change was
    /// reported since.
    pub fn keep_session(&self, ticket: Ticket, record: SessionIdentityRecord) {
        if !self.is_followed() {
            return;
        }
        let mut maps = self.maps();
        let account = record.session.account_id.clone();
        if !maps.current(ticket, &account) {
            return;
        }
        let key = record.session.token_hash.as_str().to_owned();
        maps.sessions.insert(key, account, record, Instant::now());
    }

    /// The access token kept for `hash`, as [`session`](Self::session) answers a session.
    pub fn access_token(&self, hash: &TokenHash) -> Option<OidcToken> {
        let now = Instant::now();
        if !self.fresh_at(now, wall_millis()) {
            return None;
        }
        self.maps().tokens.get(hash.as_str(), now)
    }

    /// Keeps an access token, as [`keep_session`](Self::keep_session) keeps a session.
    pub fn keep_access_token(&self, ticket: Ticket, token: OidcToken) {
        if !self.is_followed() {
            return;
        }
        let mut maps = self.maps();
        let account = token.account_id.clone();
        if !maps.current(ticket, &account) {
            return;
        }
        let key = token.token_hash.as_str().to_owned();
        maps.tokens.insert(key, account, token, Instant::now());
    }

    /// Claims the write of the session's last activity at `now`: true for the one request
    /// that should write it (the kept entry now says it was written), false for the others
    /// that arrive within `interval` of it. A session not kept is always written.
    pub fn claim_touch(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        interval: latchkey_domain::Duration,
    ) -> bool {
        let mut maps = self.maps();
        let Some(entry) = maps.sessions.entries.get_mut(hash.as_str()) else {
            return true;
        };
        let session = &mut entry.value.session;
        if now - session.last_seen_at < interval {
            return false;
        }
        session.last_seen_at = now;
        let account = session.account_id.clone();
        // The owner's session list shows the new last activity.
        maps.overviews.remove(&account);
        true
    }

    /// Forgets the session kept for `hash` (its activity could not be written: the next
    /// request reads it again and claims the write again).
    pub fn forget_session(&self, hash: &TokenHash) {
        self.maps().sessions.entries.remove(hash.as_str());
    }

    /// The overview kept for `account`, when entries may be used and it was read less than
    /// [`MAX_AGE`] ago.
    pub fn overview(&self, account: &AccountId) -> Option<Arc<O>> {
        let now = Instant::now();
        if !self.fresh_at(now, wall_millis()) {
            return None;
        }
        let maps = self.maps();
        let entry = maps.overviews.get(account)?;
        (now.duration_since(entry.read_at) < MAX_AGE).then(|| entry.value.clone())
    }

    /// Keeps `overview`, read after `ticket` was taken, unless a change was reported since.
    pub fn keep_overview(&self, ticket: Ticket, account: &AccountId, overview: Arc<O>) {
        if !self.is_followed() {
            return;
        }
        let now = Instant::now();
        let mut maps = self.maps();
        if !maps.current(ticket, account) {
            return;
        }
        if maps.overviews.len() >= MAX_OVERVIEWS {
            maps.overviews
                .retain(|_, e| now.duration_since(e.read_at) < MAX_AGE);
            if maps.overviews.len() >= MAX_OVERVIEWS {
                maps.overviews.clear();
            }
        }
        maps.overviews.insert(
            account.clone(),
            Entry {
                value: overview,
                read_at: now,
            },
        );
    }

    /// How many sessions and overviews are kept.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let maps = self.maps();
        (maps.sessions.entries.len(), maps.overviews.len())
    }
}

impl<O: Send + Sync> ChangeSink for SessionCache<O> {
    fn changed(&self, account: &AccountId) {
        let mut maps = self.maps();
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        if maps.changed_at.len() >= MAX_CHANGED {
            maps.changed_at.clear();
            maps.everything_at = epoch;
        }
        maps.changed_at.insert(account.clone(), epoch);
        maps.overviews.remove(account);
        maps.sessions.drop_account(account);
        maps.tokens.drop_account(account);
    }

    fn everything_changed(&self) {
        let mut maps = self.maps();
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        maps.everything_at = epoch;
        maps.changed_at.clear();
        maps.sessions.clear();
        maps.tokens.clear();
        maps.overviews.clear();
    }

    fn caught_up(&self, instant: Instant) {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        let age = u64::try_from(
            Instant::now()
                .saturating_duration_since(instant)
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        self.caught_up_wall
            .fetch_max(wall_millis().saturating_sub(age), Ordering::AcqRel);
        self.caught_up.fetch_max(nanos, Ordering::AcqRel);
    }
}

/// Now on the wall clock, in milliseconds since the Unix epoch.
#[allow(
    clippy::disallowed_methods,
    reason = "the freshness bound pairs the machine's monotonic clock with its own wall clock \
              (which keeps running through a suspension); no rule is decided on it, so it is \
              not the service's Clock"
)]
fn wall_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
