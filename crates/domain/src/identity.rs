//! What latchkey tells another application about how a session was earned: the
//! authentication methods (RFC 8176 `amr` values) and the authentication context class
//! (`acr`), for forward-auth headers and OpenID Connect ID tokens.
//!
//! The point of exposing this is the recovery path: a session from `Sign in using
//! alternative factors` proved the password, the inbox and the phone, never an MFA device,
//! and an application that wants real MFA must be able to tell it apart and refuse it.

use crate::mfa::DeviceKind;
use crate::session::SessionKind;

/// The assurance a session carries, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Acr {
    /// The password alone (an account without MFA devices).
    Password,
    /// Password, email link and phone call, instead of the lost device.
    AlternativeFactors,
    /// Password and an MFA device.
    Mfa,
}

impl Acr {
    /// The `acr` value latchkey publishes (`acr_values_supported`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "urn:latchkey:acr:password",
            Self::AlternativeFactors => "urn:latchkey:acr:alternative-factors",
            Self::Mfa => "urn:latchkey:acr:mfa",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|acr| acr.as_str() == text)
    }

    pub const ALL: [Self; 3] = [Self::Mfa, Self::AlternativeFactors, Self::Password];

    /// Whether a session of this class satisfies a request for `wanted`. Each class
    /// satisfies only itself and the weaker password class: alternative factors never pass
    /// for MFA, and MFA does not pass for alternative factors (an application that asks for
    /// the recovery class asks for exactly that).
    pub fn satisfies(self, wanted: Self) -> bool {
        self == wanted || wanted == Self::Password
    }
}

/// How a session was earned, as an application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// RFC 8176 method values, in a fixed order.
    pub amr: Vec<&'static str>,
    pub acr: Acr,
}

/// Decides `amr` and `acr` from the session's kind and the kind of the MFA device that
/// authorised it (none for a password-only or recovery session).
///
/// RFC 8176: `pwd` password; `otp` a one-time password (a virtual device or a hardware
/// token's code); `hwk` proof of a hardware-held key (a hardware OATH token, a security
/// key); `mfa` more than one factor; `tel` a confirmation by telephone call and `mca`
/// several channels, for the recovery path's email link and call. A virtual device's seed is
/// a shared secret in an app, not a key it proves possession of, so it is not `swk`.
pub fn authentication(kind: SessionKind, device: Option<DeviceKind>) -> Authentication {
    match (kind, device) {
        (SessionKind::AlternativeFactors, _) => Authentication {
            amr: vec!["pwd", "tel", "mca"],
            acr: Acr::AlternativeFactors,
        },
        (SessionKind::Full, None) => Authentication {
            amr: vec!["pwd"],
            acr: Acr::Password,
        },
        (SessionKind::Full, Some(DeviceKind::Virtual)) => Authentication {
            amr: vec!["pwd", "otp", "mfa"],
            acr: Acr::Mfa,
        },
        (SessionKind::Full, Some(DeviceKind::Hardware)) => Authentication {
            amr: vec!["pwd", "otp", "hwk", "mfa"],
            acr: Acr::Mfa,
        },
        (SessionKind::Full, Some(DeviceKind::SecurityKey)) => Authentication {
            amr: vec!["pwd", "hwk", "mfa"],
            acr: Acr::Mfa,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_in_has_its_methods_and_class() {
        let cases: &[(SessionKind, Option<DeviceKind>, &[&str], Acr)] = &[
            (SessionKind::Full, None, &["pwd"], Acr::Password),
            (
                SessionKind::Full,
                Some(DeviceKind::Virtual),
                &["pwd", "otp", "mfa"],
                Acr::Mfa,
            ),
            (
                SessionKind::Full,
                Some(DeviceKind::Hardware),
                &["pwd", "otp", "hwk", "mfa"],
                Acr::Mfa,
            ),
            (
                SessionKind::Full,
                Some(DeviceKind::SecurityKey),
                &["pwd", "hwk", "mfa"],
                Acr::Mfa,
            ),
            (
                SessionKind::AlternativeFactors,
                None,
                &["pwd", "tel", "mca"],
                Acr::AlternativeFactors,
            ),
        ];
        for (kind, device, amr, acr) in cases {
            let got = authentication(*kind, *device);
            assert_eq!(got.amr, *amr, "{kind:?} {device:?}");
            assert_eq!(got.acr, *acr, "{kind:?} {device:?}");
        }
    }

    #[test]
    fn alternative_factors_never_pass_for_mfa() {
        let cases = [
            (Acr::Mfa, Acr::Mfa, true),
            (Acr::Mfa, Acr::Password, true),
            (Acr::Mfa, Acr::AlternativeFactors, false),
            (Acr::AlternativeFactors, Acr::Mfa, false),
            (Acr::AlternativeFactors, Acr::AlternativeFactors, true),
            (Acr::AlternativeFactors, Acr::Password, true),
            (Acr::Password, Acr::Mfa, false),
            (Acr::Password, Acr::AlternativeFactors, false),
            (Acr::Password, Acr::Password, true),
        ];
        for (have, wanted, expected) in cases {
            assert_eq!(have.satisfies(wanted), expected, "{have:?} for {wanted:?}");
        }
        for acr in Acr::ALL {
            assert_eq!(Acr::parse(acr.as_str()), Some(acr));
        }
        assert_eq!(Acr::parse("urn:latchkey:acr:MFA"), None);
    }
}
