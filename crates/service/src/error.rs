//! The errors a use case can end with. A denied sign-in is not among them: it is an ordinary
//! outcome. An `Err` here means nothing was changed.

use latchkey_domain::account::AccountNameError;
use latchkey_domain::calls::DestinationRefusal;
use latchkey_domain::contact::{EmailError, PhoneError};
use latchkey_domain::mfa::DeviceNameProblem;
use latchkey_domain::password::PasswordProblem;
use latchkey_domain::totp::CodeProblem;

use crate::password_hasher::{HashError, OVERLOADED_RETRY_AFTER_SECONDS};
use crate::store::StoreError;

/// One problem with one input: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

impl FieldError {
    pub fn new(field: &'static str, problem: impl Into<Problem>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// What is wrong with an input, as a fact. The service never words it: the web layer (and
/// the CLI through it) says it in the user's words, so the wording lives with the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Email(EmailError),
    AccountName(AccountNameError),
    Phone(PhoneError),
    /// A number latchkey does not call.
    PhoneNotCalled(DestinationRefusal),
    Password(PasswordProblem),
    Code(CodeProblem),
    DeviceName(DeviceNameProblem),
    /// Sign-up with an address that has an account.
    EmailTaken,
    /// Another MFA device of the account has this name.
    DeviceNameTaken,
    /// A security key: the name is taken, or the key is registered already.
    DeviceNameOrKeyTaken,
    /// The device named is not one of the account's.
    UnknownDevice,
    /// An MFA code that does not sign in (wrong, used, or from no device of the account).
    CodeDenied,
    /// Two codes that are not consecutive codes of the device (`hardware`: a token).
    CodesNotConsecutive {
        hardware: bool,
    },
    /// The same code twice where two consecutive ones are asked for.
    SameCodeTwice {
        hardware: bool,
    },
    /// No unassigned hardware token has this serial number.
    NoFreeToken,
    SerialMissing,
    /// A change that needs the password was asked without it.
    PasswordMissing,
    /// The password (`current`: the current password on `Change password`) is wrong.
    PasswordWrong {
        current: bool,
    },
    /// Too many wrong passwords for this account from this source.
    TooManyWrongPasswords,
    /// The security-key ceremony expired or was used.
    CeremonyExpired,
    /// The security key's answer could not be read.
    CredentialMalformed,
    /// The security key's answer did not verify.
    CredentialRejected,
    /// The new email address or phone number is the one the account has.
    SameContact,
    /// An event type the event history does not know.
    UnknownEventType,
    /// A time that is not in the form the field asks for (`date`: a calendar date).
    TimeMalformed {
        date: bool,
    },
    /// Not a whole number from 1 to `max`.
    NumberOutOfRange {
        max: i64,
    },
}

macro_rules! problem_from {
    ($($source:ty => $variant:ident),* $(,)?) => {
        $(impl From<$source> for Problem {
            fn from(problem: $source) -> Self {
                Self::$variant(problem)
            }
        })*
    };
}

problem_from! {
    EmailError => Email,
    AccountNameError => AccountName,
    PhoneError => Phone,
    DestinationRefusal => PhoneNotCalled,
    PasswordProblem => Password,
    CodeProblem => Code,
    DeviceNameProblem => DeviceName,
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
    #[error("the link is unknown, expired, superseded or used")]
    LinkInvalid,
    /// The sign-in attempt between password and MFA code expired or was completed.
    #[error("the sign-in attempt expired or was completed")]
    SignInExpired,
    /// The recovery flow expired, was completed or was cancelled.
    #[error("the recovery flow has ended")]
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
    /// No live session of the account has this id (ended already, or another account's).
    #[error("no such session")]
    SessionNotFound,
    /// A contact change asked for by a session signed in without an MFA device.
    #[error("a contact change needs a session signed in with an MFA device")]
    ContactChangeNeedsMfa,
    /// A contact change asked for by a session signed in with MFA too long ago.
    #[error("a contact change needs a recent sign-in with an MFA device")]
    ContactChangeNeedsFreshSignIn,
    /// The database belongs to another server key (recorded at `recorded_at`).
    #[error("the server key is not the one this database was used with")]
    ServerKeyMismatch {
        recorded_at: latchkey_domain::Timestamp,
    },
    /// This key file's current key is one a rotation replaced (the file is from before the
    /// rotation, or its lines are out of order): the database does not go back to it.
    #[error("the server key was replaced by a rotation")]
    ServerKeySuperseded {
        recorded_at: latchkey_domain::Timestamp,
    },
    /// A key generated just now for a database that has accounts and no recorded key.
    #[error("a new server key cannot claim a database that has accounts")]
    ServerKeyUnproven,
    /// The address a contact undo would restore is another account's now.
    #[error("the address to restore is another account's")]
    ContactRestoreTaken,
    /// The account asked for its most contact changes for now.
    #[error("too many contact change requests")]
    ContactChangeBudget,
    /// No contact change is waiting any more (applied, replaced, cancelled or expired), or
    /// the session asking was signed out meanwhile.
    #[error("no contact change is waiting")]
    ContactChangeGone,
    /// A contact changed less than the cooling-off period ago: alternative factors are not
    /// offered until `until`.
    #[error("a recovery contact changed recently")]
    ContactCoolingOff { until: latchkey_domain::Timestamp },
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
    #[error("too many attempts from this client; retry after {retry_after} seconds")]
    TooManyAttempts { retry_after: i64 },
    /// Every hashing slot is busy and the queue is full: nothing was checked or counted.
    #[error("the server is busy; retry after {retry_after} seconds")]
    Overloaded { retry_after: i64 },
    /// An operator disabled the account (`latchkey account disable`). Said only after the
    /// right password (or a finished recovery), never to someone who knows only the address.
    #[error("the account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(HashError),
}

impl From<StoreError> for ServiceError {
    /// A disabled account is a refusal the client is told about, not a database failure.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AccountDisabled => Self::AccountDisabled,
            other => Self::Store(other),
        }
    }
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

/// An error and every source under it, for a log line: a failed query says what failed and
/// what the database said. Never shown to a client.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl ServiceError {
    pub fn field(field: &'static str, problem: impl Into<Problem>) -> Self {
        Self::Invalid(vec![FieldError::new(field, problem)])
    }
}
