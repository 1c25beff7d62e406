//! Pure sign-in rules of latchkey: what an account, an email address, a phone number, a
//! password and a session are, and the decisions made about them.
//!
//! Deliberately absent: IO, async, randomness and the clock. Every function that depends on
//! time takes `now` as a parameter, and a denial is an ordinary value, never an error that
//! would roll a transaction back.

pub mod account;
pub mod admission;
pub mod audit;
pub mod audit_chain;
pub mod calls;
pub mod contact;
pub mod contact_change;
pub mod identity;
pub mod ids;
pub mod lockout;
pub mod mfa;
pub mod network;
pub mod oidc;
pub mod password;
pub mod recovery;
pub mod session;
pub mod sign_in;
pub mod time;
pub mod token;
pub mod totp;

pub use account::{AccountId, AccountName, AccountStatus};
pub use audit::{AuditEvent, AuditOutcome};
pub use contact::{EmailAddress, PhoneNumber};
pub use ids::{CallId, CeremonyId, DeviceId, EnrollmentId, FlowId};
pub use time::{Duration, Timestamp};
