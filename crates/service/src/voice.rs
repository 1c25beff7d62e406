//! Verification calls: the port that places them, and what the call says when the phone
//! answers and when digits arrive.
//!
//! Both providers — Twilio's webhooks and the built-in phone at `/dev/phone` — go through
//! [`Service::answer_call`] and [`Service::receive_digits`]. Only digits that arrive on a
//! call latchkey placed (matched by our call id *and* the provider's call id), for a flow
//! still waiting at the phone step, before the code expires, count.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use latchkey_domain::{AuditEvent, AuditOutcome, CallId};

use crate::email::SendError;
use crate::error::ServiceError;
use crate::recovery::CallCode;
use crate::secrets::random_below;
use crate::store::{
    AccountRecord, CallPlacement, CallPurpose, CallRecord, CallScope, CallStatus, NewCall,
};
use crate::{RequestContext, Service};

/// A call to place: our id (which the webhook URLs carry) and the verified number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutgoingCall {
    pub call_id: String,
    pub to: String,
}

/// The provider's id for a placed call (Twilio's `CallSid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCall {
    pub provider_call_id: String,
}

/// Places calls. Implementations: Twilio (REST) and the built-in phone.
#[async_trait]
pub trait VoiceCaller: Send + Sync {
    async fn place_call(&self, call: &OutgoingCall) -> Result<PlacedCall, SendError>;
    fn describe(&self) -> String;
}

/// What the call says next (the words are the web layer's: `latchkey_web::voice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallScript {
    /// Ask for the 6 digits (again, after a wrong entry, when `retry`). `attempt` is the
    /// number of entries already counted on the call: the answer to this prompt must carry
    /// it back (Twilio signs the URL it is in), so a replayed or duplicated answer to an
    /// earlier prompt is never counted — or checked — twice.
    Prompt { retry: bool, attempt: u32 },
    /// The right digits: thank and hang up.
    Verified,
    /// Too many wrong entries: say so and hang up.
    TooManyAttempts,
    /// Not a call latchkey is waiting on (unknown, superseded, expired, already verified).
    NotValid,
}

impl CallScript {
    pub fn expects_digits(self) -> bool {
        matches!(self, Self::Prompt { .. })
    }
}

/// Digits that arrived on a call, as the provider reported them.
#[derive(Debug, Clone, Copy)]
pub struct DigitsReport<'a> {
    /// Our call id (in the webhook's URL).
    pub call_id: &'a CallId,
    /// The provider's id for the call (Twilio's `CallSid`).
    pub provider_call_id: &'a str,
    pub digits: &'a str,
    /// The prompt these digits answer (`CallScript::Prompt::attempt`, carried in the URL);
    /// `None` when the request did not say, which is never counted.
    pub prompt: Option<u32>,
    /// The number the provider says it called; `None` for the built-in phone.
    pub to: Option<&'a str>,
}

/// Whether the provider's idea of the called number is the call's own (the built-in phone
/// reports none: it only ever rings our calls).
fn called_number_matches(call: &CallRecord, to: Option<&str>) -> bool {
    match to {
        None => true,
        Some(to) => latchkey_domain::PhoneNumber::parse(to)
            .is_ok_and(|number| number.as_str() == call.to_number),
    }
}

impl Service {
    /// A new 6-digit code (from the OS generator) and the call that will ask for it, to the
    /// account's number, queued within every budget of `purpose` (and `flow_cap` calls of a
    /// recovery flow), counted by the store in the call's own transaction. Only the code's HMAC
    /// is stored; the code is for the screen of whoever asked.
    pub(crate) async fn place_verification_call(
        &self,
        account: &AccountRecord,
        to: &latchkey_domain::PhoneNumber,
        purpose: CallPurpose,
        flow_id: &str,
        flow_cap: Option<u32>,
        ctx: &RequestContext,
    ) -> Result<CallCode, ServiceError> {
        let event = match purpose {
            CallPurpose::Recovery => AuditEvent::RecoveryCallPlaced,
            CallPurpose::SignUp => AuditEvent::SignUpCallPlaced,
            CallPurpose::ContactChange => AuditEvent::ContactChangeCallPlaced,
        };
        // Anyone can reach a sign-up's call button: like every request that spends
        // something, it takes a token from its client's bucket first.
        self.admit(ctx)?;
        let refuse = async |detail: &str, error: ServiceError| {
            self.record(ctx, Some(&account.id), event, AuditOutcome::Failure, detail)
                .await?;
            Err(error)
        };
        if let Err(refused) = self.config.calls.may_call_number(to) {
            return refuse(
                "destination_not_allowed",
                ServiceError::CallDestination(refused),
            )
            .await;
        }
        let now = self.clock.now();
        let code = format!("{:06}", random_below(1_000_000));
        let call_id = crate::secrets::new_id("call");
        let expires_at = now + self.config.recovery.phone_code_lifetime;
        let to = to.as_str().to_owned();
        let call = NewCall {
            id: latchkey_domain::CallId::new(call_id.clone()),
            account_id: account.id.clone(),
            purpose,
            flow_id: flow_id.to_owned(),
            to_number: to.clone(),
            client_network: ctx.network.clone(),
            code_hash: self.phone_code_hash(&call_id, &code),
            code_expires_at: expires_at,
            created_at: now,
        };
        let message = self.outbox.call(
            &OutgoingCall {
                call_id: call_id.clone(),
                to,
            },
            now,
        );
        let audit = self.audit(
            ctx,
            Some(&account.id),
            event,
            AuditOutcome::Success,
            &call_id,
        );
        let limits = self.config.calls.limits(purpose, now);
        match self
            .store
            .place_call(&call, flow_cap, &limits, &[message], &audit)
            .await?
        {
            CallPlacement::Placed => {
                self.outbox.wake();
                Ok(CallCode { code, expires_at })
            }
            CallPlacement::FlowGone => refuse("refused", ServiceError::CallFlowGone).await,
            CallPlacement::OverBudget(scope) => {
                let detail = match scope {
                    CallScope::Account => "call_budget_account",
                    CallScope::Destination => "call_budget_destination",
                    CallScope::Client => "call_budget_client",
                    CallScope::Server => "call_budget_server",
                };
                refuse(detail, ServiceError::CallBudget).await
            }
        }
    }

    pub(crate) fn phone_code_hash(&self, call_id: &str, digits: &str) -> String {
        self.phone_codes
            .sign(phone_code_message(call_id, digits).as_bytes())
    }

    /// The call if it is one latchkey is waiting on: placed by us with this provider id (or
    /// still unbound, when the provider's webhook beats our own record of the placement).
    async fn live_call(
        &self,
        call_id: &CallId,
        provider_call_id: &str,
    ) -> Result<Option<CallRecord>, ServiceError> {
        let Some(call) = self.store.call(call_id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= call.code_expires_at {
            return Ok(None);
        }
        match (&call.provider_call_id, call.status) {
            (Some(bound), CallStatus::Placed)
                if bound.as_bytes().ct_eq(provider_call_id.as_bytes()).into() =>
            {
                Ok(Some(call))
            }
            (None, CallStatus::Queued | CallStatus::Dialling) => {
                // The provider's webhook and the worker (recording the provider's answer to
                // the placement) may bind the call at the same moment; whichever wins, the
                // call must end up placed under this provider id.
                self.store.bind_call(call_id, provider_call_id, now).await?;
                Ok(self.store.call(call_id).await?.filter(|bound| {
                    bound.status == CallStatus::Placed
                        && bound.provider_call_id.as_deref().is_some_and(|id| {
                            bool::from(id.as_bytes().ct_eq(provider_call_id.as_bytes()))
                        })
                }))
            }
            _ => Ok(None),
        }
    }

    /// The phone picked up. `to` is the number the provider says it called (Twilio's `To`),
    /// checked against the call's own: a webhook for any other number changes nothing.
    pub async fn answer_call(
        &self,
        call_id: &CallId,
        provider_call_id: &str,
        to: Option<&str>,
    ) -> Result<CallScript, ServiceError> {
        Ok(match self.live_call(call_id, provider_call_id).await? {
            Some(call) if called_number_matches(&call, to) => CallScript::Prompt {
                retry: false,
                attempt: call.digit_attempts,
            },
            _ => CallScript::NotValid,
        })
    }

    /// Digits keyed on the phone, in answer to the prompt numbered `report.prompt`.
    pub async fn receive_digits(
        &self,
        report: &DigitsReport<'_>,
        ctx: &RequestContext,
    ) -> Result<CallScript, ServiceError> {
        let live = self
            .live_call(report.call_id, report.provider_call_id)
            .await?
            .filter(|call| called_number_matches(call, report.to));
        let (Some(call), Some(prompt)) = (live, report.prompt) else {
            self.record(
                ctx,
                None,
                AuditEvent::PhoneCode,
                AuditOutcome::Failure,
                "call_not_valid",
            )
            .await?;
            return Ok(CallScript::NotValid);
        };
        let now = self.clock.now();
        let max = self.config.recovery.digit_attempts_per_call;
        // The entry is counted before it is checked, once per prompt: a duplicate or a
        // replay of an answer already counted is neither counted nor checked again.
        if !self
            .store
            .reserve_digit_attempt(&call.id, prompt, max, now)
            .await?
        {
            return Ok(if call.digit_attempts < max {
                CallScript::Prompt {
                    retry: true,
                    attempt: call.digit_attempts,
                }
            } else {
                CallScript::NotValid
            });
        }
        let digits = report.digits;
        let well_formed = digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit());
        let expected = call.code_hash.as_bytes();
        // Under every server key: a call placed just before a rotation stored the tag of the
        // key that was current then.
        let matches = well_formed
            && self
                .phone_codes
                .tags(phone_code_message(call.id.as_str(), digits).as_bytes())
                .iter()
                .fold(false, |found, tag| {
                    found | bool::from(tag.as_bytes().ct_eq(expected))
                });
        if matches {
            let audit = self.audit(
                ctx,
                Some(&call.account_id),
                AuditEvent::PhoneCode,
                AuditOutcome::Success,
                call.id.as_str(),
            );
            if self
                .store
                .verify_call(&call.id, report.provider_call_id, now, &audit)
                .await?
            {
                return Ok(CallScript::Verified);
            }
            return Ok(CallScript::NotValid);
        }
        let audit = self.audit(
            ctx,
            Some(&call.account_id),
            AuditEvent::PhoneCode,
            AuditOutcome::Failure,
            "wrong_digits",
        );
        self.store
            .record_wrong_digits(&call.id, now, &audit)
            .await?;
        let attempts = prompt + 1;
        if attempts >= max {
            self.store
                .end_call(&call.id, CallStatus::Ended, now)
                .await?;
            return Ok(CallScript::TooManyAttempts);
        }
        Ok(CallScript::Prompt {
            retry: true,
            attempt: attempts,
        })
    }

    /// A provider's status report (`completed`, `busy`, `no-answer`, `failed`, …): a call
    /// that ended without the right digits stops being live.
    pub async fn call_status(
        &self,
        call_id: &CallId,
        provider_call_id: &str,
        status: &str,
    ) -> Result<(), ServiceError> {
        let Some(call) = self.store.call(call_id).await? else {
            return Ok(());
        };
        if call.provider_call_id.as_deref() != Some(provider_call_id) {
            return Ok(());
        }
        let ended = match status {
            "completed" => Some(CallStatus::Ended),
            "busy" | "no-answer" | "failed" | "canceled" => Some(CallStatus::Failed),
            _ => None,
        };
        if let Some(ended) = ended {
            self.store
                .end_call(&call.id, ended, self.clock.now())
                .await?;
        }
        Ok(())
    }
}

/// What the stored tag of a call's code is made over.
fn phone_code_message(call_id: &str, digits: &str) -> String {
    format!("phone-code\0{call_id}\0{digits}")
}
