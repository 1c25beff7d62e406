//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), for virtual MFA devices and
//! hardware OATH tokens.
//!
//! Everything here is a pure function of the secret, the parameters and the time step, so
//! the rules (window, drift, replay, consecutive codes) are tested without a clock. Which
//! steps have been used is the caller's to persist; [`check_code`] only says what a code
//! matches.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// How a device computes its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: TotpAlgorithm,
    pub digits: u32,
    /// Seconds per step.
    pub period: i64,
}

impl TotpParams {
    /// What latchkey issues for virtual devices: RFC 6238's defaults, which every
    /// authenticator app understands.
    pub const VIRTUAL: TotpParams = TotpParams {
        algorithm: TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
    };

    pub fn step_at(&self, now: Timestamp) -> i64 {
        now.0.div_euclid(self.period)
    }
}

/// The HOTP value of `secret` at counter `step` (RFC 4226 §5.3, dynamic truncation).
pub fn code_at(secret: &[u8], params: TotpParams, step: i64) -> u32 {
    let counter = (step as u64).to_be_bytes();
    let digest = match params.algorithm {
        TotpAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(secret, &counter),
        TotpAlgorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(secret, &counter),
        TotpAlgorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(secret, &counter),
    };
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(params.digits)
}

#[expect(clippy::expect_used, reason = "HMAC takes any key length")]
fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A code as typed, checked for shape: ASCII digits only (spaces between groups allowed),
/// exactly the device's length. Unicode digits such as "١٢٣٤٥٦" are refused rather than
/// normalised, so that what is verified is exactly what the device shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    value: u32,
    digits: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeProblem {
    #[error("no code")]
    Empty,
    #[error("not a {0}-digit code")]
    Malformed(u32),
}

impl Code {
    pub fn parse(text: &str, digits: u32) -> Result<Self, CodeProblem> {
        let compact: String = text.trim().chars().filter(|c| *c != ' ').collect();
        if compact.is_empty() {
            return Err(CodeProblem::Empty);
        }
        if compact.len() != digits as usize || !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeProblem::Malformed(digits));
        }
        Ok(Self {
            value: compact
                .parse()
                .map_err(|_| CodeProblem::Malformed(digits))?,
            digits,
        })
    }

    fn matches(&self, expected: u32) -> bool {
        self.value
            .to_be_bytes()
            .ct_eq(&expected.to_be_bytes())
            .into()
    }
}

/// What a submitted code matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// A step after the last accepted one: accept it and record the step.
    Valid {
        step: i64,
    },
    /// A valid code for a step already used (or an earlier one): a replay.
    Replayed {
        step: i64,
    },
    Invalid,
}

/// Steps accepted on either side of the expected one (RFC 6238 §5.2 recommends one).
pub const WINDOW_STEPS: i64 = 1;

/// Checks a sign-in code: the server's step plus the device's recorded drift, ± one step.
/// Steps at or before `last_used_step` are replays, never accepted.
pub fn check_code(
    secret: &[u8],
    params: TotpParams,
    code: Code,
    now: Timestamp,
    drift_steps: i64,
    last_used_step: Option<i64>,
) -> CodeCheck {
    if code.digits != params.digits {
        return CodeCheck::Invalid;
    }
    let center = params.step_at(now) + drift_steps;
    let mut result = CodeCheck::Invalid;
    // Every candidate is computed and compared, so the time taken does not depend on which
    // step (if any) matched.
    for step in center - WINDOW_STEPS..=center + WINDOW_STEPS {
        if code.matches(code_at(secret, params, step)) && result == CodeCheck::Invalid {
            result = match last_used_step {
                Some(last) if step <= last => CodeCheck::Replayed { step },
                _ => CodeCheck::Valid { step },
            };
        }
    }
    result
}

/// Finds two consecutive codes: `first` at some step `t` and `second` at `t + 1`, with `t + 1`
/// within `window` steps of `center`. Returns `t + 1`, the later step, which the caller
/// records as used (so neither code can sign in afterwards).
pub fn find_consecutive(
    secret: &[u8],
    params: TotpParams,
    first: Code,
    second: Code,
    center: i64,
    window: i64,
) -> Option<i64> {
    if first.digits != params.digits || second.digits != params.digits {
        return None;
    }
    let mut found = None;
    for later in center - window..=center + window {
        let pair = first.matches(code_at(secret, params, later - 1))
            && second.matches(code_at(secret, params, later));
        if pair && found.is_none() {
            found = Some(later);
        }
    }
    found
}

/// Enrolment: the later code must be within the normal window of the server's step.
pub fn check_enrolment(
    secret: &[u8],
    params: TotpParams,
    first: Code,
    second: Code,
    now: Timestamp,
) -> Option<i64> {
    find_consecutive(
        secret,
        params,
        first,
        second,
        params.step_at(now),
        WINDOW_STEPS,
    )
}

/// Resync looks ten minutes either way of the server's step, ignoring the recorded drift.
pub const RESYNC_WINDOW_SECONDS: i64 = 600;

/// Resync: two consecutive codes anywhere within ±10 minutes. Returns the later step and the
/// drift it implies (later step − server step).
pub fn check_resync(
    secret: &[u8],
    params: TotpParams,
    first: Code,
    second: Code,
    now: Timestamp,
) -> Option<(i64, i64)> {
    let center = params.step_at(now);
    let window = RESYNC_WINDOW_SECONDS / params.period;
    find_consecutive(secret, params, first, second, center, window)
        .map(|later| (later, later - center))
}

/// The Google Authenticator key URI (`otpauth://totp/Issuer:label?secret=…&issuer=…`).
pub fn key_uri(issuer: &str, account_label: &str, secret: &[u8], params: TotpParams) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        encode(issuer),
        encode(account_label),
        base32(secret),
        encode(issuer),
        params.algorithm.as_str(),
        params.digits,
        params.period
    )
}

/// Base32 without padding (RFC 4648), as authenticator apps expect secrets.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SEED: &[u8] = b"12345678901234567890";
    const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
    const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn eight(algorithm: TotpAlgorithm) -> TotpParams {
        TotpParams {
            algorithm,
            digits: 8,
            period: 30,
        }
    }

    #[test]
    fn rfc6238_appendix_b_test_vectors() {
        let vectors: [(i64, u32, u32, u32); 6] = [
            (59, 94287082, 46119246, 90693936),
            (1111111109, 7081804, 68084774, 25091201),
            (1111111111, 14050471, 67062674, 99943326),
            (1234567890, 89005924, 91819424, 93441116),
            (2000000000, 69279037, 90698825, 38618901),
            (20000000000, 65353130, 77737706, 47863826),
        ];
        for (time, sha1, sha256, sha512) in vectors {
            let step = eight(TotpAlgorithm::Sha1).step_at(Timestamp(time));
            assert_eq!(
                code_at(SHA1_SEED, eight(TotpAlgorithm::Sha1), step),
                sha1,
                "SHA1 at {time}"
            );
            assert_eq!(
                code_at(SHA256_SEED, eight(TotpAlgorithm::Sha256), step),
                sha256,
                "SHA256 at {time}"
            );
            assert_eq!(
                code_at(SHA512_SEED, eight(TotpAlgorithm::Sha512), step),
                sha512,
                "SHA512 at {time}"
            );
        }
    }

    fn code(secret: &[u8], step: i64) -> Code {
        Code::parse(
            &format!("{:06}", code_at(secret, TotpParams::VIRTUAL, step)),
            6,
        )
        .unwrap()
    }

    const NOW: Timestamp = Timestamp(1_800_000_015);

    #[test]
    fn a_code_is_valid_one_step_either_side_and_not_further() {
        let step = TotpParams::VIRTUAL.step_at(NOW);
        for offset in -1..=1 {
            assert_eq!(
                check_code(
                    SHA1_SEED,
                    TotpParams::VIRTUAL,
                    code(SHA1_SEED, step + offset),
                    NOW,
                    0,
                    None
                ),
                CodeCheck::Valid {
                    step: step + offset
                }
            );
        }
        for offset in [-3, -2, 2, 3] {
            assert_eq!(
                check_code(
                    SHA1_SEED,
                    TotpParams::VIRTUAL,
                    code(SHA1_SEED, step + offset),
                    NOW,
                    0,
                    None
                ),
                CodeCheck::Invalid
            );
        }
    }

    #[test]
    fn recorded_drift_moves_the_window() {
        let step = TotpParams::VIRTUAL.step_at(NOW);
        let slow_device = code(SHA1_SEED, step - 5);
        assert_eq!(
            check_code(SHA1_SEED, TotpParams::VIRTUAL, slow_device, NOW, 0, None),
            CodeCheck::Invalid
        );
        assert_eq!(
            check_code(SHA1_SEED, TotpParams::VIRTUAL, slow_device, NOW, -5, None),
            CodeCheck::Valid { step: step - 5 }
        );
    }

    #[test]
    fn a_used_step_or_any_earlier_one_is_a_replay() {
        let step = TotpParams::VIRTUAL.step_at(NOW);
        let now_code = code(SHA1_SEED, step);
        assert_eq!(
            check_code(SHA1_SEED, TotpParams::VIRTUAL, now_code, NOW, 0, Some(step)),
            CodeCheck::Replayed { step }
        );
        assert_eq!(
            check_code(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step - 1),
                NOW,
                0,
                Some(step)
            ),
            CodeCheck::Replayed { step: step - 1 }
        );
        assert_eq!(
            check_code(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step + 1),
                NOW,
                0,
                Some(step)
            ),
            CodeCheck::Valid { step: step + 1 }
        );
    }

    #[test]
    fn codes_must_be_ascii_digits_of_the_right_length() {
        assert_eq!(Code::parse("", 6), Err(CodeProblem::Empty));
        assert_eq!(Code::parse("12345", 6), Err(CodeProblem::Malformed(6)));
        assert_eq!(Code::parse("1234567", 6), Err(CodeProblem::Malformed(6)));
        assert_eq!(Code::parse("12a456", 6), Err(CodeProblem::Malformed(6)));
        assert_eq!(Code::parse("١٢٣٤٥٦", 6), Err(CodeProblem::Malformed(6)));
        assert_eq!(
            Code::parse("１２３４５６", 6),
            Err(CodeProblem::Malformed(6))
        );
        assert_eq!(Code::parse("+12345", 6), Err(CodeProblem::Malformed(6)));
        assert!(Code::parse(" 123 456 ", 6).is_ok());
        assert!(Code::parse("000001", 6).is_ok());
    }

    #[test]
    fn enrolment_takes_two_consecutive_codes_ending_near_now() {
        let step = TotpParams::VIRTUAL.step_at(NOW);
        let ok = check_enrolment(
            SHA1_SEED,
            TotpParams::VIRTUAL,
            code(SHA1_SEED, step - 1),
            code(SHA1_SEED, step),
            NOW,
        );
        assert_eq!(ok, Some(step));
        // Same code twice, reversed order, a gap, or too old: refused.
        assert_eq!(
            check_enrolment(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step),
                code(SHA1_SEED, step),
                NOW
            ),
            None
        );
        assert_eq!(
            check_enrolment(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step),
                code(SHA1_SEED, step - 1),
                NOW
            ),
            None
        );
        assert_eq!(
            check_enrolment(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step - 2),
                code(SHA1_SEED, step),
                NOW
            ),
            None
        );
        assert_eq!(
            check_enrolment(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step - 4),
                code(SHA1_SEED, step - 3),
                NOW
            ),
            None
        );
    }

    #[test]
    fn resync_finds_codes_ten_minutes_away_and_reports_the_drift() {
        let step = TotpParams::VIRTUAL.step_at(NOW);
        let found = check_resync(
            SHA1_SEED,
            TotpParams::VIRTUAL,
            code(SHA1_SEED, step - 16),
            code(SHA1_SEED, step - 15),
            NOW,
        );
        assert_eq!(found, Some((step - 15, -15)));
        assert_eq!(
            check_resync(
                SHA1_SEED,
                TotpParams::VIRTUAL,
                code(SHA1_SEED, step + 25),
                code(SHA1_SEED, step + 26),
                NOW
            ),
            None
        );
    }

    #[test]
    fn key_uri_follows_the_google_authenticator_format() {
        let uri = key_uri(
            "latchkey",
            "Acme Ltd:ann@example.com",
            b"12345678901234567890",
            TotpParams::VIRTUAL,
        );
        assert_eq!(
            uri,
            "otpauth://totp/latchkey:Acme%20Ltd%3Aann@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=latchkey&algorithm=SHA1&digits=6&period=30"
        );
    }
}
