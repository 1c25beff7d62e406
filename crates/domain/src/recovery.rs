//! `Sign in using alternative factors`: the recovery flow's states, lifetimes and budgets.
//!
//! The flow is a strict sequence — password (in the sign-in attempt that starts it) → email
//! link → voice call → session — persisted so that it survives restarts and works across
//! instances. Each transition is a conditional write on the current state, so steps cannot be
//! skipped, reordered or replayed.

use crate::time::{Duration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryState {
    /// Started; waiting for the email link.
    EmailPending,
    /// Email proven; waiting for the voice call's digits.
    EmailVerified,
    /// Phone proven; `Sign in to the console` may be pressed.
    PhoneVerified,
    /// A session was issued. Terminal.
    Completed,
    /// Ended by `This wasn't me`. Terminal.
    Cancelled,
}

impl RecoveryState {
    /// The stored encoding. The API names states itself (`latchkey_web`'s `api::values`),
    /// so a column can change without changing what clients read.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailPending => "email_pending",
            Self::EmailVerified => "email_verified",
            Self::PhoneVerified => "phone_verified",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email_pending" => Some(Self::EmailPending),
            "email_verified" => Some(Self::EmailVerified),
            "phone_verified" => Some(Self::PhoneVerified),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// Lifetimes and budgets of the flow. The defaults follow SPEC §2's suggestions.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryPolicy {
    pub flow_lifetime: Duration,
    pub email_link_lifetime: Duration,
    pub phone_code_lifetime: Duration,
    /// Verification emails one flow may send (the first and the resends).
    pub emails_per_flow: u32,
    /// Calls one flow may place (`Call me now` and each `Try again`); the budgets beyond the
    /// flow are `crate::calls::CallPolicy`'s.
    pub calls_per_flow: u32,
    /// Wrong digit entries allowed on one call before it hangs up.
    pub digit_attempts_per_call: u32,
    /// The recovery session's absolute lifetime (≤ 1 hour).
    pub session_lifetime: Duration,
    /// For this long after a flow completed (or, if it never did, after it expired), its
    /// `This wasn't me` link undoes what was done since it started; older links expire.
    pub undo_window: Duration,
    /// Flows one account may start within [`RecoveryPolicy::flow_window`]: each one emails
    /// the owner, so someone who knows the password cannot flood the inbox.
    pub flows_per_account: u32,
    pub flow_window: Duration,
    /// How long a changed email address or phone number waits before alternative factors
    /// use it (`LATCHKEY_CONTACT_COOLING_OFF_HOURS`).
    pub contact_cooling_off: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            flow_lifetime: Duration::minutes(30),
            email_link_lifetime: Duration::minutes(15),
            phone_code_lifetime: Duration::minutes(10),
            emails_per_flow: 3,
            calls_per_flow: 3,
            digit_attempts_per_call: 3,
            session_lifetime: Duration::hours(1),
            undo_window: Duration::hours(24 * 7),
            flows_per_account: 5,
            flow_window: Duration::hours(24),
            contact_cooling_off: crate::contact_change::DEFAULT_COOLING_OFF,
        }
    }
}

/// A persisted flow, as the rules need to see it.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts {
    pub state: RecoveryState,
    pub expires_at: Timestamp,
    pub emails_sent: u32,
    pub calls_placed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    WrongStep,
    EmailBudget,
    CallBudget,
}

impl RecoveryPolicy {
    pub fn expires_at(&self, started: Timestamp) -> Timestamp {
        started + self.flow_lifetime
    }

    pub fn may_send_email(&self, flow: FlowFacts, now: Timestamp) -> Result<(), Refusal> {
        if now >= flow.expires_at {
            return Err(Refusal::Expired);
        }
        if flow.state != RecoveryState::EmailPending {
            return Err(Refusal::WrongStep);
        }
        if flow.emails_sent >= self.emails_per_flow {
            return Err(Refusal::EmailBudget);
        }
        Ok(())
    }

    /// Whether a call may be placed for this flow. The budgets beyond the flow (account,
    /// destination, client, server) are counted by the store with the call's insert.
    pub fn may_call(&self, flow: FlowFacts, now: Timestamp) -> Result<(), Refusal> {
        if now >= flow.expires_at {
            return Err(Refusal::Expired);
        }
        if flow.state != RecoveryState::EmailVerified {
            return Err(Refusal::WrongStep);
        }
        if flow.calls_placed >= self.calls_per_flow {
            return Err(Refusal::CallBudget);
        }
        Ok(())
    }

    pub fn may_complete(&self, flow: FlowFacts, now: Timestamp) -> Result<(), Refusal> {
        if now >= flow.expires_at {
            return Err(Refusal::Expired);
        }
        if flow.state != RecoveryState::PhoneVerified {
            return Err(Refusal::WrongStep);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(state: RecoveryState) -> FlowFacts {
        FlowFacts {
            state,
            expires_at: Timestamp(1800),
            emails_sent: 0,
            calls_placed: 0,
        }
    }

    #[test]
    fn steps_run_in_order_only() {
        let policy = RecoveryPolicy::default();
        let now = Timestamp(0);
        assert_eq!(
            policy.may_send_email(flow(RecoveryState::EmailPending), now),
            Ok(())
        );
        assert_eq!(
            policy.may_send_email(flow(RecoveryState::EmailVerified), now),
            Err(Refusal::WrongStep)
        );
        assert_eq!(
            policy.may_call(flow(RecoveryState::EmailPending), now),
            Err(Refusal::WrongStep)
        );
        assert_eq!(
            policy.may_call(flow(RecoveryState::EmailVerified), now),
            Ok(())
        );
        assert_eq!(
            policy.may_complete(flow(RecoveryState::EmailVerified), now),
            Err(Refusal::WrongStep)
        );
        assert_eq!(
            policy.may_complete(flow(RecoveryState::PhoneVerified), now),
            Ok(())
        );
        assert_eq!(
            policy.may_complete(flow(RecoveryState::Completed), now),
            Err(Refusal::WrongStep)
        );
    }

    #[test]
    fn the_whole_flow_expires() {
        let policy = RecoveryPolicy::default();
        let late = Timestamp(1800);
        assert_eq!(
            policy.may_send_email(flow(RecoveryState::EmailPending), late),
            Err(Refusal::Expired)
        );
        assert_eq!(
            policy.may_call(flow(RecoveryState::EmailVerified), late),
            Err(Refusal::Expired)
        );
        assert_eq!(
            policy.may_complete(flow(RecoveryState::PhoneVerified), late),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn emails_and_calls_are_budgeted_per_flow() {
        let policy = RecoveryPolicy::default();
        let now = Timestamp(0);
        let mut f = flow(RecoveryState::EmailPending);
        f.emails_sent = 3;
        assert_eq!(policy.may_send_email(f, now), Err(Refusal::EmailBudget));
        let mut f = flow(RecoveryState::EmailVerified);
        f.calls_placed = 3;
        assert_eq!(policy.may_call(f, now), Err(Refusal::CallBudget));
        f.calls_placed = 2;
        assert_eq!(policy.may_call(f, now), Ok(()));
    }
}
