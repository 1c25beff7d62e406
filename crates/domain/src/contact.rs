//! The two contacts an account is recovered through: its email address and its phone number.
//!
//! Both are normalised once, here, so that uniqueness checks, storage and comparisons all see
//! one spelling: emails in lower case, phone numbers in E.164.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid email address, trimmed and lower-cased.
///
/// Lower-casing the local part is technically lossy (RFC 5321 lets it be case-sensitive) but
/// no mail provider in use treats it so, and one spelling per mailbox is what makes
/// "one account per email" enforceable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("no email address")]
    Empty,
    #[error("email address longer than 254 characters")]
    TooLong,
    #[error("not an email address")]
    Invalid,
}

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        // Display names ("Ann <ann@example.com>") and addresses without a dotted domain are
        // valid RFC 5322 but never what a person signing up means.
        if trimmed.contains(['<', '>', ' ', '"']) || trimmed.chars().any(char::is_control) {
            return Err(EmailError::Invalid);
        }
        let lowered = trimmed.to_lowercase();
        let parsed = email_address::EmailAddress::parse_with_options(
            &lowered,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|_| EmailError::Invalid)?;
        if !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most of the local part hidden, for pages shown before sign-in.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number valid for its country, held in E.164 form (`+14155550123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no phone number")]
    Empty,
    #[error("phone number without a country code")]
    MissingCountryCode,
    #[error("not a valid phone number for its country")]
    Invalid,
}

impl PhoneNumber {
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if trimmed.len() > 32 {
            return Err(PhoneError::Invalid);
        }
        // Accept the usual visual separators, nothing else: letters (vanity numbers) and
        // extensions cannot receive an automated call reliably.
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(PhoneError::Invalid);
        }
        let compact: String = trimmed
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let compact = match compact.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => compact,
        };
        if !compact.starts_with('+') {
            return Err(PhoneError::MissingCountryCode);
        }
        if compact[1..].contains('+') {
            return Err(PhoneError::Invalid);
        }
        let number = phonenumber::parse(None, &compact).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// The ISO 3166 region the numbering plan puts the number in (`GB`), if it tells.
    pub fn region(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| id.as_ref().to_owned())
    }

    /// Whether a call to it may cost more than an ordinary call: premium-rate, shared-cost
    /// and similar service numbers, which toll fraud aims at.
    pub fn is_costly(&self) -> bool {
        use phonenumber::Type;
        let Ok(number) = phonenumber::parse(None, &self.0) else {
            return true;
        };
        matches!(
            number.number_type(&phonenumber::metadata::DATABASE),
            Type::PremiumRate | Type::SharedCost | Type::Uan | Type::Pager | Type::Voicemail
        )
    }

    /// Reads back a number that was validated before it was stored.
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// All but the last two digits hidden, as AWS shows the number it is about to call.
    pub fn masked(&self) -> String {
        let digits = self.0.len().saturating_sub(1);
        let shown: String = self
            .0
            .chars()
            .skip(self.0.len().saturating_sub(2))
            .collect();
        format!("+{}{}", "*".repeat(digits.saturating_sub(2)), shown)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let email = EmailAddress::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.lee@example.com");
        assert_eq!(email.masked(), "a***@example.com");
    }

    #[test]
    fn email_rejects_what_a_person_does_not_mean() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "Ann <ann@example.com>",
            "ann@exam\nple.com",
            "a b@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn phone_is_normalised_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671").unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            PhoneNumber::parse("0044 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn phone_rejects_bad_numbers() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("020 7946 0958"),
            Err(PhoneError::MissingCountryCode)
        );
        assert_eq!(PhoneNumber::parse("+44 12"), Err(PhoneError::Invalid));
        assert_eq!(
            PhoneNumber::parse("+1 800 FLOWERS"),
            Err(PhoneError::Invalid)
        );
        assert_eq!(
            PhoneNumber::parse("+44+2079460958"),
            Err(PhoneError::Invalid)
        );
    }

    #[test]
    fn phone_mask_keeps_the_last_two_digits() {
        let phone = PhoneNumber::parse("+442079460958").unwrap();
        assert_eq!(phone.masked(), "+**********58");
    }
}
