//! The storage port: what the use cases need from a database, as whole units of work.
//!
//! Each method that changes state is one transaction in the implementation, and takes the
//! audit record and the queued messages that belong to the change, so that a change, its
//! audit trail and its notifications commit together or not at all. Single-use secrets are
//! consumed by one conditional write; a method returns `Ok(None)`/`Ok(false)` when the
//! condition did not hold (already used, expired, raced), never an error.

mod account_admin;
mod accounts;
mod audit;
mod break_glass;
mod calls;
mod changes;
mod contact_changes;
mod dev;
mod devices;
mod hardware_tokens;
mod identity;
mod oidc;
mod outbox;
mod recovery;
mod sealed;
mod server_key;
mod sessions;
mod sign_in_attempts;
mod throttles;
mod webauthn;

pub use account_admin::*;
pub use accounts::*;
pub use audit::*;
pub use break_glass::*;
pub use calls::*;
pub use changes::*;
pub use contact_changes::*;
pub use dev::*;
pub use devices::*;
pub use hardware_tokens::*;
pub use identity::*;
pub use oidc::*;
pub use outbox::*;
pub use recovery::*;
pub use sealed::*;
pub use server_key::*;
pub use sessions::*;
pub use sign_in_attempts::*;
pub use throttles::*;
pub use webauthn::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (an email or id already taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or refused the query. `source` is the driver's
    /// error, kept whole for the log (see `latchkey_web`'s request logging), never shown to
    /// a client.
    #[error("database error: {context}")]
    Database {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A row held a value this version of latchkey cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// An operator disabled the account (`latchkey account disable`): the session was not
    /// issued and nothing of the transaction was written. Checked by the statement that
    /// inserts the session, so a sign-in already under way cannot finish after the disable.
    #[error("the account is disabled")]
    AccountDisabled,
}

impl StoreError {
    /// A database problem latchkey found itself (a setting, a URL), with no driver error.
    pub fn database(context: impl Into<String>) -> Self {
        Self::Database {
            context: context.into(),
            source: None,
        }
    }

    /// A database problem the driver reported, kept as the source.
    pub fn database_from(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Database {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the use cases need from a database: the role-sized ports together. A use case
/// names the ports it calls (`use crate::store::AccountStore as _;`), so what it touches is
/// visible at the top of its file; the service holds the whole.
pub trait Store:
    AccountStore
    + AccountAdminStore
    + IdentityStore
    + OidcClientStore
    + OidcGrantStore
    + OidcKeyStore
    + SessionStore
    + ThrottleStore
    + SignInAttemptStore
    + AuditStore
    + OutboxStore
    + DeviceStore
    + HardwareTokenStore
    + WebAuthnStore
    + RecoveryStore
    + CallStore
    + BreakGlassStore
    + ContactChangeStore
    + ServerKeyStore
    + SealedStore
    + ChangeFeedStore
{
}

impl<T> Store for T where
    T: AccountStore
        + AccountAdminStore
        + IdentityStore
        + OidcClientStore
        + OidcGrantStore
        + OidcKeyStore
        + SessionStore
        + ThrottleStore
        + SignInAttemptStore
        + AuditStore
        + OutboxStore
        + DeviceStore
        + HardwareTokenStore
        + WebAuthnStore
        + RecoveryStore
        + CallStore
        + BreakGlassStore
        + ContactChangeStore
        + ServerKeyStore
        + SealedStore
        + ChangeFeedStore
{
}
