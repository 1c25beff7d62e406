//! Throttling of repeated sign-in failures on one account.
//!
//! The first few failures cost nothing; after that each further attempt must wait twice as
//! long as the one before (capped at an hour), and at [`LockoutPolicy::hard_limit`]
//! consecutive failures the account refuses every attempt until the owner proves control of
//! the email address with a password reset. A success resets the count. The state lives in
//! the database, so every instance and every session sees the same count.

use crate::time::{Duration, Timestamp};

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures allowed before any delay applies.
    pub free_failures: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// At this many consecutive failures the account locks until a password reset
    /// (NIST SP 800-63B allows at most 100).
    pub hard_limit: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            hard_limit: 100,
        }
    }
}

/// The persisted failure record of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureState {
    pub consecutive_failures: u32,
    pub last_failure_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Too many recent failures: no attempt is checked before `until`.
    Throttled {
        until: Timestamp,
    },
    /// Too many failures in all: only a password reset unlocks the account.
    Locked,
}

impl LockoutPolicy {
    pub fn admit(&self, state: FailureState, now: Timestamp) -> Admission {
        if state.consecutive_failures >= self.hard_limit {
            return Admission::Locked;
        }
        if state.consecutive_failures < self.free_failures {
            return Admission::Allowed;
        }
        let Some(last) = state.last_failure_at else {
            return Admission::Allowed;
        };
        let until = last + self.delay_after(state.consecutive_failures);
        if now < until {
            Admission::Throttled { until }
        } else {
            Admission::Allowed
        }
    }

    fn delay_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(self.free_failures).min(20);
        let delay = self.base_delay.0.saturating_mul(1i64 << doublings);
        Duration(delay.min(self.max_delay.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(failures: u32, last: i64) -> FailureState {
        FailureState {
            consecutive_failures: failures,
            last_failure_at: Some(Timestamp(last)),
        }
    }

    #[test]
    fn first_failures_are_free() {
        let policy = LockoutPolicy::default();
        assert_eq!(
            policy.admit(state(4, 100), Timestamp(100)),
            Admission::Allowed
        );
    }

    #[test]
    fn delay_doubles_after_the_free_failures() {
        let policy = LockoutPolicy::default();
        assert_eq!(
            policy.admit(state(5, 100), Timestamp(129)),
            Admission::Throttled {
                until: Timestamp(130)
            }
        );
        assert_eq!(
            policy.admit(state(5, 100), Timestamp(130)),
            Admission::Allowed
        );
        assert_eq!(
            policy.admit(state(6, 100), Timestamp(130)),
            Admission::Throttled {
                until: Timestamp(160)
            }
        );
    }

    #[test]
    fn delay_is_capped_at_an_hour() {
        let policy = LockoutPolicy::default();
        assert_eq!(
            policy.admit(state(60, 0), Timestamp(10)),
            Admission::Throttled {
                until: Timestamp(3600)
            }
        );
    }

    #[test]
    fn hundred_failures_lock_the_account_whatever_the_time() {
        let policy = LockoutPolicy::default();
        assert_eq!(
            policy.admit(state(100, 0), Timestamp(10_000_000)),
            Admission::Locked
        );
    }
}
