//! `This wasn't me`: the owner's answer to a sign-in with alternative factors they did not
//! make, from the link in either notice (started, completed) or from the emailed link's own
//! page.
//!
//! Whoever started the flow knew the password and, to finish it, briefly controlled the inbox
//! and the phone. An undo that leaves what they added in place is not an undo, so reporting a
//! flow — for 7 days after it completed or expired — ends every session, removes every MFA
//! device activated since it began, voids pending enrolments, ceremonies, sign-in attempts and
//! reset links, replaces the password with one nobody knows, and blocks alternative factors
//! until the owner proves control again: a password reset by email *and* a sign-in with an
//! MFA device that predates the recovery (or an operator's `account unblock-recovery`).
//! Devices the intruder removed are not restored: a removal cannot be told apart from the
//! owner retiring a stolen device, and restoring it could hand that device back.

use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};

use crate::email::Notice;
use crate::error::ServiceError;
use crate::password_reset::format_time;
use crate::secrets::{SecretToken, random_bytes};
use crate::store::{RecoveryFlowRecord, RecoveryReport};
use crate::{RequestContext, Service};

/// What a `This wasn't me` page shows before the owner confirms.
#[derive(Debug, Clone)]
pub struct ReportContext {
    /// When the flow began, and from where (client address and browser).
    pub started_at: Timestamp,
    pub started_from: String,
    pub started_agent: String,
    /// Whether the flow reached the end and a session was issued.
    pub completed: bool,
}

/// What `This wasn't me` did, for the page that confirms it.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    pub devices_removed: usize,
    /// Devices activated from this moment on were removed; an older one lifts the block.
    pub since: Timestamp,
}

impl Service {
    fn report_context(flow: &RecoveryFlowRecord) -> ReportContext {
        ReportContext {
            started_at: flow.created_at,
            started_from: flow.started_from.clone(),
            started_agent: flow.started_agent.clone(),
            completed: flow.completed_at.is_some(),
        }
    }

    /// Whether a flow's `This wasn't me` link still works: once, and for the undo window
    /// after the flow completed (or expired without completing).
    fn report_window_open(&self, flow: &RecoveryFlowRecord) -> bool {
        let ended = flow.completed_at.unwrap_or(flow.expires_at);
        flow.reported_at.is_none() && self.clock.now() < ended + self.config.recovery.undo_window
    }

    async fn flow_by_report_link(
        &self,
        token: &str,
    ) -> Result<Option<RecoveryFlowRecord>, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(None);
        };
        Ok(self
            .store
            .recovery_flow_by_cancel_token(&token.hash())
            .await?
            .filter(|flow| self.report_window_open(flow)))
    }

    /// The context of a `This wasn't me` link, or `None` when it is unknown, used or expired.
    pub async fn report_link(&self, token: &str) -> Result<Option<ReportContext>, ServiceError> {
        Ok(self
            .flow_by_report_link(token)
            .await?
            .as_ref()
            .map(Self::report_context))
    }

    /// The context of a live recovery email link (for its confirmation page: when and from
    /// where the sign-in began), or `None`.
    pub async fn recovery_link_context(
        &self,
        token: &str,
    ) -> Result<Option<ReportContext>, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(None);
        };
        Ok(self
            .store
            .recovery_flow_by_email_token(&token.hash(), self.clock.now())
            .await?
            .as_ref()
            .map(Self::report_context))
    }

    /// `This wasn't me` from a notice's link.
    pub async fn report_recovery(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<ReportOutcome, ServiceError> {
        let flow = self.flow_by_report_link(token).await?;
        self.report_flow(flow, ctx).await
    }

    /// `This wasn't me` from the page of the emailed verification link itself.
    pub async fn report_recovery_by_email_link(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<ReportOutcome, ServiceError> {
        let flow = match SecretToken::from_presented(token) {
            Some(token) => {
                self.store
                    .recovery_flow_by_email_token(&token.hash(), self.clock.now())
                    .await?
            }
            None => None,
        };
        self.report_flow(flow, ctx).await
    }

    async fn report_flow(
        &self,
        flow: Option<RecoveryFlowRecord>,
        ctx: &RequestContext,
    ) -> Result<ReportOutcome, ServiceError> {
        let account = match &flow {
            Some(flow) => self.store.account_by_id(&flow.account_id).await?,
            None => None,
        };
        let (Some(flow), Some(account)) = (flow, account) else {
            return Err(self.refuse_link(ctx, AuditEvent::RecoveryCancelled).await);
        };
        let now = self.clock.now();
        // The owner holds a single-use link the server sent: their undo goes ahead of a
        // flood of sign-ins rather than being refused with it.
        crate::priority::raise(crate::priority::Priority::KnownDevice);
        // Nobody knows this password: only a reset by email gets the owner back in.
        let unknown = crate::secrets::hex(&random_bytes::<32>());
        let revoked = self.hasher.hash(&unknown).await?;
        let notice = Notice::RecoveryReported {
            started: format_time(flow.created_at),
            started_from: flow.started_from.clone(),
        };
        let mail = self.notice_email(&account, notice, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::RecoveryCancelled,
            AuditOutcome::Success,
            flow.id.as_str(),
        );
        let undone = self
            .store
            .report_recovery(
                &RecoveryReport {
                    flow_id: &flow.id,
                    account: &account.id,
                    undo_window: self.config.recovery.undo_window,
                    revoked_password_hash: &revoked,
                    now,
                },
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?
            .ok_or(ServiceError::LinkInvalid)?;
        self.outbox.wake();
        Ok(ReportOutcome {
            devices_removed: undone.devices_removed.len(),
            since: undone.since,
        })
    }
}
