//! latchkey's use cases: load what a decision needs, let `latchkey-domain` decide, then apply
//! the effects (state change, audit record, queued messages) in one store transaction.
//!
//! This crate defines the ports the use cases need — [`Store`] (the role-sized ports in
//! `store/`), [`Clock`], [`EmailSender`], [`VoiceCaller`] — and knows nothing of HTTP, SQL
//! or SMTP. Each other module of this folder is a use case (an `impl Service` block); what
//! they stand on — hashing pool, secrets, queues, admission buckets, outbox sealing, the
//! WebAuthn relying party — is in `infra/`. The console and the JSON API both call
//! [`Service`]; neither contains a business rule of its own.

pub mod account_admin;
pub mod accounts;
pub mod audit_log;
pub mod clock;
pub mod contact_change;
pub mod credentials;
pub mod dev_providers;
pub mod email;
pub mod error;
pub mod event_history;
pub mod identity;
mod infra;
pub mod key_rotation;
pub mod links;
pub mod mfa;
pub mod mfa_sign_in;
pub mod oidc;
pub mod operator;
pub mod password_reset;
mod reauthentication;
pub mod recovery;
pub mod recovery_report;
mod security_notices;
pub mod session_list;
pub mod sessions;
pub mod sign_in;
pub mod sign_up_phone;
pub mod store;
mod throttle;
mod throttle_notice;
pub mod tokens;
pub mod voice;
pub mod webauthn;

/// What the use cases stand on but do not decide (`infra/`): kept apart so that the folder
/// lists use cases. Re-exported at their old paths for the other crates.
pub use infra::{
    admission, known_devices, outbox, password_hasher, priority, secrets, server_key,
    session_cache, slots,
};

use std::sync::Arc;

use latchkey_domain::admission::AdmissionPolicy;
use latchkey_domain::audit::sanitize_request_text;
use latchkey_domain::lockout::LockoutPolicy;
use latchkey_domain::recovery::RecoveryPolicy;
use latchkey_domain::session::SessionPolicy;
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome};

pub use clock::{Clock, FixedClock, SystemClock};
pub use email::{EmailSender, OutgoingEmail, SendError};
pub use error::{FieldError, Problem, ServiceError};
pub use links::{Link, Links};
pub use password_hasher::{HashParams, OVERLOADED_RETRY_AFTER_SECONDS, PasswordHasher};
pub use priority::Priority;
pub use secrets::{SecretToken, TokenHash};
pub use server_key::{KeyId, Sealer, ServerKey, Signer};
pub use slots::{QueueDepth, QueueLimits};
pub use store::{AuditRecord, Store, StoreError};
pub use voice::{CallScript, DigitsReport, OutgoingCall, PlacedCall, VoiceCaller};

/// Settings the use cases read. Built once from the validated configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where people reach latchkey, without a trailing slash: the WebAuthn relying party's
    /// origin. (Links in emails are built by [`Links`], which the web layer provides.)
    pub public_url: String,
    pub sessions: SessionPolicy,
    pub lockout: LockoutPolicy,
    pub recovery: RecoveryPolicy,
    /// Budgets and destinations of verification calls.
    pub calls: latchkey_domain::calls::CallPolicy,
    pub admission: AdmissionPolicy,
}

/// Who is asking: recorded with every audit line. Built by the web layer from the
/// connection, never from headers a client can set freely (except the user agent, which is
/// only informative and is sanitised).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's address, in full: what the audit log records.
    pub client_addr: String,
    /// The network the address belongs to (an IPv6 client's /64, see
    /// [`latchkey_domain::network`]): what per-client throttling keys on, so one machine
    /// cannot be many clients by changing addresses inside its own prefix.
    pub network: String,
    pub user_agent: String,
    /// A known-device token the client presented (see [`known_devices`]), unchecked.
    pub device_token: Option<String>,
    /// The session the browser presented (its cookie), hashed: a session issued to this
    /// request replaces it, so an identifier is never carried across a sign-in.
    pub previous_session: Option<TokenHash>,
}

impl RequestContext {
    pub fn new(client_addr: &str, user_agent: &str) -> Self {
        let client_addr = sanitize_request_text(client_addr, 64);
        Self {
            network: latchkey_domain::network::network_of(&client_addr),
            client_addr,
            user_agent: sanitize_request_text(user_agent, 256),
            device_token: None,
            previous_session: None,
        }
    }

    /// Adds the known-device token the client presented; anything too long or outside the
    /// token alphabet is dropped here.
    pub fn with_device_token(mut self, token: Option<&str>) -> Self {
        self.device_token = token
            .filter(|t| {
                t.len() <= 128
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            })
            .map(str::to_owned);
        self
    }

    /// Adds the session token the browser presented, if it has the shape of one.
    pub fn with_previous_session(mut self, token: Option<&str>) -> Self {
        self.previous_session = token
            .and_then(SecretToken::from_presented)
            .map(|t| t.hash());
        self
    }

    /// For actions taken at the command line by an operator.
    pub fn operator() -> Self {
        Self::new("cli", "latchkey command line")
    }
}

/// The use cases, with the ports they run on. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    /// The built-in mailbox and phone, when wiring uses them (see `dev_providers`).
    dev: Option<Arc<dyn store::DevStore>>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    outbox: outbox::OutboxWriter,
    mfa_sealer: Sealer,
    /// Opened ID-token signing keys (see `oidc::keys`).
    oidc_key_cache: oidc::keys::KeyCache,
    /// Marks a fresh sign-in asked for by an authorization request, and derives an ID
    /// token's `sid` from its session.
    oidc_signer: Signer,
    phone_codes: Signer,
    recovery_cancel: Signer,
    webauthn_user: Signer,
    device_signer: Signer,
    throttle_subject: Signer,
    /// The chain keys of every server key, the current one first, with their bounds.
    audit_chain: Vec<(latchkey_domain::audit_chain::ChainKey, Option<i64>)>,
    /// The fingerprints of every server key, the current one first.
    key_fingerprints: Vec<String>,
    key_ids: Vec<KeyId>,
    /// The WebAuthn relying party, or why security keys are unavailable.
    webauthn: Result<Arc<webauthn_rs::Webauthn>, String>,
    gate: Arc<admission::ClientGate>,
    /// Live sessions and Security credentials overviews kept in memory (the fast path).
    cache: Arc<session_cache::SessionCache<credentials::Overview>>,
    links: Arc<dyn Links>,
    config: Arc<ServiceConfig>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
        server_key: &ServerKey,
        config: ServiceConfig,
        links: Arc<dyn Links>,
    ) -> Self {
        let cache = Arc::new(session_cache::SessionCache::default());
        store.report_commits(cache.clone());
        Self {
            store,
            dev: None,
            clock,
            hasher,
            outbox: outbox::OutboxWriter::new(server_key),
            mfa_sealer: server_key.sealer("mfa-secret"),
            oidc_key_cache: oidc::keys::KeyCache::default(),
            oidc_signer: server_key.signer("oidc"),
            phone_codes: server_key.signer("phone-code"),
            recovery_cancel: server_key.signer("recovery-cancel"),
            webauthn_user: server_key.signer("webauthn-user"),
            device_signer: server_key.signer("known-device"),
            throttle_subject: server_key.signer("throttle-subject"),
            audit_chain: server_key.audit_chain_keys(),
            key_fingerprints: server_key
                .fingerprints()
                .into_iter()
                .map(|(_, fingerprint)| fingerprint)
                .collect(),
            key_ids: server_key.ids(),
            webauthn: infra::relying_party::relying_party(&config.public_url),
            gate: Arc::new(admission::ClientGate::default()),
            cache,
            links,
            config: Arc::new(config),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Wakes delivery workers when a use case has queued a message.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.signal()
    }

    /// Opens queued payloads for the delivery worker.
    pub fn outbox_reader(&self) -> outbox::OutboxReader {
        self.outbox.reader()
    }

    /// Follows what every process commits to the database, so that what this one keeps in
    /// memory is used only while it is known to be current. Runs until its task is dropped;
    /// until it first catches up, and whenever it falls behind, nothing is answered from
    /// memory. `latchkey serve` runs it; a command that never does keeps nothing.
    pub async fn follow_changes(&self) {
        self.store.follow_changes(self.cache.clone()).await;
    }

    /// Whether every change committed before `instant`, by any process, has reached what this
    /// one keeps in memory (see `follow_changes`).
    pub fn changes_caught_up_since(&self, instant: std::time::Instant) -> bool {
        self.cache.caught_up_since(instant)
    }

    /// Whether answers may come from memory now (see `follow_changes`).
    pub fn fast_path_ready(&self) -> bool {
        self.cache.is_fresh()
    }

    pub async fn healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    fn audit(
        &self,
        ctx: &RequestContext,
        account: Option<&AccountId>,
        event: AuditEvent,
        outcome: AuditOutcome,
        detail: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: self.clock.now(),
            account_id: account.cloned(),
            client_addr: ctx.client_addr.clone(),
            user_agent: ctx.user_agent.clone(),
            event: event.as_str().to_owned(),
            outcome: outcome.as_str().to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// Records what happened when nothing else changes with it (a refusal, a failed check):
    /// the one place such an audit line is written. A change writes its audit record in its
    /// own transaction instead.
    async fn record(
        &self,
        ctx: &RequestContext,
        account: Option<&AccountId>,
        event: AuditEvent,
        outcome: AuditOutcome,
        detail: &str,
    ) -> Result<(), ServiceError> {
        let audit = self.audit(ctx, account, event, outcome, detail);
        Ok(self.store.append_audit(&audit).await?)
    }

    /// An emailed link that is unknown, expired or used: recorded, and refused as
    /// [`ServiceError::LinkInvalid`] (or the store's error if the record failed).
    async fn refuse_link(&self, ctx: &RequestContext, event: AuditEvent) -> ServiceError {
        match self
            .record(ctx, None, event, AuditOutcome::Failure, "invalid_link")
            .await
        {
            Ok(()) => ServiceError::LinkInvalid,
            Err(error) => error,
        }
    }

    fn link(&self, link: Link<'_>) -> String {
        self.links.url(link)
    }
}
