//! Session lifetimes and what a session is allowed to do.

use crate::time::{Duration, Timestamp};

/// How a session was earned, which decides what it may do and how long it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Password (and, once the account has devices, MFA).
    Full,
    /// Earned by `Sign in using alternative factors` (password + email + phone): it lands on
    /// Security credentials to replace a lost device and lives at most an hour.
    AlternativeFactors,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::AlternativeFactors => "alternative_factors",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "full" => Some(Self::Full),
            "alternative_factors" => Some(Self::AlternativeFactors),
            _ => None,
        }
    }
}

/// What a signed-in request wants to do, for [`SessionKind::permits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction {
    /// See Security credentials: the account, its devices, recent recoveries.
    ViewCredentials,
    /// `Activate MFA`: a virtual device, a security key or a hardware token.
    ActivateDevice,
    /// `Manage` → `Remove`.
    RemoveDevice,
    /// `Manage` → `Resync`.
    ResyncDevice,
    /// `Change password`.
    ChangePassword,
    /// `Sign out`.
    SignOut,
    /// Read the account's event history.
    ViewHistory,
    /// See the account's sessions and end other ones.
    ManageSessions,
}

impl SessionKind {
    /// Whether a session of this kind may do `action`. A session earned with alternative
    /// factors exists to replace a lost device: it may see Security credentials, remove and
    /// activate devices, change the password and sign out — nothing else. Every action added
    /// later is refused to it unless it is named here, because the match below lists what it
    /// may do, not what it may not.
    pub fn permits(self, action: SessionAction) -> bool {
        match self {
            Self::Full => true,
            Self::AlternativeFactors => matches!(
                action,
                SessionAction::ViewCredentials
                    | SessionAction::ActivateDevice
                    | SessionAction::RemoveDevice
                    | SessionAction::ChangePassword
                    | SessionAction::SignOut
            ),
        }
    }
}

/// Idle and absolute limits, within NIST's AAL2 guidance (≤ 1 h idle, ≤ 24 h absolute).
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    /// Activity is written back at most this often, so reading pages stays a read.
    pub touch_interval: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            touch_interval: Duration::seconds(60),
        }
    }
}

/// The times that decide whether a stored session is still good.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimes {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

impl SessionPolicy {
    pub fn expires_at(&self, created_at: Timestamp) -> Timestamp {
        created_at + self.absolute
    }

    pub fn is_live(&self, times: SessionTimes, now: Timestamp) -> bool {
        now < times.expires_at && now < times.last_seen_at + self.idle
    }

    pub fn needs_touch(&self, times: SessionTimes, now: Timestamp) -> bool {
        now - times.last_seen_at >= self.touch_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(created: i64, seen: i64) -> SessionTimes {
        let policy = SessionPolicy::default();
        SessionTimes {
            created_at: Timestamp(created),
            last_seen_at: Timestamp(seen),
            expires_at: policy.expires_at(Timestamp(created)),
        }
    }

    #[test]
    fn session_expires_after_idle_time() {
        let policy = SessionPolicy::default();
        assert!(policy.is_live(times(0, 0), Timestamp(30 * 60 - 1)));
        assert!(!policy.is_live(times(0, 0), Timestamp(30 * 60)));
    }

    #[test]
    fn session_expires_at_absolute_limit_even_when_active() {
        let policy = SessionPolicy::default();
        let now = Timestamp(12 * 3600);
        assert!(!policy.is_live(times(0, now.0 - 1), now));
        assert!(policy.is_live(times(0, now.0 - 1), Timestamp(now.0 - 1)));
    }

    #[test]
    fn a_recovery_session_may_only_replace_the_lost_device() {
        use SessionAction::*;
        let table = [
            (ViewCredentials, true),
            (ActivateDevice, true),
            (RemoveDevice, true),
            (ChangePassword, true),
            (SignOut, true),
            (ResyncDevice, false),
            (ViewHistory, false),
            (ManageSessions, false),
        ];
        for (action, allowed) in table {
            assert_eq!(
                SessionKind::AlternativeFactors.permits(action),
                allowed,
                "{action:?}"
            );
            assert!(SessionKind::Full.permits(action), "{action:?}");
        }
    }

    #[test]
    fn activity_is_written_back_at_most_once_a_minute() {
        let policy = SessionPolicy::default();
        assert!(!policy.needs_touch(times(0, 100), Timestamp(159)));
        assert!(policy.needs_touch(times(0, 100), Timestamp(160)));
    }
}
