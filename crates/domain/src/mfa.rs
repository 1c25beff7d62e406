//! MFA devices: their kinds, names, the per-account cap, and when a change needs a fresh
//! proof of identity.

use crate::time::{Duration, Timestamp};

/// At most this many active devices per account, of any mix of kinds (as AWS allows).
pub const MAX_DEVICES: usize = 8;

/// A pending enrolment (the QR code page) is good for this long.
pub const ENROLMENT_LIFETIME: Duration = Duration::minutes(15);

/// Between the password and the MFA code, a sign-in attempt waits this long.
pub const SIGN_IN_ATTEMPT_LIFETIME: Duration = Duration::minutes(10);

/// Adding or removing a device from a session older than this asks for the password again.
pub const RECENT_AUTHENTICATION: Duration = Duration::minutes(15);

/// Consecutive failed codes after which a device is refused until it is resynced or removed
/// (NIST SP 800-63B allows at most 100 per authenticator).
pub const DEVICE_FAILURE_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Virtual,
    /// A hardware OATH TOTP token from the imported inventory.
    Hardware,
    /// A WebAuthn authenticator (FIDO2 or U2F security key, platform passkey) used as a
    /// second factor.
    SecurityKey,
}

impl DeviceKind {
    /// The stored encoding. The API names kinds itself (`latchkey_web`'s `api::values`),
    /// and people read [`DeviceKind::label`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Virtual => "virtual",
            Self::Hardware => "hardware",
            Self::SecurityKey => "security_key",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "virtual" => Some(Self::Virtual),
            "hardware" => Some(Self::Hardware),
            "security_key" => Some(Self::SecurityKey),
            _ => None,
        }
    }

    /// The name shown in the console's device list.
    /// Whether the device proves itself with time-based codes (and so can be resynced).
    pub fn uses_codes(self) -> bool {
        !matches!(self, Self::SecurityKey)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Virtual => "Virtual MFA device",
            Self::Hardware => "Other hardware MFA device",
            Self::SecurityKey => "Security key",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceNameProblem {
    #[error("no device name")]
    Empty,
    #[error("device name longer than 64 characters")]
    TooLong,
    #[error("character not allowed in a device name")]
    Characters,
}

/// A device name: what the owner calls it ("Ann's phone").
pub fn parse_device_name(text: &str) -> Result<String, DeviceNameProblem> {
    let name = text.trim();
    if name.is_empty() {
        return Err(DeviceNameProblem::Empty);
    }
    if name.chars().count() > 64 {
        return Err(DeviceNameProblem::TooLong);
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "+=,.@_-'".contains(c))
    {
        return Err(DeviceNameProblem::Characters);
    }
    Ok(name.to_owned())
}

/// Whether a session authenticated at `authenticated_at` must prove the password again
/// before adding or removing a device.
pub fn needs_reauthentication(authenticated_at: Timestamp, now: Timestamp) -> bool {
    now - authenticated_at > RECENT_AUTHENTICATION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_trimmed_and_limited() {
        assert_eq!(
            parse_device_name("  Ann's phone "),
            Ok("Ann's phone".to_owned())
        );
        assert_eq!(parse_device_name(""), Err(DeviceNameProblem::Empty));
        assert_eq!(
            parse_device_name(&"a".repeat(65)),
            Err(DeviceNameProblem::TooLong)
        );
        assert_eq!(
            parse_device_name("<script>"),
            Err(DeviceNameProblem::Characters)
        );
    }

    #[test]
    fn changes_after_fifteen_minutes_need_the_password_again() {
        assert!(!needs_reauthentication(Timestamp(0), Timestamp(15 * 60)));
        assert!(needs_reauthentication(Timestamp(0), Timestamp(15 * 60 + 1)));
    }
}
