//! Throttling of repeated sign-in failures, per account **and** per source.
//!
//! The first few failures cost nothing; after that each further attempt must wait twice as
//! long as the one before (capped at an hour), and at [`LockoutPolicy::hard_limit`]
//! consecutive failures the counter refuses every attempt until the owner proves control of
//! the email address with a password reset. The state lives in the database, so every
//! instance and every session sees the same count.
//!
//! Failures are counted per account and per [`Source`]: a device that has completed a
//! sign-in to the account before (a *known device*) has a counter of its own, and every other
//! client shares the account's counter for unknown sources. Someone who knows only the email
//! address can therefore throttle, or even lock, sign-ins from devices the owner has never
//! used — never the owner's known devices. An attempt is *reserved* before it is checked
//! ([`LockoutPolicy::reserve`]): it counts as a failure from the start and is refunded or
//! cleared when it turns out right, so twenty requests sent at the same instant are judged
//! one after the other, against the count the previous ones left.

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

/// Where an attempt comes from, as far as throttling is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A client that presented a valid known-device token for the email it signs in as:
    /// judged by its own failures only, so failures from elsewhere never refuse it.
    KnownDevice { id: String },
    /// Anyone else: every unknown source of an account shares one counter, so guesses spread
    /// over many addresses are bounded as tightly as guesses from one.
    Unknown,
}

impl Source {
    /// The key of this source's counter (a column value in the store).
    pub fn key(&self) -> String {
        match self {
            Self::KnownDevice { id } => format!("device:{id}"),
            Self::Unknown => "*".to_owned(),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "*" => Some(Self::Unknown),
            _ => {
                let id = key.strip_prefix("device:")?;
                (!id.is_empty()).then(|| Self::KnownDevice { id: id.to_owned() })
            }
        }
    }
}

/// A counted failure that changed what the counter allows: worth telling the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// The free failures are spent: from the next attempt on, each must wait.
    Throttled,
    /// The hard limit is reached: nothing is checked until a password reset.
    Locked,
}

/// What happens to a reserved attempt once its outcome is known. A wrong attempt needs
/// nothing: it was counted when it was reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The attempt was right but the sign-in goes on (a right password before the MFA code,
    /// a re-entered password): the count goes back to what it was, so a code guesser cannot
    /// wipe it by typing the known password between guesses, and an owner who enters the
    /// password and then stops is not counted as failing.
    Refund,
    /// A sign-in completed from this source: its consecutive failures end.
    Clear,
}

impl LockoutPolicy {
    /// Reserves one attempt on a counter: when admitted, the state to store now, which
    /// counts the attempt as a failure until a [`Settle`] says otherwise; when not, the
    /// refusal (and nothing changes).
    ///
    /// `judged` is the count that was already judged earlier in the same sign-in (at the
    /// code step: the count when the right password was accepted): while the counter still
    /// stands there, it does not delay this attempt again, or an owner who mistyped the password a few times would be
    /// made to wait between the right password and the code. The hard limit always holds.
    pub fn reserve(
        &self,
        state: FailureState,
        judged: u32,
        now: Timestamp,
    ) -> Result<FailureState, Admission> {
        let admission = match self.admit(state, now) {
            // Exactly the count judged at the password: if it moved since — up (a failure
            // here) or down (cleared by a sign-in elsewhere) — this attempt is judged afresh.
            Admission::Throttled { .. } if state.consecutive_failures == judged => {
                Admission::Allowed
            }
            other => other,
        };
        match admission {
            Admission::Allowed => Ok(FailureState {
                consecutive_failures: state.consecutive_failures.saturating_add(1),
                last_failure_at: Some(now),
            }),
            refused => Err(refused),
        }
    }

    /// Whether the failure that brought a counter to `failures` is the one after which
    /// attempts must wait, or the one that locks it. Reservations of one counter are
    /// serialised and each adds one, so exactly one failure reaches each count: a crossing is
    /// reported once, and again only after a sign-in clears the counter (a refund only
    /// gives back the refunded attempt's own count).
    pub fn crossing(&self, failures: u32) -> Option<Crossing> {
        if failures == self.hard_limit {
            Some(Crossing::Locked)
        } else if failures == self.free_failures {
            Some(Crossing::Throttled)
        } else {
            None
        }
    }

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
    fn a_reservation_counts_the_attempt_until_it_is_refunded() {
        let policy = LockoutPolicy::default();
        type Row = (u32, Option<i64>, i64, Result<(u32, i64), Admission>);
        let table: &[Row] = &[
            // failures, last failure, now → stored state, or the refusal
            (0, None, 100, Ok((1, 100))),
            (4, Some(90), 100, Ok((5, 100))),
            (
                5,
                Some(90),
                100,
                Err(Admission::Throttled {
                    until: Timestamp(120),
                }),
            ),
            (5, Some(90), 120, Ok((6, 120))),
            (99, Some(0), 10_000, Ok((100, 10_000))),
            (100, Some(0), 10_000_000, Err(Admission::Locked)),
        ];
        for &(failures, last, now, expected) in table {
            let state = FailureState {
                consecutive_failures: failures,
                last_failure_at: last.map(Timestamp),
            };
            let got = policy.reserve(state, 0, Timestamp(now));
            let want = expected.map(|(f, at)| FailureState {
                consecutive_failures: f,
                last_failure_at: Some(Timestamp(at)),
            });
            assert_eq!(got, want, "{failures} failures, last {last:?}, now {now}");
        }
    }

    #[test]
    fn failures_judged_at_the_password_do_not_delay_the_code_again() {
        let policy = LockoutPolicy::default();
        // Six failures, then the right password (judged at 6): the code may follow at once.
        assert_eq!(
            policy.reserve(state(6, 100), 6, Timestamp(101)),
            Ok(FailureState {
                consecutive_failures: 7,
                last_failure_at: Some(Timestamp(101)),
            })
        );
        // A wrong code since counts: the next one waits.
        assert_eq!(
            policy.reserve(state(7, 101), 6, Timestamp(102)),
            Err(Admission::Throttled {
                until: Timestamp(101 + 120)
            })
        );
        // The hard limit holds whatever was judged.
        assert_eq!(
            policy.reserve(state(100, 0), 100, Timestamp(1)),
            Err(Admission::Locked)
        );
    }

    #[test]
    fn sources_round_trip_through_their_keys() {
        for source in [
            Source::Unknown,
            Source::KnownDevice {
                id: "0a1b2c".to_owned(),
            },
        ] {
            assert_eq!(Source::from_key(&source.key()), Some(source));
        }
        assert_eq!(Source::from_key("device:"), None);
        assert_eq!(Source::from_key("net:1.2.3.4"), None);
    }

    #[test]
    fn the_failures_that_begin_throttling_and_lock_are_the_crossings() {
        let policy = LockoutPolicy::default();
        let table = [
            (0, None),
            (1, None),
            (4, None),
            (5, Some(Crossing::Throttled)),
            (6, None),
            (99, None),
            (100, Some(Crossing::Locked)),
            (101, None),
        ];
        for (failures, expected) in table {
            assert_eq!(policy.crossing(failures), expected, "{failures}");
        }
        // The free failures are exactly those `admit` lets through without a wait.
        assert_eq!(policy.admit(state(4, 0), Timestamp(0)), Admission::Allowed);
        assert!(matches!(
            policy.admit(state(5, 0), Timestamp(0)),
            Admission::Throttled { .. }
        ));
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
