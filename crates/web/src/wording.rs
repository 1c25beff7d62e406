//! What latchkey says to a person about an input it refused. The service reports a typed
//! [`Problem`]; these are its words, shared by the console, the API's `fields` and the CLI.

use latchkey_domain::account::AccountNameError;
use latchkey_domain::calls::DestinationRefusal;
use latchkey_domain::contact::{EmailError, PhoneError};
use latchkey_domain::mfa::DeviceNameProblem;
use latchkey_domain::password::{MAX_BYTES, MIN_CHARS, PasswordProblem};
use latchkey_domain::totp::CodeProblem;
use latchkey_service::{FieldError, Problem};

/// The sentence for one problem.
pub fn problem(problem: &Problem) -> String {
    let fixed = match problem {
        Problem::Email(e) => email(e),
        Problem::AccountName(AccountNameError::TooLong { max }) => {
            return format!("The account name can be at most {max} characters long.");
        }
        Problem::AccountName(AccountNameError::Empty) => "Enter an account name.",
        Problem::AccountName(AccountNameError::ControlCharacter) => {
            "The account name cannot contain control characters."
        }
        Problem::Phone(e) => phone(e),
        Problem::PhoneNotCalled(refused) => return format!("{}.", destination(refused)),
        Problem::Password(p) => return password(p),
        Problem::Code(CodeProblem::Empty) => "Enter the code shown by your MFA device.",
        Problem::Code(CodeProblem::Malformed(digits)) => {
            return format!("Enter the {digits}-digit code shown by your MFA device, digits only.");
        }
        Problem::DeviceName(e) => device_name(e),
        Problem::EmailTaken => "An account with this email address already exists.",
        Problem::DeviceNameTaken => {
            "Another MFA device of this account has this name; choose another."
        }
        Problem::DeviceNameOrKeyTaken => {
            "Another MFA device of this account has this name, or this key is already registered."
        }
        Problem::UnknownDevice => "Choose one of the account's MFA devices.",
        Problem::CodeDenied => CODE_DENIED,
        Problem::CodesNotConsecutive { hardware: false } => {
            "These are not two consecutive codes from this device. Wait for a new code, then enter it and the one after it."
        }
        Problem::CodesNotConsecutive { hardware: true } => {
            "These are not two consecutive codes from this token. Wait for a new code, then enter it and the one after it."
        }
        Problem::SameCodeTwice { hardware: false } => {
            "Enter two different codes: wait for the device to show the next code, then enter it as MFA code 2."
        }
        Problem::SameCodeTwice { hardware: true } => {
            "Enter two different codes: wait for the token to show the next code, then enter it as MFA code 2."
        }
        Problem::NoFreeToken => {
            "There is no free hardware token with this serial number. Check the number printed on the token; if it is right, ask the operator to import it."
        }
        Problem::SerialMissing => "Enter the serial number printed on the token.",
        Problem::PasswordMissing => "Enter your password to confirm this change.",
        Problem::PasswordWrong { current: true } => "The current password is not correct.",
        Problem::PasswordWrong { current: false } => "The password is not correct.",
        Problem::TooManyWrongPasswords => {
            "Too many wrong passwords were entered for this account from here. Wait a while and try again, or reset the password with Forgot password?."
        }
        Problem::CeremonyExpired => {
            "This security key request expired or was already used. Try again."
        }
        Problem::CredentialMalformed => "The security key's answer is malformed.",
        Problem::CredentialRejected => {
            "The security key could not be registered: its answer did not check out. Try again."
        }
        Problem::SameContact => {
            "That is the account's current one: enter the new email address or phone number."
        }
        Problem::UnknownEventType => {
            "Choose event types from the list the event history documents."
        }
        Problem::TimeMalformed { date: true } => "Enter a date such as 2026-11-30.",
        Problem::TimeMalformed { date: false } => {
            "Enter a time in Unix seconds, such as 1800000000."
        }
        Problem::NumberOutOfRange { max } => {
            return format!("Enter a whole number from 1 to {max}.");
        }
    };
    fixed.to_owned()
}

/// A refused MFA code, on the sign-in page and in the API.
pub(crate) const CODE_DENIED: &str = "The MFA code is not valid. Check the device and try again.";

/// The problems with a form's fields as one paragraph.
pub fn fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| problem(&f.problem))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why latchkey does not call a number, without a final full stop.
pub(crate) fn destination(refused: &DestinationRefusal) -> String {
    match refused {
        DestinationRefusal::Country { allowed } => {
            format!(
                "latchkey does not call numbers in this country (it calls numbers in {allowed})"
            )
        }
        DestinationRefusal::Costly => {
            "latchkey does not call premium-rate or shared-cost numbers".to_owned()
        }
    }
}

fn email(problem: &EmailError) -> &'static str {
    match problem {
        EmailError::Empty => "Enter an email address.",
        EmailError::TooLong => "Email addresses can be at most 254 characters long.",
        EmailError::Invalid => "Enter a valid email address, such as name@example.com.",
    }
}

fn phone(problem: &PhoneError) -> &'static str {
    match problem {
        PhoneError::Empty => "Enter a phone number.",
        PhoneError::MissingCountryCode => {
            "Enter the phone number in international form: + and the country code, then the number (for example +44 20 7946 0958)."
        }
        PhoneError::Invalid => "That is not a valid phone number for its country.",
    }
}

fn password(problem: &PasswordProblem) -> String {
    let fixed = match problem {
        PasswordProblem::TooShort => return format!("Use at least {MIN_CHARS} characters."),
        PasswordProblem::TooLong => return format!("Use at most {MAX_BYTES} bytes."),
        PasswordProblem::Common => {
            "This password is one of the most commonly used; choose one that is harder to guess."
        }
        PasswordProblem::CommonWithDecoration => {
            "This password is one of the most commonly used with only digits, symbols or spaces added; choose one that is harder to guess."
        }
        PasswordProblem::Pattern => {
            "This password repeats or follows a simple sequence; choose one that is harder to guess."
        }
        PasswordProblem::ContainsContext => {
            "The password must not contain your email address or account name."
        }
    };
    fixed.to_owned()
}

fn device_name(problem: &DeviceNameProblem) -> &'static str {
    match problem {
        DeviceNameProblem::Empty => "Enter a device name.",
        DeviceNameProblem::TooLong => "The device name can be at most 64 characters long.",
        DeviceNameProblem::Characters => {
            "Use letters, digits, spaces and + = , . @ _ - in the device name."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_a_sentence() {
        let all = [
            Problem::Email(EmailError::Invalid),
            Problem::AccountName(AccountNameError::TooLong { max: 50 }),
            Problem::Phone(PhoneError::MissingCountryCode),
            Problem::PhoneNotCalled(DestinationRefusal::Costly),
            Problem::Password(PasswordProblem::TooShort),
            Problem::Password(PasswordProblem::Pattern),
            Problem::Code(CodeProblem::Malformed(6)),
            Problem::DeviceName(DeviceNameProblem::Characters),
            Problem::EmailTaken,
            Problem::DeviceNameTaken,
            Problem::DeviceNameOrKeyTaken,
            Problem::UnknownDevice,
            Problem::CodeDenied,
            Problem::CodesNotConsecutive { hardware: true },
            Problem::SameCodeTwice { hardware: false },
            Problem::NoFreeToken,
            Problem::SerialMissing,
            Problem::PasswordMissing,
            Problem::PasswordWrong { current: true },
            Problem::TooManyWrongPasswords,
            Problem::CeremonyExpired,
            Problem::CredentialMalformed,
            Problem::CredentialRejected,
            Problem::SameContact,
            Problem::UnknownEventType,
            Problem::TimeMalformed { date: true },
            Problem::TimeMalformed { date: false },
            Problem::NumberOutOfRange { max: 100 },
        ];
        for p in &all {
            let words = problem(p);
            assert!(words.ends_with('.'), "{p:?}: {words}");
            assert!(words.starts_with(char::is_uppercase) || words.starts_with("latchkey"));
        }
        assert_eq!(
            problem(&Problem::Password(PasswordProblem::TooShort)),
            format!("Use at least {MIN_CHARS} characters.")
        );
        assert_eq!(
            problem(&Problem::PhoneNotCalled(DestinationRefusal::Country {
                allowed: "GB".to_owned()
            })),
            "latchkey does not call numbers in this country (it calls numbers in GB)."
        );
    }
}
