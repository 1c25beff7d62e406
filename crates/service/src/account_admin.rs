//! The operator's views of accounts — `latchkey account list` and `latchkey account show` —
//! and the switch that keeps an account out: `latchkey account disable` / `enable`.
//!
//! Disabling is for an account that must not be used for now (a compromise being
//! investigated, an owner who left). It is one store transaction with its audit record and a
//! notice to the owner: the account is marked disabled, every session ends, and whatever was
//! in progress (sign-ins waiting for a code, recoveries, enrolments, contact changes) stops.
//! While it is disabled no session is issued to it: the statement that inserts a session
//! checks the mark under the account row's lock, so a sign-in that was already past its
//! checks cannot finish after the disable. Sign-in says the account is disabled only after
//! the right password; to someone who knows only the address it answers as for any account.
//! Enabling changes nothing else: sessions that ended stay ended.

use latchkey_domain::{AccountId, AccountStatus, AuditEvent, AuditOutcome, Timestamp};

use crate::email::Notice;
use crate::event_history::{Event, EventQuery};
use crate::mfa::DeviceView;
use crate::operator::OperatorError;
use crate::password_reset::format_time;
use crate::session_list::SessionView;
use crate::store::{AccountPage, AccountRecord, AccountSummary};
use crate::{RequestContext, Service};

/// The most accounts one page of `latchkey account list` holds.
pub const ACCOUNT_PAGE_MAX: i64 = 1_000;
/// How many of the newest events `latchkey account show` prints.
pub const OVERVIEW_EVENTS: i64 = 10;

/// A page of accounts in email order, and where the next page starts.
#[derive(Debug, Clone)]
pub struct AccountList {
    pub accounts: Vec<AccountSummary>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// What `latchkey account show` prints: the account with its contacts masked, its devices,
/// its live sessions and its newest events.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub id: AccountId,
    pub name: String,
    pub status: AccountStatus,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    pub email_masked: String,
    pub email_verified_at: Option<Timestamp>,
    pub email_changed_at: Option<Timestamp>,
    pub phone_masked: String,
    pub phone_verified_at: Option<Timestamp>,
    pub phone_changed_at: Option<Timestamp>,
    pub password_changed_at: Timestamp,
    /// `This wasn't me` blocked alternative factors at this instant.
    pub recovery_blocked_at: Option<Timestamp>,
    pub devices: Vec<DeviceView>,
    pub sessions: Vec<SessionView>,
    /// Newest first.
    pub events: Vec<Event>,
}

/// What `disable` did.
#[derive(Debug, Clone)]
pub struct AccountDisabled {
    pub account_id: AccountId,
    pub sessions_revoked: u64,
}

impl Service {
    /// `latchkey account list`: accounts in email order, `limit` at a time (at most
    /// [`ACCOUNT_PAGE_MAX`]), after the address `after`.
    pub async fn list_accounts(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<AccountList, OperatorError> {
        let limit = limit.clamp(1, ACCOUNT_PAGE_MAX);
        // One more than asked, to know whether another page exists.
        let now = self.clock.now();
        let mut accounts = self
            .store
            .list_accounts(&AccountPage {
                after,
                limit: limit + 1,
                now,
                seen_since: now - self.config.sessions.idle,
            })
            .await?;
        let more = accounts.len() as i64 > limit;
        accounts.truncate(limit as usize);
        let next_after = more
            .then(|| accounts.last().map(|a| a.email.as_str().to_owned()))
            .flatten();
        Ok(AccountList {
            accounts,
            next_after,
        })
    }

    /// `latchkey account show EMAIL`. Reading is not audited: the operator who can run it
    /// can read the database.
    pub async fn account_overview(&self, email: &str) -> Result<AccountOverview, OperatorError> {
        let account = match latchkey_domain::EmailAddress::parse(email) {
            Ok(email) => self.store.account_by_email(&email).await?,
            Err(_) => None,
        }
        .ok_or(OperatorError::UnknownAccount)?;
        let devices = self
            .store
            .mfa_devices(&account.id)
            .await?
            .iter()
            .map(DeviceView::from)
            .collect();
        let sessions = self
            .live_sessions(&account.id)
            .await?
            .into_iter()
            .map(|listing| SessionView::listed(listing, false))
            .collect();
        let events = self
            .audit_events(
                Some(&account.id),
                &EventQuery {
                    limit: OVERVIEW_EVENTS,
                    ..EventQuery::default()
                },
            )
            .await?
            .events;
        let recovery_blocked_at = self.store.recovery_blocked_at(&account.id).await?;
        Ok(AccountOverview {
            id: account.id.clone(),
            name: account.name.clone(),
            status: account.status,
            created_at: account.created_at,
            disabled_at: account.disabled_at,
            email_masked: account.email.masked(),
            email_verified_at: account.email_verified_at,
            email_changed_at: account.email_changed_at,
            phone_masked: account.phone.masked(),
            phone_verified_at: account.phone_verified_at,
            phone_changed_at: account.phone_changed_at,
            password_changed_at: account.password_changed_at,
            recovery_blocked_at,
            devices,
            sessions,
            events,
        })
    }

    /// `latchkey account disable EMAIL --reason TEXT`.
    pub async fn disable_account_by_operator(
        &self,
        email: &str,
        reason: &str,
    ) -> Result<AccountDisabled, OperatorError> {
        let event = AuditEvent::OperatorDisabledAccount;
        let (reason, ctx, account) = self.operator_command(email, reason, event).await?;
        let now = self.clock.now();
        let notice = Notice::AccountDisabled {
            at: format_time(now),
            reason: reason.clone(),
        };
        let (mail, audit) = self.switch_effects(&account, notice, event, &reason, &ctx);
        let outbox = [self.outbox.email(&mail, now)];
        match self
            .store
            .disable_account(&account.id, now, &outbox, &audit)
            .await?
        {
            Some(sessions_revoked) => {
                self.outbox.wake();
                Ok(AccountDisabled {
                    account_id: account.id,
                    sessions_revoked,
                })
            }
            None => {
                self.refused_switch(&account, event, "already_disabled", &ctx)
                    .await?;
                Err(OperatorError::AlreadyDisabled)
            }
        }
    }

    /// `latchkey account enable EMAIL --reason TEXT`.
    pub async fn enable_account_by_operator(
        &self,
        email: &str,
        reason: &str,
    ) -> Result<AccountId, OperatorError> {
        let event = AuditEvent::OperatorEnabledAccount;
        let (reason, ctx, account) = self.operator_command(email, reason, event).await?;
        let now = self.clock.now();
        let notice = Notice::AccountEnabled {
            at: format_time(now),
            reason: reason.clone(),
        };
        let (mail, audit) = self.switch_effects(&account, notice, event, &reason, &ctx);
        let outbox = [self.outbox.email(&mail, now)];
        if self
            .store
            .enable_account(&account.id, &outbox, &audit)
            .await?
        {
            self.outbox.wake();
            Ok(account.id)
        } else {
            self.refused_switch(&account, event, "not_disabled", &ctx)
                .await?;
            Err(OperatorError::NotDisabled)
        }
    }

    /// The owner's notice and the audit record of a disable or an enable.
    fn switch_effects(
        &self,
        account: &AccountRecord,
        notice: Notice,
        event: AuditEvent,
        reason: &str,
        ctx: &RequestContext,
    ) -> (crate::OutgoingEmail, crate::AuditRecord) {
        let mail = self.notice_email(account, notice, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            event,
            AuditOutcome::Success,
            &format!("reason: {reason}"),
        );
        (mail, audit)
    }

    /// A disable of a disabled account, or an enable of an enabled one, recorded.
    async fn refused_switch(
        &self,
        account: &AccountRecord,
        event: AuditEvent,
        detail: &str,
        ctx: &RequestContext,
    ) -> Result<(), OperatorError> {
        self.record(ctx, Some(&account.id), event, AuditOutcome::Failure, detail)
            .await?;
        Ok(())
    }
}
