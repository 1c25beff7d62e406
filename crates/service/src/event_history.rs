//! Event history: an account's audit records, filtered by event and time and read a page at a
//! time, for its owner (console and API) and for the operator (`latchkey audit`).

use latchkey_domain::session::SessionAction;
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, Timestamp};

use crate::Service;
use crate::error::ServiceError;
use crate::sessions::CurrentSession;
use crate::store::{AuditEntry, AuditQuery};

/// The most records one page holds for an owner; the operator may ask for more.
pub const OWNER_PAGE_LIMIT: i64 = 100;
const OPERATOR_PAGE_LIMIT: i64 = 10_000;

/// What a reader asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only these events (all when empty).
    pub events: Vec<AuditEvent>,
    /// At or after this instant.
    pub since: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// Older than this event (`Event::id` of the last one already read).
    pub before: Option<i64>,
    pub limit: i64,
}

/// One event as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its place in the log: pages continue from it.
    pub id: i64,
    pub at: Timestamp,
    pub account_id: Option<AccountId>,
    /// `None` for a record this version does not write (kept, not dropped).
    pub event: Option<AuditEvent>,
    pub event_name: String,
    pub outcome: Option<AuditOutcome>,
    /// A short reason code chosen by latchkey, or an operator's reason.
    pub detail: String,
    pub client_addr: String,
    pub user_agent: String,
}

impl From<AuditEntry> for Event {
    fn from(entry: AuditEntry) -> Self {
        let record = entry.record;
        Self {
            id: entry.row,
            at: record.at,
            account_id: record.account_id,
            event: AuditEvent::parse(&record.event),
            event_name: record.event,
            outcome: AuditOutcome::parse(&record.outcome),
            detail: record.detail,
            client_addr: record.client_addr,
            user_agent: record.user_agent,
        }
    }
}

/// A page of events, newest first, and where the next (older) page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `before` for the next page; `None` when this page reaches the oldest.
    pub older: Option<i64>,
}

impl Service {
    /// The signed-in owner's own history. A session earned with alternative factors may
    /// not read it: it exists to replace a lost device, and the history shows where and
    /// when the owner signs in.
    pub async fn account_events(
        &self,
        session: &CurrentSession,
        query: &EventQuery,
    ) -> Result<EventPage, ServiceError> {
        self.authorize(session, SessionAction::ViewHistory)?;
        self.events(Some(&session.account_id), query, OWNER_PAGE_LIMIT)
            .await
    }

    /// Any account's history, or everyone's, for the operator.
    pub async fn audit_events(
        &self,
        account: Option<&AccountId>,
        query: &EventQuery,
    ) -> Result<EventPage, ServiceError> {
        self.events(account, query, OPERATOR_PAGE_LIMIT).await
    }

    async fn events(
        &self,
        account: Option<&AccountId>,
        query: &EventQuery,
        max: i64,
    ) -> Result<EventPage, ServiceError> {
        let limit = query.limit.clamp(1, max);
        let names: Vec<&str> = query.events.iter().map(|e| e.as_str()).collect();
        // One more than asked, to know whether an older page exists.
        let mut entries = self
            .store
            .audit_events(&AuditQuery {
                account,
                events: &names,
                since: query.since,
                until: query.until,
                before_row: query.before,
                limit: limit + 1,
            })
            .await?;
        let more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let events: Vec<Event> = entries.into_iter().map(Event::from).collect();
        Ok(EventPage {
            older: more.then(|| events.last().map(|e| e.id)).flatten(),
            events,
        })
    }
}
