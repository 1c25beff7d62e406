//! The password step and the code step of a sign-in, as decisions: the service finds out the
//! facts (the account, what the password or code check said, what the throttle said), this
//! module decides what follows — the answer, the audit detail and the effects — and the
//! service applies the decision in one store call. Every way to be refused gets the same
//! answer (`Deny`); only the audit detail tells them apart.

use crate::account::AccountStatus;
use crate::lockout::Admission;
use crate::totp::CodeCheck;

/// What checking the typed password said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordVerdict {
    Right,
    Wrong,
    /// The failure counter refused the attempt: nothing was checked.
    Refused(Admission),
}

/// The account the typed email belongs to, as far as the password step cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFacts {
    pub status: AccountStatus,
    pub email_verified: bool,
    pub phone_verified: bool,
    /// Active MFA devices (read only once the password was right).
    pub devices: usize,
    /// An operator disabled the account (`latchkey account disable`).
    pub disabled: bool,
}

/// Everything the password step decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordFacts {
    /// `None`: no account has this email (it was checked against a dummy hash).
    pub account: Option<AccountFacts>,
    pub verdict: PasswordVerdict,
}

/// What the password step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordDecision {
    /// The one answer for a wrong password, an unknown email, a throttled or locked counter
    /// and a sign-up whose email link was never followed. `refund` gives the reservation back
    /// (the password was right).
    Deny { detail: &'static str, refund: bool },
    /// The password was right, the email verified, the phone call never completed: the
    /// reservation is given back and the browser may go on to the call.
    ContinueSignUp,
    /// The account has MFA devices: record a sign-in attempt (which gives the reservation
    /// back) and ask for a code.
    RequireSecondFactor,
    /// Issue a session (which clears the source's failures).
    StartSession,
    /// The password was right but an operator disabled the account: the reservation is given
    /// back and the owner is told so. Only the right password learns it; to everyone else a
    /// disabled account answers like any other.
    Disabled,
}

impl PasswordDecision {
    /// The detail of the step's audit record.
    pub fn audit_detail(self) -> &'static str {
        match self {
            Self::Deny { detail, .. } => detail,
            Self::ContinueSignUp => "phone_not_verified",
            Self::RequireSecondFactor => "mfa_required",
            Self::StartSession => "password",
            Self::Disabled => "account_disabled",
        }
    }
}

/// The audit detail of a refusal by a failure counter.
pub fn refusal_detail(admission: Admission) -> &'static str {
    match admission {
        Admission::Locked => "locked",
        Admission::Allowed | Admission::Throttled { .. } => "throttled",
    }
}

/// Decides the password step.
pub fn decide_password(facts: &PasswordFacts) -> PasswordDecision {
    let deny = |detail| PasswordDecision::Deny {
        detail,
        refund: false,
    };
    let account = match (facts.verdict, facts.account) {
        (PasswordVerdict::Refused(admission), _) => return deny(refusal_detail(admission)),
        (_, None) => return deny("unknown_email"),
        (PasswordVerdict::Wrong, Some(_)) => return deny("wrong_password"),
        (PasswordVerdict::Right, Some(account)) => account,
    };
    if account.disabled {
        return PasswordDecision::Disabled;
    }
    if account.status != AccountStatus::Active {
        if account.email_verified && !account.phone_verified {
            return PasswordDecision::ContinueSignUp;
        }
        // Answered like a wrong password: anyone may sign up with any address, so telling
        // "waiting for its link" apart from "taken" would reveal which addresses have
        // accounts. The link is in the inbox.
        return PasswordDecision::Deny {
            detail: "email_not_verified",
            refund: true,
        };
    }
    if account.devices > 0 {
        PasswordDecision::RequireSecondFactor
    } else {
        PasswordDecision::StartSession
    }
}

/// Everything the code step decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeFacts {
    /// The throttle's answer: `Err` with the audit detail of its refusal.
    pub reservation: Result<(), &'static str>,
    /// What checking the code against the chosen device said; `None` when the account has
    /// no such device.
    pub check: Option<CodeCheck>,
}

/// What the code step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeDecision {
    /// Consume `step` on the device, complete the attempt and issue the session, together.
    Complete { step: i64 },
    /// The one answer for every refused code. `notify_owner`: the code was right but used
    /// before, so whoever typed it knows the password — the owner is told.
    Deny {
        detail: &'static str,
        notify_owner: bool,
    },
}

/// Decides the code step.
pub fn decide_code(facts: &CodeFacts) -> CodeDecision {
    let deny = |detail, notify_owner| CodeDecision::Deny {
        detail,
        notify_owner,
    };
    if let Err(detail) = facts.reservation {
        return deny(detail, false);
    }
    match facts.check {
        None => deny("unknown_device", false),
        Some(CodeCheck::Valid { step }) => CodeDecision::Complete { step },
        Some(CodeCheck::Replayed { .. }) => deny("replayed_code", true),
        Some(CodeCheck::Invalid) => deny("wrong_code", false),
    }
}

/// The code step when the write that consumes the step found it (or the attempt) used by a
/// concurrent request first: a replay.
pub const RACED: CodeDecision = CodeDecision::Deny {
    detail: "replayed_code",
    notify_owner: true,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    const ACTIVE: AccountFacts = AccountFacts {
        status: AccountStatus::Active,
        email_verified: true,
        phone_verified: true,
        devices: 0,
        disabled: false,
    };

    #[test]
    fn the_password_step_as_a_table() {
        use PasswordDecision::*;
        let pending = AccountFacts {
            status: AccountStatus::PendingVerification,
            email_verified: false,
            phone_verified: false,
            devices: 0,
            disabled: false,
        };
        let phone_next = AccountFacts {
            email_verified: true,
            ..pending
        };
        let with_device = AccountFacts {
            devices: 2,
            ..ACTIVE
        };
        let disabled = AccountFacts {
            disabled: true,
            ..with_device
        };
        let throttled = PasswordVerdict::Refused(Admission::Throttled {
            until: Timestamp(10),
        });
        let deny = |detail, refund| Deny { detail, refund };
        let table: &[(Option<AccountFacts>, PasswordVerdict, PasswordDecision)] = &[
            (None, PasswordVerdict::Wrong, deny("unknown_email", false)),
            // An unknown email is never "right": the dummy hash matches nothing, but even if
            // it did the answer would not change.
            (None, PasswordVerdict::Right, deny("unknown_email", false)),
            (None, throttled, deny("throttled", false)),
            (
                Some(ACTIVE),
                PasswordVerdict::Wrong,
                deny("wrong_password", false),
            ),
            (Some(ACTIVE), throttled, deny("throttled", false)),
            (
                Some(ACTIVE),
                PasswordVerdict::Refused(Admission::Locked),
                deny("locked", false),
            ),
            (Some(ACTIVE), PasswordVerdict::Right, StartSession),
            (
                Some(with_device),
                PasswordVerdict::Right,
                RequireSecondFactor,
            ),
            (
                Some(with_device),
                PasswordVerdict::Wrong,
                deny("wrong_password", false),
            ),
            (
                Some(pending),
                PasswordVerdict::Right,
                deny("email_not_verified", true),
            ),
            (
                Some(pending),
                PasswordVerdict::Wrong,
                deny("wrong_password", false),
            ),
            (Some(phone_next), PasswordVerdict::Right, ContinueSignUp),
            (Some(phone_next), throttled, deny("throttled", false)),
            // A disabled account says so only to the right password.
            (Some(disabled), PasswordVerdict::Right, Disabled),
            (
                Some(disabled),
                PasswordVerdict::Wrong,
                deny("wrong_password", false),
            ),
            (Some(disabled), throttled, deny("throttled", false)),
        ];
        for (account, verdict, expected) in table {
            let facts = PasswordFacts {
                account: *account,
                verdict: *verdict,
            };
            assert_eq!(decide_password(&facts), *expected, "{facts:?}");
        }
    }

    #[test]
    fn each_password_decision_audits_what_happened() {
        let table = [
            (PasswordDecision::StartSession, "password"),
            (PasswordDecision::RequireSecondFactor, "mfa_required"),
            (PasswordDecision::Disabled, "account_disabled"),
            (PasswordDecision::ContinueSignUp, "phone_not_verified"),
            (
                PasswordDecision::Deny {
                    detail: "wrong_password",
                    refund: false,
                },
                "wrong_password",
            ),
        ];
        for (decision, detail) in table {
            assert_eq!(decision.audit_detail(), detail, "{decision:?}");
        }
    }

    #[test]
    fn the_code_step_as_a_table() {
        use CodeDecision::*;
        let table: &[(Result<(), &'static str>, Option<CodeCheck>, CodeDecision)] = &[
            (
                Ok(()),
                Some(CodeCheck::Valid { step: 7 }),
                Complete { step: 7 },
            ),
            (
                Ok(()),
                Some(CodeCheck::Replayed { step: 7 }),
                Deny {
                    detail: "replayed_code",
                    notify_owner: true,
                },
            ),
            (
                Ok(()),
                Some(CodeCheck::Invalid),
                Deny {
                    detail: "wrong_code",
                    notify_owner: false,
                },
            ),
            (
                Ok(()),
                None,
                Deny {
                    detail: "unknown_device",
                    notify_owner: false,
                },
            ),
            // A refused reservation wins over everything: nothing was checked.
            (
                Err("throttled"),
                Some(CodeCheck::Valid { step: 7 }),
                Deny {
                    detail: "throttled",
                    notify_owner: false,
                },
            ),
            (
                Err("device_locked"),
                Some(CodeCheck::Replayed { step: 7 }),
                Deny {
                    detail: "device_locked",
                    notify_owner: false,
                },
            ),
        ];
        for (reservation, check, expected) in table {
            let facts = CodeFacts {
                reservation: *reservation,
                check: *check,
            };
            assert_eq!(decide_code(&facts), *expected, "{facts:?}");
        }
    }
}
