//! `Troubleshoot MFA` → `Sign in using alternative factors` (journey steps 4–7).
//!
//! Started only with a live sign-in attempt (the password was verified moments ago), the
//! flow moves email_pending → email_verified → phone_verified → completed, each step one
//! conditional write on the previous state. The browser holds the flow's token in a cookie;
//! the emailed link carries a different token and works in any browser. Failures count on
//! the account's lockout, and no new link or call resets that count.

use latchkey_domain::contact_change::cooling_off_until;
use latchkey_domain::recovery::{FlowFacts, RecoveryState, Refusal};
use latchkey_domain::session::SessionKind;
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, Timestamp};

use crate::email::Notice;
use crate::error::ServiceError;
use crate::secrets::SecretToken;
use crate::sign_in::IssuedSession;
use crate::store::{
    AccountRecord, CallPurpose, CallStatus, Completion, FlowStart, NewRecoveryFlow, RecoveryEmail,
    RecoveryFlowRecord,
};
use crate::{RequestContext, Service};

/// What the recovery page shows.
#[derive(Debug, Clone)]
pub struct RecoveryView {
    pub state: RecoveryState,
    pub expires_at: Timestamp,
    pub email_masked: String,
    pub phone_masked: String,
    pub emails_sent: u32,
    pub emails_left: u32,
    pub calls_placed: u32,
    pub calls_left: u32,
    /// The newest call's status, once one was placed.
    pub call_status: Option<CallStatus>,
}

/// A started flow: the token goes in the browser's cookie.
#[derive(Debug, Clone)]
pub struct StartedRecovery {
    pub token: SecretToken,
    pub expires_at: Timestamp,
}

/// A placed call: the code to show on screen (it is stored only as an HMAC).
#[derive(Clone)]
pub struct CallCode {
    pub code: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for CallCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallCode(<redacted>)")
    }
}

fn refusal(refused: Refusal) -> ServiceError {
    match refused {
        Refusal::Expired => ServiceError::RecoveryExpired,
        Refusal::WrongStep => ServiceError::RecoveryWrongStep,
        Refusal::EmailBudget => ServiceError::RecoveryEmailLimit,
        Refusal::CallBudget => ServiceError::RecoveryCallLimit,
    }
}

fn facts(flow: &RecoveryFlowRecord) -> FlowFacts {
    FlowFacts {
        state: flow.state,
        expires_at: flow.expires_at,
        emails_sent: flow.emails_sent,
        calls_placed: flow.calls_placed,
    }
}

impl Service {
    /// The `This wasn't me` token of a flow: derived from the flow id with a server subkey, so
    /// both notices can carry it without storing it; storage keeps only its hash.
    pub(crate) fn cancel_token(&self, flow_id: &str) -> SecretToken {
        self.cancel_tokens(flow_id).swap_remove(0)
    }

    /// The flow's `This wasn't me` token under each server key, the current one first: a
    /// flow begun before a key rotation stored the hash of an older key's.
    #[expect(clippy::expect_used, reason = "an HMAC tag has the shape of a token")]
    fn cancel_tokens(&self, flow_id: &str) -> Vec<SecretToken> {
        self.recovery_cancel
            .tags(format!("recovery-cancel\0{flow_id}").as_bytes())
            .iter()
            .map(|tag| {
                SecretToken::from_presented(tag).expect("an HMAC tag has the shape of a token")
            })
            .collect()
    }

    /// The token whose hash the flow stored.
    fn flow_cancel_token(&self, flow: &RecoveryFlowRecord) -> SecretToken {
        let mut tokens = self.cancel_tokens(flow.id.as_str());
        let matching = tokens
            .iter()
            .position(|token| token.hash() == flow.cancel_token_hash)
            .unwrap_or(0);
        tokens.swap_remove(matching)
    }

    async fn live_flow(
        &self,
        token: &str,
    ) -> Result<(RecoveryFlowRecord, AccountRecord), ServiceError> {
        let token = SecretToken::from_presented(token).ok_or(ServiceError::RecoveryExpired)?;
        let flow = self
            .store
            .recovery_flow(&token.hash())
            .await?
            .ok_or(ServiceError::RecoveryExpired)?;
        if self.clock.now() >= flow.expires_at
            || matches!(
                flow.state,
                RecoveryState::Cancelled | RecoveryState::Completed
            )
        {
            return Err(ServiceError::RecoveryExpired);
        }
        let account = self
            .store
            .account_by_id(&flow.account_id)
            .await?
            .ok_or(ServiceError::RecoveryExpired)?;
        Ok((flow, account))
    }

    /// A notice about a recovery flow, carrying its `This wasn't me` link: `notice` makes it
    /// from the link.
    fn recovery_notice(
        &self,
        account: &AccountRecord,
        cancel: &SecretToken,
        notice: impl FnOnce(String) -> Notice,
        ctx: &RequestContext,
    ) -> crate::OutgoingEmail {
        let cancel = self.link(crate::Link::CancelRecovery {
            token: cancel.expose(),
        });
        self.notice_email(account, notice(cancel), ctx)
    }

    /// Refuses alternative factors while the email address or the phone number changed less
    /// than the cooling-off period ago (a contact an intruder just set must not let them in).
    /// The store refuses it again when the session would be issued, in that write.
    async fn refuse_while_contacts_cool(
        &self,
        account: &AccountRecord,
        event: AuditEvent,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (now, period) = (self.clock.now(), self.config.recovery.contact_cooling_off);
        let until = [account.email_changed_at, account.phone_changed_at]
            .into_iter()
            .filter_map(|changed| cooling_off_until(changed, now, period))
            .max();
        let Some(until) = until else {
            return Ok(());
        };
        self.record(
            ctx,
            Some(&account.id),
            event,
            AuditOutcome::Failure,
            "contact_cooling_off",
        )
        .await?;
        Err(ServiceError::ContactCoolingOff { until })
    }

    /// `Sign in using alternative factors`, from the MFA page of a live sign-in attempt.
    pub async fn start_recovery(
        &self,
        attempt: &str,
        ctx: &RequestContext,
    ) -> Result<StartedRecovery, ServiceError> {
        let now = self.clock.now();
        let (token, attempt, account) = self.live_attempt(attempt).await?;
        if self.store.recovery_blocked_at(&account.id).await?.is_some() {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::RecoveryStarted,
                AuditOutcome::Failure,
                "blocked_by_owner",
            )
            .await?;
            return Err(ServiceError::RecoveryBlocked);
        }
        self.refuse_while_contacts_cool(&account, AuditEvent::RecoveryStarted, ctx)
            .await?;
        let flow_token = SecretToken::generate();
        let id = crate::secrets::new_id("rec");
        let expires_at = self.config.recovery.expires_at(now);
        let cancel = self.cancel_token(&id);
        let mail = self.recovery_notice(
            &account,
            &cancel,
            |cancel| Notice::RecoveryStarted { cancel },
            ctx,
        );
        let flow = NewRecoveryFlow {
            id: latchkey_domain::FlowId::new(id.clone()),
            token_hash: flow_token.hash(),
            account_id: account.id.clone(),
            cancel_token_hash: cancel.hash(),
            attempt_hash: token.hash(),
            source: attempt.source.clone(),
            started_from: ctx.client_addr.clone(),
            started_agent: ctx.user_agent.clone(),
            created_at: now,
            expires_at,
        };
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::RecoveryStarted,
            AuditOutcome::Success,
            &id,
        );
        let policy = self.config.recovery;
        let started = self
            .store
            .create_recovery_flow(
                &flow,
                (policy.flows_per_account, now - policy.flow_window),
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?;
        if started != FlowStart::Started {
            let (detail, error) = match started {
                FlowStart::AlreadyStarted => {
                    ("already_started", ServiceError::RecoveryAlreadyStarted)
                }
                _ => ("flow_budget", ServiceError::RecoveryBudget),
            };
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::RecoveryStarted,
                AuditOutcome::Failure,
                detail,
            )
            .await?;
            return Err(error);
        }
        self.outbox.wake();
        Ok(StartedRecovery {
            token: flow_token,
            expires_at,
        })
    }

    pub async fn recovery_view(&self, token: &str) -> Result<RecoveryView, ServiceError> {
        let (flow, account) = self.live_flow(token).await?;
        let call = self.store.latest_call(flow.id.as_str()).await?;
        let policy = &self.config.recovery;
        Ok(RecoveryView {
            state: flow.state,
            expires_at: flow.expires_at,
            email_masked: account.email.masked(),
            phone_masked: account.phone.masked(),
            emails_sent: flow.emails_sent,
            emails_left: policy.emails_per_flow.saturating_sub(flow.emails_sent),
            calls_placed: flow.calls_placed,
            calls_left: policy.calls_per_flow.saturating_sub(flow.calls_placed),
            call_status: call.map(|c| c.status),
        })
    }

    /// Step 1, `Send verification email` (and resend): a new single-use link; any earlier
    /// link of the flow stops working.
    pub async fn send_recovery_email(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let (flow, account) = self.live_flow(token).await?;
        let now = self.clock.now();
        let policy = self.config.recovery;
        if let Err(refused) = policy.may_send_email(facts(&flow), now) {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::RecoveryEmailSent,
                AuditOutcome::Failure,
                "refused",
            )
            .await?;
            return Err(refusal(refused));
        }
        let link_token = SecretToken::generate();
        let link = self.link(crate::Link::RecoveryEmail {
            token: link_token.expose(),
        });
        let mail = self.notice_email(&account, Notice::RecoveryEmail { link }, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::RecoveryEmailSent,
            AuditOutcome::Success,
            flow.id.as_str(),
        );
        let stored = self
            .store
            .record_recovery_email(
                &RecoveryEmail {
                    flow_id: &flow.id,
                    token_hash: &link_token.hash(),
                    link_expires_at: now + policy.email_link_lifetime,
                    max_emails: policy.emails_per_flow,
                    now,
                },
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?;
        if !stored {
            return Err(refusal(Refusal::WrongStep));
        }
        self.outbox.wake();
        Ok(())
    }

    /// Whether an emailed recovery link is still good (for the confirmation page).
    pub async fn recovery_link_is_live(&self, token: &str) -> Result<bool, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(false);
        };
        Ok(self
            .store
            .recovery_flow_by_email_token(&token.hash(), self.clock.now())
            .await?
            .is_some())
    }

    /// The emailed link was confirmed (in any browser): step 1 is done.
    pub async fn verify_recovery_email(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let token = SecretToken::from_presented(token);
        let flow = match &token {
            Some(token) => {
                self.store
                    .recovery_flow_by_email_token(&token.hash(), now)
                    .await?
            }
            None => None,
        };
        let (Some(token), Some(flow)) = (token, flow) else {
            return Err(self
                .refuse_link(ctx, AuditEvent::RecoveryEmailVerified)
                .await);
        };
        let audit = self.audit(
            ctx,
            Some(&flow.account_id),
            AuditEvent::RecoveryEmailVerified,
            AuditOutcome::Success,
            flow.id.as_str(),
        );
        if self
            .store
            .verify_recovery_email(&flow.id, &token.hash(), now, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::LinkInvalid)
        }
    }

    /// Step 2, `Call me now` / `Try again`: a new 6-digit code and a call to the verified
    /// number, within the flow's budget and recovery's own call budgets.
    pub async fn call_for_recovery(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<CallCode, ServiceError> {
        let (flow, account) = self.live_flow(token).await?;
        let now = self.clock.now();
        let policy = self.config.recovery;
        if let Err(refused) = policy.may_call(facts(&flow), now) {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::RecoveryCallPlaced,
                AuditOutcome::Failure,
                if refused == Refusal::CallBudget {
                    "call_budget"
                } else {
                    "refused"
                },
            )
            .await?;
            return Err(refusal(refused));
        }
        if account.phone_verified_at.is_none() {
            return Err(ServiceError::PhoneNotVerified);
        }
        match self
            .place_verification_call(
                &account,
                &account.phone,
                CallPurpose::Recovery,
                flow.id.as_str(),
                Some(policy.calls_per_flow),
                ctx,
            )
            .await
        {
            Err(ServiceError::CallFlowGone) => Err(refusal(Refusal::WrongStep)),
            other => other,
        }
    }

    /// Step 3, `Sign in to the console`: a recovery session (one hour), every other session
    /// signed out, the owner told.
    pub async fn complete_recovery(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<IssuedSession, ServiceError> {
        let (flow, account) = self.live_flow(token).await?;
        let now = self.clock.now();
        let policy = self.config.recovery;
        if let Err(refused) = policy.may_complete(facts(&flow), now) {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::RecoveryCompleted,
                AuditOutcome::Failure,
                "wrong_step",
            )
            .await?;
            return Err(refusal(refused));
        }
        if self.store.recovery_blocked_at(&account.id).await?.is_some() {
            return Err(ServiceError::RecoveryExpired);
        }
        self.refuse_while_contacts_cool(&account, AuditEvent::RecoveryCompleted, ctx)
            .await?;
        // Scoped and short: it may only replace devices (see `SessionKind::permits`).
        let (session_token, session) = self.session_to_issue(
            &account,
            SessionKind::AlternativeFactors,
            None,
            (now, now + policy.session_lifetime),
            ctx,
        );
        let mail = self.recovery_notice(
            &account,
            &self.flow_cancel_token(&flow),
            |cancel| Notice::RecoverySignedIn { cancel },
            ctx,
        );
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::RecoveryCompleted,
            AuditOutcome::Success,
            flow.id.as_str(),
        );
        // Lockout applies to every path that mints a session, this one included: the store
        // refuses a flow whose source is locked, under the counter's lock.
        match self
            .store
            .complete_recovery(
                &flow.id,
                now - policy.contact_cooling_off,
                self.config.lockout.hard_limit,
                &session,
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?
        {
            Completion::Completed => {}
            Completion::NotReady => return Err(refusal(Refusal::WrongStep)),
            Completion::Locked => {
                self.record(
                    ctx,
                    Some(&account.id),
                    AuditEvent::RecoveryCompleted,
                    AuditOutcome::Failure,
                    "locked",
                )
                .await?;
                return Err(ServiceError::AccountLocked);
            }
        }
        self.outbox.wake();
        Ok(self.issued(&account, session_token, &session))
    }
}

/// What happened to a recent sign-in with alternative factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryNoteEvent {
    Started,
    Completed,
    /// Stopped with `This wasn't me`.
    Cancelled,
}

/// A line for Security credentials about a recent sign-in with alternative factors.
#[derive(Debug, Clone)]
pub struct RecoveryNote {
    pub event: RecoveryNoteEvent,
    pub at: Timestamp,
    pub client_addr: String,
}

impl Service {
    /// Recoveries started, completed or stopped on the account in the last two weeks, newest
    /// first: the owner sees them on Security credentials as well as in the emails.
    pub async fn recent_recoveries(
        &self,
        account: &AccountId,
    ) -> Result<Vec<RecoveryNote>, ServiceError> {
        let since = self.clock.now() - latchkey_domain::Duration::hours(24 * 14);
        let records = self.store.recent_audit(Some(account), 200).await?;
        Ok(records
            .into_iter()
            .filter(|r| r.at >= since && r.outcome == AuditOutcome::Success.as_str())
            .filter_map(|r| {
                let event = [
                    (AuditEvent::RecoveryStarted, RecoveryNoteEvent::Started),
                    (AuditEvent::RecoveryCompleted, RecoveryNoteEvent::Completed),
                    (AuditEvent::RecoveryCancelled, RecoveryNoteEvent::Cancelled),
                ]
                .into_iter()
                .find(|(audited, _)| r.event == audited.as_str())?
                .1;
                Some(RecoveryNote {
                    event,
                    at: r.at,
                    client_addr: r.client_addr,
                })
            })
            .collect())
    }
}
