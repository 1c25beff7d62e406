//! The root-user account: its public id, its display name and its life-cycle status.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The public account id: twelve decimal digits, as AWS account ids are.
///
/// It is random (chosen by the service from the OS generator) so that ids reveal neither how
/// many accounts exist nor when one was made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    pub const DIGITS: usize = 12;

    /// Builds an id from a random number; only the low twelve decimal digits are used.
    pub fn from_random(value: u64) -> Self {
        Self(format!("{:012}", value % 1_000_000_000_000))
    }

    /// Accepts an id read back from storage or typed by an operator.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == Self::DIGITS && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account name chosen at sign-up, shown in the console and in emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountNameError {
    #[error("no account name")]
    Empty,
    #[error("account name longer than {max} characters")]
    TooLong { max: usize },
    #[error("control character in the account name")]
    ControlCharacter,
}

impl AccountName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Self, AccountNameError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(AccountNameError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(AccountNameError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AccountNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an account is in its life: created by sign-up but not yet proven, or in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Signed up; the email link has not been followed yet. Cannot sign in.
    PendingVerification,
    /// Email verified (or created by an operator); can sign in.
    Active,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingVerification => "pending_verification",
            Self::Active => "active",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending_verification" => Some(Self::PendingVerification),
            "active" => Some(Self::Active),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_is_always_twelve_digits() {
        assert_eq!(AccountId::from_random(7).as_str(), "000000000007");
        assert_eq!(AccountId::from_random(u64::MAX).as_str().len(), 12);
        assert!(AccountId::parse("12345678901").is_none());
        assert!(AccountId::parse("12345678901a").is_none());
        assert!(AccountId::parse("123456789012").is_some());
    }

    #[test]
    fn account_name_is_trimmed_and_bounded() {
        assert_eq!(AccountName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert_eq!(AccountName::parse("   "), Err(AccountNameError::Empty));
        assert_eq!(
            AccountName::parse(&"x".repeat(65)),
            Err(AccountNameError::TooLong { max: 64 })
        );
        assert_eq!(
            AccountName::parse("a\u{7}b"),
            Err(AccountNameError::ControlCharacter)
        );
    }
}
