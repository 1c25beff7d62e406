//! What passwords latchkey accepts.
//!
//! Passwords are taken whole (no truncation, no case folding, any Unicode). The length cap
//! exists so that a megabyte "password" cannot make the server hash a megabyte; it is far
//! above the 64 characters the standards ask us to accept. The blocklist is checked only when
//! a password is set or changed, never at sign-in, and the reason is shown to the person.
//!
//! The common-password list is embedded at build time (`data/common-passwords.txt`), so this
//! module reads no file; it is searched whole and case-insensitively. Deliberately absent:
//! a strength score, composition rules (digits, capitals) and l33t or keyboard-walk guessing
//! beyond the simple patterns below; a password refused here always gets one plain reason.

use std::sync::LazyLock;

/// The shortest password accepted when one is set, in characters.
pub const MIN_CHARS: usize = 12;
/// The longest password accepted anywhere, in bytes of UTF-8.
pub const MAX_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("shorter than {MIN_CHARS} characters")]
    TooShort,
    #[error("longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("a commonly used password")]
    Common,
    #[error("a commonly used password with digits, symbols or spaces added")]
    CommonWithDecoration,
    #[error("a repeated or sequential pattern")]
    Pattern,
    #[error("contains the email address or account name")]
    ContainsContext,
}

/// The shortest listed password that still counts as common once digits, symbols or spaces
/// are added around it. Shorter ones ("abc", "qwe") would refuse strong passwords that merely
/// start with them.
const MIN_DECORATED_CHARS: usize = 4;

/// The 100,000 most common passwords of a published breach corpus, lowercased and sorted,
/// keeping only the entries a rule here can use; `data/README.md` says where they come from.
const COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

/// [`COMMON_LIST`] split into lines once, for binary search.
static COMMON: LazyLock<Vec<&'static str>> = LazyLock::new(|| COMMON_LIST.lines().collect());

/// Checks a password someone is about to set. `context` holds words the password must not
/// contain: the account's email address, its local part and the account name.
pub fn check_new_password(password: &str, context: &[&str]) -> Result<(), PasswordProblem> {
    check_length(password)?;
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let lowered = password.to_lowercase();
    // Patterns first: "123456789012" is also a listed password, but "follows a simple
    // sequence" tells the person more.
    if is_simple_pattern(&lowered) {
        return Err(PasswordProblem::Pattern);
    }
    if is_listed(&lowered) {
        return Err(PasswordProblem::Common);
    }
    let undecorated = without_decoration(&lowered);
    if undecorated.len() < lowered.len()
        && undecorated.chars().count() >= MIN_DECORATED_CHARS
        && is_listed(undecorated)
    {
        return Err(PasswordProblem::CommonWithDecoration);
    }
    for word in context {
        let word = word.trim().to_lowercase();
        if word.chars().count() >= 4 && lowered.contains(&word) {
            return Err(PasswordProblem::ContainsContext);
        }
    }
    Ok(())
}

/// Whether a lowercased password is on the common-password list.
fn is_listed(lowered: &str) -> bool {
    COMMON.binary_search(&lowered).is_ok()
}

/// The password without the digits, ASCII symbols and spaces at either end: "sunshine" for
/// "sunshine2024!!!". Adding these to a common password is the first thing a guesser tries.
fn without_decoration(password: &str) -> &str {
    password
        .trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace())
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

    /// The passwords of a table whose check does not give `expected`, with what it gave.
    fn unexpected<'a>(
        passwords: &[&'a str],
        expected: Result<(), PasswordProblem>,
    ) -> Vec<(&'a str, Result<(), PasswordProblem>)> {
        passwords
            .iter()
            .map(|password| (*password, check_new_password(password, &[])))
            .filter(|(_, outcome)| *outcome != expected)
            .collect()
    }

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
    fn listed_passwords_are_refused_as_common_in_any_case() {
        let listed = &[
            "cheeseburger",
            "PeanutButter",
            "FINALFANTASY",
            "hakunamatata",
            "MichaelJackson",
            "iloveyoubaby",
            "leavemealone",
            "jamesbond007",
            "dragonslayer",
            "ManchesterUnited",
            "q1w2e3r4t5y6",
            "passwordpassword",
            "Password1234",
        ];
        assert_eq!(unexpected(listed, Err(PasswordProblem::Common)), []);
    }

    #[test]
    fn listed_passwords_with_only_digits_symbols_or_spaces_added_are_refused() {
        let decorated = &[
            "sunshine2024!!!",
            "dragonball1234",
            "Monkey-1999!",
            "!!football!!",
            "2024 Princess",
            "...iloveyou...",
            "cheeseburger99",
        ];
        assert_eq!(
            unexpected(decorated, Err(PasswordProblem::CommonWithDecoration)),
            []
        );
    }

    #[test]
    fn strong_passphrases_are_accepted() {
        let strong = &[
            "violet-anchor-tundra-42",
            "marble quiet oyster lamp",
            "Xq7#pL9v!mR2wz",
            "ночь-чайник-42-лес",
            "plinth7!sorrel-aviary",
            "correct horse battery staple, benchmarked",
            // A listed word inside a longer phrase is not the whole password.
            "sunshine-walrus-2024",
            "monkey wrench garden",
            // With the digits set aside, "abc" is too short to count as a listed password.
            "abc-83619274015",
        ];
        assert_eq!(unexpected(strong, Ok(())), []);
    }

    #[test]
    fn the_embedded_list_is_sorted_lowercase_and_holds_only_entries_a_rule_can_use() {
        assert!(COMMON.len() >= 40_000, "only {} entries", COMMON.len());
        // Binary search needs strictly ascending entries (which also rules out duplicates).
        let unsorted: Vec<_> = COMMON
            .windows(2)
            .filter(|pair| pair[0] >= pair[1])
            .collect();
        assert_eq!(unsorted, Vec::<&[&str]>::new());
        // Shorter entries are only useful as the core of a decorated password.
        let unusable: Vec<_> = COMMON
            .iter()
            .filter(|entry| {
                let chars = entry.chars().count();
                let usable = chars >= MIN_CHARS
                    || (chars >= MIN_DECORATED_CHARS && without_decoration(entry) == **entry);
                !usable || entry.to_lowercase() != **entry
            })
            .collect();
        assert_eq!(unusable, Vec::<&&str>::new());
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
        // The blocklist is for choosing a password; an old common one still signs in.
        assert_eq!(check_length("password1234"), Ok(()));
        assert_eq!(check_length("sunshine2024!!!"), Ok(()));
        assert_eq!(check_length(&"a".repeat(MAX_BYTES)), Ok(()));
        assert_eq!(
            check_length(&"a".repeat(MAX_BYTES + 1)),
            Err(PasswordProblem::TooLong)
        );
    }
}
