//! Single-use links sent by email: what they are for and how long they live.

use crate::time::Duration;

/// What an emailed link lets its holder do. A token is only ever accepted for its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Proves control of the email address given at sign-up.
    VerifyEmail,
    /// Lets the holder choose a new password (and nothing else: MFA stays as it is).
    ResetPassword,
    /// Held by the browser that verified a sign-up's email: lets it ask for the phone call
    /// that verifies the phone number, the last step before the account exists.
    ContinueSignUp,
}

/// Reset emails one account may be sent per [`RESET_EMAIL_WINDOW`]. Each request leaves the
/// earlier links valid (until used or expired), so someone who knows only the address cannot
/// keep the owner's link dead by asking again; the bound keeps them from flooding the inbox.
pub const RESET_EMAILS_PER_WINDOW: u32 = 3;
pub const RESET_EMAIL_WINDOW: Duration = Duration::hours(1);

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ContinueSignUp => "continue_sign_up",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "verify_email" => Some(Self::VerifyEmail),
            "reset_password" => Some(Self::ResetPassword),
            "continue_sign_up" => Some(Self::ContinueSignUp),
            _ => None,
        }
    }

    /// How long a link stays usable. A sign-up link may wait in an inbox for a day; a reset
    /// link grants a credential change and is kept short.
    pub fn lifetime(self) -> Duration {
        match self {
            Self::VerifyEmail => Duration::hours(24),
            Self::ResetPassword => Duration::minutes(30),
            Self::ContinueSignUp => Duration::hours(1),
        }
    }
}
