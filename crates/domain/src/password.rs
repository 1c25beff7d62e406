//! What passwords latchkey accepts.
//!
//! Passwords are taken whole (no truncation, no case folding, any Unicode). The length cap
//! exists so that a megabyte "password" cannot make the server hash a megabyte; it is far
//! above the 64 characters the standards ask us to accept. The blocklist is checked only when
//! a password is set or changed, never at sign-in, and the reason is shown to the person.

/// The shortest password accepted when one is set, in characters.
pub const MIN_CHARS: usize = 12;
/// The longest password accepted anywhere, in bytes of UTF-8.
pub const MAX_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("Use at least {MIN_CHARS} characters.")]
    TooShort,
    #[error("Use at most {MAX_BYTES} bytes.")]
    TooLong,
    #[error("This password is one of the most commonly used; choose one that is harder to guess.")]
    Common,
    #[error(
        "This password repeats or follows a simple sequence; choose one that is harder to guess."
    )]
    Pattern,
    #[error("The password must not contain your email address or account name.")]
    ContainsContext,
}

/// A handful of the most common passwords long enough to pass the length rule, taken from
/// published breach corpora; most weak passwords are already stopped by [`MIN_CHARS`].
const COMMON: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "password1234!",
    "p@ssw0rd1234",
    "qwertyuiopasdfghjkl",
    "qwertyuiop123",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "changeme1234",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "superman1234",
    "monkey123456",
    "dragon123456",
    "computer1234",
    "internet1234",
    "correcthorsebatterystaple",
];

/// Checks a password someone is about to set. `context` holds words the password must not
/// contain: the account's email address, its local part and the account name.
pub fn check_new_password(password: &str, context: &[&str]) -> Result<(), PasswordProblem> {
    check_length(password)?;
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let lowered = password.to_lowercase();
    if COMMON.contains(&lowered.as_str()) {
        return Err(PasswordProblem::Common);
    }
    if is_simple_pattern(&lowered) {
        return Err(PasswordProblem::Pattern);
    }
    for word in context {
        let word = word.trim().to_lowercase();
        if word.chars().count() >= 4 && lowered.contains(&word) {
            return Err(PasswordProblem::ContainsContext);
        }
    }
    Ok(())
}

/// The only check made on a password typed at sign-in: the cap that keeps hashing bounded.
pub fn check_length(password: &str) -> Result<(), PasswordProblem> {
    if password.len() > MAX_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    Ok(())
}

/// One short unit repeated ("aaaaaaaaaaaa", "abcabcabcabc"), or a run along the digits,
/// the alphabet or a keyboard row, either way ("123456789012", "zyxwvutsrqpo").
fn is_simple_pattern(password: &str) -> bool {
    let chars: Vec<char> = password.chars().collect();
    for unit in 1..=chars.len() / 3 {
        if chars.len().is_multiple_of(unit)
            && chars.chunks(unit).all(|chunk| chunk == &chars[..unit])
        {
            return true;
        }
    }
    const RUNS: &[&str] = &[
        "0123456789",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiopasdfghjklzxcvbnm",
        "1234567890",
    ];
    let reversed: String = password.chars().rev().collect();
    RUNS.iter().any(|run| {
        let cycle = run.repeat(password.len() / run.len() + 2);
        cycle.contains(password) || cycle.contains(&reversed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_unusual_password_is_accepted_whole() {
        assert_eq!(check_new_password("violet-anchor-tundra-42", &[]), Ok(()));
        let sixty_four = "ä".repeat(31) + "tundra-lamp-x";
        assert_eq!(check_new_password(&sixty_four, &[]), Ok(()));
    }

    #[test]
    fn short_long_common_and_patterned_passwords_are_refused_with_a_reason() {
        assert_eq!(
            check_new_password("short-pw", &[]),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new_password(&"x1".repeat(600), &[]),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(
            check_new_password("Password1234", &[]),
            Err(PasswordProblem::Common)
        );
        assert_eq!(
            check_new_password("aaaaaaaaaaaaaa", &[]),
            Err(PasswordProblem::Pattern)
        );
        assert_eq!(
            check_new_password("abcabcabcabc", &[]),
            Err(PasswordProblem::Pattern)
        );
        assert_eq!(
            check_new_password("123456789012", &[]),
            Err(PasswordProblem::Pattern)
        );
        assert_eq!(
            check_new_password("zyxwvutsrqpo", &[]),
            Err(PasswordProblem::Pattern)
        );
    }

    #[test]
    fn context_words_are_refused_case_insensitively() {
        assert_eq!(
            check_new_password("my-Annlee-account!", &["annlee@example.com", "annlee"]),
            Err(PasswordProblem::ContainsContext)
        );
        // Context shorter than four characters would refuse too much.
        assert_eq!(check_new_password("bob-anchor-tundra", &["bob"]), Ok(()));
    }

    #[test]
    fn sign_in_only_caps_the_length() {
        assert_eq!(check_length("a"), Ok(()));
        assert_eq!(check_length(&"a".repeat(MAX_BYTES)), Ok(()));
        assert_eq!(
            check_length(&"a".repeat(MAX_BYTES + 1)),
            Err(PasswordProblem::TooLong)
        );
    }
}
