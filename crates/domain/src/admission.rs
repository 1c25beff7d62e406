//! Admission control before password hashing: a token bucket per client address.
//!
//! Argon2 is the one deliberately expensive thing latchkey does, so it is the thing a flood
//! would aim at. Every request that would hash takes a token from its client's bucket first;
//! an empty bucket is refused at once, without hashing, with the time to wait. The answer is
//! the same whether or not the email has an account, so it reveals nothing. Buckets live in
//! each instance's memory: they shape load, while the lockout counters that protect accounts
//! are in the database and shared.

use crate::time::{Duration, Timestamp};

#[derive(Debug, Clone, Copy)]
pub struct AdmissionPolicy {
    /// Attempts a client may make at once.
    pub burst: u32,
    /// One attempt comes back every this long.
    pub refill_every: Duration,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        Self {
            burst: 30,
            refill_every: Duration::seconds(2),
        }
    }
}

/// One client's bucket: tokens left, as of `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub tokens: u32,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    Yes(Bucket),
    /// Refused; a token comes back at `retry_at`.
    No {
        retry_at: Timestamp,
    },
}

impl AdmissionPolicy {
    pub fn full(&self, now: Timestamp) -> Bucket {
        Bucket {
            tokens: self.burst,
            at: now,
        }
    }

    /// Takes one token from `bucket` (refilled up to `now`), or says when to come back.
    pub fn take(&self, bucket: Bucket, now: Timestamp) -> Admitted {
        let step = self.refill_every.0.max(1);
        let elapsed = (now - bucket.at).0.max(0);
        let refilled = u32::try_from(elapsed / step).unwrap_or(u32::MAX);
        let tokens = bucket.tokens.saturating_add(refilled).min(self.burst);
        // Time not yet turned into a token carries over.
        let at = if tokens == self.burst {
            now
        } else {
            bucket.at + Duration(i64::from(refilled) * step)
        };
        if tokens == 0 {
            return Admitted::No {
                retry_at: at + Duration(step),
            };
        }
        Admitted::Yes(Bucket {
            tokens: tokens - 1,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_may_burst_then_waits_for_refills() {
        let policy = AdmissionPolicy {
            burst: 3,
            refill_every: Duration::seconds(2),
        };
        let mut bucket = policy.full(Timestamp(0));
        for _ in 0..3 {
            match policy.take(bucket, Timestamp(0)) {
                Admitted::Yes(next) => bucket = next,
                no => panic!("{no:?}"),
            }
        }
        assert_eq!(
            policy.take(bucket, Timestamp(1)),
            Admitted::No {
                retry_at: Timestamp(2)
            }
        );
        match policy.take(bucket, Timestamp(2)) {
            Admitted::Yes(next) => assert_eq!(
                next,
                Bucket {
                    tokens: 0,
                    at: Timestamp(2)
                }
            ),
            no => panic!("{no:?}"),
        }
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let policy = AdmissionPolicy {
            burst: 3,
            refill_every: Duration::seconds(2),
        };
        let bucket = Bucket {
            tokens: 0,
            at: Timestamp(0),
        };
        assert_eq!(
            policy.take(bucket, Timestamp(1000)),
            Admitted::Yes(Bucket {
                tokens: 2,
                at: Timestamp(1000)
            })
        );
    }
}
