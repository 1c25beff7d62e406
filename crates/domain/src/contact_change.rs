//! Changing a recovery contact — the root user's email address or the phone number.
//!
//! Whoever can change the phone number can later sign in with alternative factors through
//! it, so a change needs a session signed in with an MFA device within the last
//! [`MFA_FRESHNESS`] (never a session earned with alternative factors), the new contact is
//! proven before it replaces the old one, the old contact is told with a `This wasn't me`
//! link that puts it back, and a contact changed less than the cooling-off period ago
//! cannot be used for alternative factors.

use crate::session::SessionKind;
use crate::time::{Duration, Timestamp};

/// How recently the session must have been signed in with an MFA device.
pub const MFA_FRESHNESS: Duration = Duration::minutes(15);
/// How long the link to a new email address works.
pub const EMAIL_PROOF_LIFETIME: Duration = Duration::hours(1);
/// How long a phone change waits for its verification call.
pub const PHONE_PROOF_LIFETIME: Duration = Duration::minutes(30);
/// How long the old contact's `This wasn't me` link puts the change back.
pub const REVERT_LIFETIME: Duration = Duration::hours(7 * 24);
/// Contact change requests an account may make in [`REQUEST_WINDOW`]: each sends an email
/// or rings a phone of the requester's choosing.
pub const REQUESTS_PER_WINDOW: u32 = 10;
pub const REQUEST_WINDOW: Duration = Duration::hours(24);
/// The cooling-off period when none is configured.
pub const DEFAULT_COOLING_OFF: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Phone,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            _ => None,
        }
    }
}

/// What is known about the session asking for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asker {
    pub kind: SessionKind,
    /// The session was issued after an MFA device's code or assertion.
    pub signed_in_with_mfa: bool,
    pub authenticated_at: Timestamp,
}

/// Why a session may not change a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// A session earned with alternative factors: it exists to replace a lost device.
    RecoverySession,
    /// Signed in with the password alone (the account has no MFA device).
    NoMfa,
    /// Signed in with an MFA device, but longer ago than [`MFA_FRESHNESS`].
    NotRecent,
}

/// Whether `asker` may change a contact at `now`.
pub fn may_change_contact(asker: Asker, now: Timestamp) -> Result<(), ChangeRefusal> {
    match asker {
        Asker {
            kind: SessionKind::AlternativeFactors,
            ..
        } => Err(ChangeRefusal::RecoverySession),
        Asker {
            signed_in_with_mfa: false,
            ..
        } => Err(ChangeRefusal::NoMfa),
        Asker {
            authenticated_at, ..
        } if now - MFA_FRESHNESS > authenticated_at => Err(ChangeRefusal::NotRecent),
        _ => Ok(()),
    }
}

/// Until when a contact changed at `changed_at` may not be used for alternative factors;
/// `None` when it may.
pub fn cooling_off_until(
    changed_at: Option<Timestamp>,
    now: Timestamp,
    period: Duration,
) -> Option<Timestamp> {
    let until = changed_at? + period;
    (now < until).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000);

    #[test]
    fn only_a_fresh_mfa_session_may_change_a_contact() {
        let asker = |kind, mfa, minutes_ago: i64| Asker {
            kind,
            signed_in_with_mfa: mfa,
            authenticated_at: NOW - Duration::minutes(minutes_ago),
        };
        use SessionKind::*;
        let table = [
            (asker(Full, true, 0), Ok(())),
            (asker(Full, true, 15), Ok(())),
            (asker(Full, true, 16), Err(ChangeRefusal::NotRecent)),
            (asker(Full, false, 0), Err(ChangeRefusal::NoMfa)),
            (
                asker(AlternativeFactors, false, 0),
                Err(ChangeRefusal::RecoverySession),
            ),
            (
                asker(AlternativeFactors, true, 0),
                Err(ChangeRefusal::RecoverySession),
            ),
        ];
        for (asker, expected) in table {
            assert_eq!(may_change_contact(asker, NOW), expected, "{asker:?}");
        }
    }

    #[test]
    fn a_changed_contact_cools_off_for_the_period() {
        let day = Duration::hours(24);
        let table = [
            (None, None),
            (Some(NOW), Some(NOW + day)),
            (
                Some(NOW - Duration::hours(23)),
                Some(NOW + Duration::hours(1)),
            ),
            (Some(NOW - day), None),
            (Some(NOW - Duration::hours(48)), None),
        ];
        for (changed_at, expected) in table {
            assert_eq!(
                cooling_off_until(changed_at, NOW, day),
                expected,
                "{changed_at:?}"
            );
        }
    }

    #[test]
    fn kinds_read_back() {
        for kind in [ContactKind::Email, ContactKind::Phone] {
            assert_eq!(ContactKind::parse(kind.as_str()), Some(kind));
        }
    }
}
