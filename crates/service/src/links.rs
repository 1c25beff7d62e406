//! The links latchkey's emails carry. The service says which page and which token; the web
//! layer, which owns its paths, builds the URL (see `latchkey_web::links`). So a route can
//! move without an email pointing at its old place.

/// A page an email links to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Link<'a> {
    /// The sign-in page.
    SignIn,
    /// `Forgot password?`: where a password change that was not the owner's is undone.
    ForgotPassword,
    /// The sign-up's email verification, with its token.
    VerifySignUp { token: &'a str },
    /// The password reset form, with its token.
    ResetPassword { token: &'a str },
    /// The recovery flow's email verification, with its token.
    RecoveryEmail { token: &'a str },
    /// `This wasn't me` for a recovery flow, with its cancel token.
    CancelRecovery { token: &'a str },
    /// The confirmation of a new email address, with its token.
    ConfirmNewEmail { token: &'a str },
    /// `This wasn't me` for a contact change, with its revert token.
    RevertContactChange { token: &'a str },
    /// The account's event history (after sign-in): what happened, when and from where.
    EventHistory,
}

impl std::fmt::Debug for Link<'_> {
    // Tokens are live credentials; a log shows which page only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SignIn => "SignIn",
            Self::ForgotPassword => "ForgotPassword",
            Self::VerifySignUp { .. } => "VerifySignUp",
            Self::ResetPassword { .. } => "ResetPassword",
            Self::RecoveryEmail { .. } => "RecoveryEmail",
            Self::CancelRecovery { .. } => "CancelRecovery",
            Self::ConfirmNewEmail { .. } => "ConfirmNewEmail",
            Self::RevertContactChange { .. } => "RevertContactChange",
            Self::EventHistory => "EventHistory",
        })
    }
}

/// Builds absolute URLs for [`Link`]s. Implemented by the web layer.
pub trait Links: Send + Sync {
    fn url(&self, link: Link<'_>) -> String;
}
