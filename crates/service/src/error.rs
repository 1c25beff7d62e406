//! The errors a use case can end with. A denied sign-in is not among them: it is an ordinary
//! outcome. An `Err` here means nothing was changed.

use crate::password_hasher::{HashError, OVERLOADED_RETRY_AFTER_SECONDS};
use crate::store::StoreError;

/// One problem with one input, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl ToString) -> Self {
        Self {
            field,
            message: message.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input was refused; each entry says which field and why.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// The account was removed while the request was under way.
    #[error("the account no longer exists")]
    AccountGone,
    /// No free account id was found after several random draws (try again).
    #[error("no account id could be allocated")]
    AccountIdUnavailable,
    /// The account already has the most MFA devices it may have.
    #[error("the account has the most MFA devices it may have")]
    DeviceLimit,
    /// Security keys cannot work with this deployment (the reason, for the operator: the
    /// public URL has no domain name, or the relying party could not be built).
    #[error("security keys are not available: {0}")]
    SecurityKeysUnavailable(String),
    /// A sign-in with a security key was asked for an account that has none.
    #[error("the account has no security key")]
    NoSecurityKey,
    /// A stored secret (a device seed, a security key) cannot be opened with the server key
    /// in use: the key was replaced.
    #[error("a stored secret cannot be read with the current server key")]
    SecretUnreadable,
    /// The sign-up's phone number is verified already.
    #[error("the phone number is already verified")]
    PhoneAlreadyVerified,
    /// The account's phone number was never verified, so it cannot stand in for MFA.
    #[error("the account's phone number was never verified")]
    PhoneNotVerified,
    /// A recovery step was asked for out of turn.
    #[error("that recovery step is not available now")]
    RecoveryWrongStep,
    /// The recovery flow sent as many verification emails as it may.
    #[error("no more verification emails can be sent for this recovery")]
    RecoveryEmailLimit,
    /// The recovery flow placed as many calls as it may.
    #[error("no more calls can be placed for this recovery")]
    RecoveryCallLimit,
    /// Something that cannot fail did (a WebAuthn ceremony the library would not start,
    /// state that would not serialise): a bug, logged; nothing was changed.
    #[error("internal error: {0}")]
    Internal(String),
    /// An emailed link that is unknown, expired, superseded or already used.
    #[error("This link is invalid, has expired or was already used.")]
    LinkInvalid,
    /// The sign-in attempt between password and MFA code expired or was completed.
    #[error("This sign-in took too long or was already completed. Start again.")]
    SignInExpired,
    /// The recovery flow expired, was completed or was cancelled.
    #[error("This sign-in with alternative factors has ended. Start again from the sign-in page.")]
    RecoveryExpired,
    /// `Sign in using alternative factors` was already chosen in this sign-in attempt: one
    /// attempt, one flow.
    #[error("alternative-factor sign-in was already started from this sign-in")]
    RecoveryAlreadyStarted,
    /// The account has started as many alternative-factor sign-ins as it may for now.
    #[error("too many alternative-factor sign-ins were started for this account")]
    RecoveryBudget,
    /// The owner pressed `This wasn't me`: alternative factors stay blocked until the owner
    /// proves control again (or an operator unblocks them).
    #[error("alternative-factor sign-in is blocked for this account")]
    RecoveryBlocked,
    /// A session earned with alternative factors asked for something beyond replacing a lost
    /// device (see `SessionKind::permits`).
    #[error("a session signed in with alternative factors cannot do this")]
    RecoveryScope,
    /// A budget of verification calls is spent (per account, number, client or server).
    #[error("no more verification calls can be placed for now")]
    CallBudget,
    /// latchkey does not call this number (its country is not allowed, or it costs more
    /// than a call).
    #[error("{0}")]
    CallDestination(latchkey_domain::calls::DestinationRefusal),
    /// The recovery flow stopped waiting for a call between its check and the call's insert.
    #[error("the recovery flow is not waiting for a call")]
    CallFlowGone,
    /// Too many failures from this source: only a password reset by email unlocks it.
    #[error("the account is locked after too many failed attempts")]
    AccountLocked,
    /// This client made too many attempts; nothing was checked.
    #[error("Too many attempts from your network. Wait {retry_after} seconds and try again.")]
    TooManyAttempts { retry_after: i64 },
    /// Every hashing slot is busy and the queue is full: nothing was checked or counted.
    #[error("the server is busy; retry after {retry_after} seconds")]
    Overloaded { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(HashError),
}

impl From<HashError> for ServiceError {
    /// A full hashing queue is a refusal the client can act on (retry later), not a failure.
    fn from(error: HashError) -> Self {
        match error {
            HashError::Overloaded => Self::Overloaded {
                retry_after: OVERLOADED_RETRY_AFTER_SECONDS,
            },
            other => Self::Hash(other),
        }
    }
}

impl ServiceError {
    pub fn field(field: &'static str, message: impl ToString) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}
