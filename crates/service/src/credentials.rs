//! `Security credentials` at a glance: the account, its MFA devices, its live sessions and
//! its recent recoveries, as the page shows them on every visit. Read in one go and kept in
//! memory per account (`session_cache`) until anything about the account changes, so the
//! page a signed-in user returns to most costs no database round trip.

use std::sync::Arc;

use latchkey_domain::session::{SessionAction, SessionKind};
use latchkey_domain::{AccountId, EmailAddress, PhoneNumber};

use crate::Service;
use crate::error::ServiceError;
use crate::mfa::DeviceView;
use crate::recovery::RecoveryNote;
use crate::session_list::SessionView;
use crate::sessions::CurrentSession;
use crate::store::{AccountRecord, SessionListing};

/// What is kept about one account: everything the page shows, as read, and nothing else
/// (no password hash sits in memory for it).
#[derive(Debug)]
pub struct Overview {
    account: AccountSummary,
    devices: Vec<DeviceView>,
    /// Every session not revoked and within its absolute lifetime when read; which are idle
    /// is decided when the overview is shown.
    sessions: Vec<SessionListing>,
    recoveries: Vec<RecoveryNote>,
}

/// The account as Security credentials shows it.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub id: AccountId,
    pub name: String,
    pub email: EmailAddress,
    pub phone: PhoneNumber,
    pub phone_verified: bool,
}

impl From<AccountRecord> for AccountSummary {
    fn from(account: AccountRecord) -> Self {
        Self {
            id: account.id,
            name: account.name,
            email: account.email,
            phone: account.phone,
            phone_verified: account.phone_verified_at.is_some(),
        }
    }
}

/// The page's content for the session asking.
#[derive(Debug, Clone)]
pub struct CredentialsOverview {
    pub account: AccountSummary,
    pub devices: Vec<DeviceView>,
    /// The account's live sessions, the asking one marked; empty for a recovery session,
    /// which may not see them.
    pub sessions: Vec<SessionView>,
    pub recoveries: Vec<RecoveryNote>,
}

impl Service {
    /// Security credentials for `session`'s account; `None` when the account is gone.
    pub async fn credentials_overview(
        &self,
        session: &CurrentSession,
    ) -> Result<Option<CredentialsOverview>, ServiceError> {
        self.authorize(session, SessionAction::ViewCredentials)?;
        let Some(overview) = self.overview(&session.account_id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let sessions = match session.kind {
            SessionKind::Full => overview
                .sessions
                .iter()
                .filter(|s| self.config.sessions.is_live(s.times(), now))
                .map(|s| SessionView::listed(s.clone(), s.token_hash == session.token_hash))
                .collect(),
            SessionKind::AlternativeFactors => Vec::new(),
        };
        Ok(Some(CredentialsOverview {
            account: overview.account.clone(),
            devices: overview.devices.clone(),
            sessions,
            recoveries: overview.recoveries.clone(),
        }))
    }

    async fn overview(&self, account: &AccountId) -> Result<Option<Arc<Overview>>, ServiceError> {
        if let Some(kept) = self.cache.overview(account) {
            return Ok(Some(kept));
        }
        let ticket = self.cache.ticket();
        let Some(record) = self.account(account).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let overview = Arc::new(Overview {
            devices: self.devices(account).await?,
            sessions: self.store.account_sessions(account, now).await?,
            recoveries: self.recent_recoveries(account).await?,
            account: record.into(),
        });
        self.cache.keep_overview(ticket, account, overview.clone());
        Ok(Some(overview))
    }
}
