//! The per-client gate in front of password hashing and code checks (see
//! `latchkey_domain::admission`). A client's bucket is its network's (`RequestContext::network`:
//! the address, or an IPv6 client's /64), or a known device's own. Buckets are kept in memory,
//! bounded in number: when the table is full, buckets that have refilled completely (and so
//! carry no information) are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;

use latchkey_domain::admission::{AdmissionPolicy, Admitted, Bucket};
use latchkey_domain::{Duration, Timestamp};

use crate::error::ServiceError;
use crate::{RequestContext, Service};

const MAX_CLIENTS: usize = 100_000;

/// How many times an ordinary bucket the known devices of one account may draw on together,
/// from wherever they connect: enough for a person's laptop, phone and tablet, not for one
/// holding a drawer of tokens spread over many addresses. Shared per account, not per
/// network: a neighbour behind the same address, spending tokens of their own account,
/// cannot drain the owner's.
pub const KNOWN_DEVICES_PER_ACCOUNT: u32 = 4;

#[derive(Debug, Default)]
pub struct ClientGate {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl ClientGate {
    pub fn admit(
        &self,
        policy: &AdmissionPolicy,
        client: &str,
        now: Timestamp,
    ) -> Result<(), Timestamp> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let full_after = Duration(
                policy
                    .refill_every
                    .0
                    .saturating_mul(i64::from(policy.burst)),
            );
            buckets.retain(|_, bucket| now - bucket.at < full_after);
            if buckets.len() >= MAX_CLIENTS {
                // Every tracked client is mid-burst: refuse newcomers rather than grow.
                return Err(now + policy.refill_every);
            }
        }
        let bucket = buckets
            .get(client)
            .copied()
            .unwrap_or_else(|| policy.full(now));
        match policy.take(bucket, now) {
            Admitted::Yes(next) => {
                buckets.insert(client.to_owned(), next);
                Ok(())
            }
            Admitted::No { retry_at } => Err(retry_at),
        }
    }
}

impl Service {
    /// Takes a token for this client's network (its address, or an IPv6 client's /64)
    /// before expensive or guessable work.
    pub(crate) fn admit(&self, ctx: &RequestContext) -> Result<(), ServiceError> {
        self.admit_as(&ctx.network, &self.config.admission)
    }

    /// Takes a token for a sign-in attempt: a known device's from its own bucket — and from
    /// the bucket its account's known devices share, [`KNOWN_DEVICES_PER_ACCOUNT`] times as
    /// deep as an ordinary one, so that whoever holds many tokens cannot hash (or jump the
    /// queues) without bound — and anyone else's from their network's.
    pub(crate) fn admit_sign_in(
        &self,
        ctx: &RequestContext,
        device: Option<&crate::known_devices::KnownDevice>,
    ) -> Result<(), ServiceError> {
        match device {
            Some(device) => {
                self.admit_as(&device.admission_key, &self.config.admission)?;
                let policy = &self.config.admission;
                let known = latchkey_domain::admission::AdmissionPolicy {
                    burst: policy.burst.saturating_mul(KNOWN_DEVICES_PER_ACCOUNT),
                    refill_every: policy.refill_every,
                };
                self.gate
                    .admit(&known, &device.shared_admission_key, self.clock.now())
                    .map_err(|retry_at| ServiceError::TooManyAttempts {
                        retry_after: (retry_at - self.clock.now()).0.max(1),
                    })
            }
            None => self.admit(ctx),
        }
    }

    fn admit_as(
        &self,
        key: &str,
        policy: &latchkey_domain::admission::AdmissionPolicy,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        self.gate
            .admit(policy, key, now)
            .map_err(|retry_at| ServiceError::TooManyAttempts {
                retry_after: (retry_at - now).0.max(1),
            })
    }
}
