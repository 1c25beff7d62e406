//! Argon2id hashing with a fixed number of slots and memory allocated once.
//!
//! Hashing is the one deliberately expensive thing latchkey does. Run on the async runtime it
//! would stall every other request; run without a bound, a flood of sign-ins would allocate
//! 19 MiB per attempt until the machine falls over. So hashes run on blocking threads, at most
//! one per slot, and each slot owns its Argon2 memory for the life of the process. Checks
//! waiting for a slot queue in `slots`, within a bound: past it a check is refused with
//! [`HashError::Overloaded`] instead of waiting.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

use crate::priority::Priority;
use crate::secrets::random_bytes;
use crate::slots::{QueueDepth, QueueFull, QueueLimits, Slots};

/// Argon2id cost parameters. The default is OWASP's minimum: 19 MiB, 2 passes, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            lanes: Params::DEFAULT_P_COST,
        }
    }
}

impl HashParams {
    #[expect(
        clippy::expect_used,
        reason = "hash parameters are validated at start-up"
    )]
    fn argon2(&self) -> Params {
        Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .expect("hash parameters are validated at start-up")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Argon2(String),
    #[error("the stored password hash is malformed")]
    MalformedHash,
    #[error("the hashing pool is shutting down")]
    Closed,
    /// Every slot is busy and the queue for this check is full: nothing was hashed.
    #[error("the hashing queue is full")]
    Overloaded,
}

/// How long a refused check is asked to wait, in seconds: about the time a full normal queue
/// takes to drain (64 checks per slot at 10–20 ms each), rounded up. A hint for clients, not
/// a promise.
pub const OVERLOADED_RETRY_AFTER_SECONDS: i64 = 2;

struct Pool {
    params: HashParams,
    buffers: Mutex<Vec<Vec<Block>>>,
    permits: Arc<Slots>,
    slots: usize,
    dummy_hash: String,
}

/// A bounded pool of Argon2id workers. Cloning shares the pool.
#[derive(Clone)]
pub struct PasswordHasher {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.pool.params)
            .field("slots", &self.slots())
            .finish()
    }
}

impl PasswordHasher {
    /// Allocates `slots` Argon2 buffers up front. One slot per core is the natural size:
    /// more slots add memory and latency, not throughput. Queues are bounded by
    /// [`QueueLimits::default`].
    pub fn new(params: HashParams, slots: usize) -> Result<Self, HashError> {
        Self::with_queue_limits(params, slots, QueueLimits::default())
    }

    /// [`new`](Self::new) with other queue bounds (tests use tiny ones).
    pub fn with_queue_limits(
        params: HashParams,
        slots: usize,
        limits: QueueLimits,
    ) -> Result<Self, HashError> {
        let slots = slots.max(1);
        let argon2_params =
            Params::new(params.memory_kib, params.iterations, params.lanes, Some(32))
                .map_err(|e| HashError::Argon2(e.to_string()))?;
        let blocks = argon2_params.block_count();
        let mut buffers: Vec<Vec<Block>> = (0..slots).map(|_| vec![Block::new(); blocks]).collect();
        // The dummy hash answers for unknown emails; computing it here also proves the
        // parameters work before the server takes traffic.
        let dummy_password = random_bytes::<32>();
        let dummy_hash = hash_with(&params, &dummy_password, &mut buffers[0])?;
        Ok(Self {
            pool: Arc::new(Pool {
                params,
                buffers: Mutex::new(buffers),
                permits: Slots::new(slots, limits),
                slots,
                dummy_hash,
            }),
        })
    }

    pub fn slots(&self) -> usize {
        self.pool.slots
    }

    /// Whether a check of this priority would be admitted now (run or queued). Use cases ask
    /// before other work, so a full queue costs a request almost nothing; the check itself
    /// decides, and may still be refused.
    pub fn has_room(&self, priority: Priority) -> bool {
        self.pool.permits.has_room(priority)
    }

    /// Free slots and waiting checks, now.
    pub fn queue_depth(&self) -> QueueDepth {
        self.pool.permits.depth()
    }

    /// Takes a slot without hashing and keeps it until the returned guard is dropped, so a
    /// test can fill the pool at will instead of racing real hashes.
    #[cfg(any(test, feature = "test-hooks"))]
    #[expect(clippy::expect_used, reason = "cannot fail")]
    pub async fn hold_slot(&self) -> HeldSlot {
        let slot = self
            .pool
            .permits
            .acquire(Priority::KnownDevice)
            .await
            .expect("a test holds slots within the queue bound");
        HeldSlot { _slot: slot }
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
    /// waiting in the queue of the current request's priority.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.as_bytes().to_vec();
        let params = self.pool.params;
        self.run(crate::priority::current(), move |buffer| {
            hash_with(&params, &password, buffer)
        })
        .await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// account, so that both cases cost one Argon2 run. Returns `false` for the dummy.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        self.verify_with_priority(password, stored, Priority::Normal)
            .await
    }

    /// [`verify`](Self::verify), waiting for a slot in the queue `priority` names.
    pub async fn verify_with_priority(
        &self,
        password: &str,
        stored: Option<&str>,
        priority: Priority,
    ) -> Result<bool, HashError> {
        let is_real = stored.is_some();
        let phc = stored.unwrap_or(&self.pool.dummy_hash).to_owned();
        let password = password.as_bytes().to_vec();
        let matched = self
            .run(priority, move |buffer| verify_with(&password, &phc, buffer))
            .await??;
        Ok(matched && is_real)
    }

    async fn run<T: Send + 'static>(
        &self,
        priority: Priority,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = self
            .pool
            .permits
            .acquire(priority)
            .await
            .map_err(|QueueFull| HashError::Overloaded)?;
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            // The slot goes with the job, not with the request: a request dropped mid-hash
            // (its client went away) must not free the slot while its buffer is in use.
            let _slot = slot;
            // A held slot guarantees a buffer is free.
            let mut buffer = pool
                .buffers
                .lock()
                .map_err(|_| HashError::Closed)?
                .pop()
                .ok_or(HashError::Closed)?;
            let result = job(&mut buffer);
            pool.buffers
                .lock()
                .map_err(|_| HashError::Closed)?
                .push(buffer);
            Ok(result)
        })
        .await
        .map_err(|_| HashError::Closed)?
    }
}

/// A hashing slot held by a test (see [`PasswordHasher::hold_slot`]).
#[cfg(any(test, feature = "test-hooks"))]
#[derive(Debug)]
pub struct HeldSlot {
    _slot: crate::slots::Slot,
}

fn hash_with(
    params: &HashParams,
    password: &[u8],
    buffer: &mut [Block],
) -> Result<String, HashError> {
    let argon2_params = params.argon2();
    let salt = random_bytes::<16>();
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params.clone())
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            &mut buffer[..argon2_params.block_count()],
        )
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&argon2_params)
            .map_err(|e| HashError::Argon2(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| HashError::Argon2(e.to_string()))?),
        hash: Some(Output::new(&out).map_err(|e| HashError::Argon2(e.to_string()))?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, buffer: &mut [Block]) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError::MalformedHash)?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| HashError::MalformedHash)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|_| HashError::MalformedHash)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|_| HashError::MalformedHash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::MalformedHash);
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    // Hashes made with stronger parameters than the pool's (after a cost increase) still
    // verify, with memory of their own.
    let mut own;
    let blocks: &mut [Block] = if params.block_count() <= buffer.len() {
        &mut buffer[..params.block_count()]
    } else {
        own = vec![Block::new(); params.block_count()];
        &mut own
    };
    argon2
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(out.ct_eq(expected.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HashParams {
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            lanes: 1,
        }
    }

    #[tokio::test]
    async fn a_request_dropped_mid_hash_keeps_its_slot_until_the_hash_ends() {
        let hasher = PasswordHasher::new(HashParams::default(), 1).unwrap();
        let stored = hasher.hash("correct horse battery staple").await.unwrap();
        // The first check starts hashing on its first poll, then its request is dropped
        // long before a 19 MiB hash can finish.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(1),
            hasher.verify("correct horse battery staple", Some(&stored)),
        )
        .await;
        assert!(dropped.is_err(), "the first check was cut short");
        // The next check waits for the buffer instead of finding none.
        assert!(
            hasher
                .verify("correct horse battery staple", Some(&stored))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(small(), 2).unwrap();
        let phc = hasher.hash("violet-anchor-tundra").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(
            hasher
                .verify("violet-anchor-tundra", Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("violet-anchor-tundrA", Some(&phc))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("violet-anchor-tundr", Some(&phc))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_same_password_gets_a_new_salt_every_time() {
        let hasher = PasswordHasher::new(small(), 1).unwrap();
        let a = hasher.hash("same password!").await.unwrap();
        let b = hasher.hash("same password!").await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_dummy_hash_never_matches() {
        let hasher = PasswordHasher::new(small(), 1).unwrap();
        assert!(!hasher.verify("", None).await.unwrap());
        assert!(!hasher.verify("anything at all", None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_by_the_reference_implementation_verify() {
        // Produced by the argon2 crate's own PasswordHasher with the OWASP parameters,
        // independently of our pre-allocated path.
        use argon2::PasswordHasher as _;
        let reference = Argon2::default()
            .hash_password_with_salt(b"reference-password", b"0123456789abcdef")
            .unwrap()
            .to_string();
        let hasher = PasswordHasher::new(small(), 1).unwrap();
        assert!(
            hasher
                .verify("reference-password", Some(&reference))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("reference-passwore", Some(&reference))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn malformed_stored_hashes_are_errors_not_matches() {
        let hasher = PasswordHasher::new(small(), 1).unwrap();
        assert!(matches!(
            hasher.verify("x", Some("not a hash")).await,
            Err(HashError::MalformedHash)
        ));
    }

    #[tokio::test]
    async fn concurrent_hashes_share_the_fixed_slots() {
        let hasher = PasswordHasher::new(small(), 2).unwrap();
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&format!("password number {i}")).await })
            })
            .collect();
        for job in jobs {
            assert!(job.await.unwrap().is_ok());
        }
        assert_eq!(hasher.slots(), 2);
    }
}
