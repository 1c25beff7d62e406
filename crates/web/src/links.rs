//! The console pages that emails link to, and the URLs the service's emails carry. The routes
//! and the links use the same constants, so an emailed link always names a page that exists.

use latchkey_service::{Link, Links};

/// Paths of the console pages an email can link to.
pub(crate) mod paths {
    pub(crate) const SIGN_IN: &str = "/signin";
    pub(crate) const FORGOT_PASSWORD: &str = "/password/forgot";
    pub(crate) const RESET_PASSWORD: &str = "/password/reset";
    pub(crate) const VERIFY_SIGN_UP: &str = "/signup/verify";
    pub(crate) const RECOVERY_EMAIL: &str = "/recovery/email";
    pub(crate) const CANCEL_RECOVERY: &str = "/recovery/cancel";
    pub(crate) const EVENT_HISTORY: &str = "/console/events";
    pub(crate) const CONFIRM_NEW_EMAIL: &str = "/account/email/confirm";
    pub(crate) const REVERT_CONTACT_CHANGE: &str = "/account/contact/revert";
    /// The OpenID Connect authorization endpoint: a sign-in that continues there ends at an
    /// application's redirect URI.
    pub(crate) const OIDC_AUTHORIZE: &str = "/oidc/authorize";
}

/// Absolute links under the public URL, for the service's emails.
#[derive(Debug, Clone)]
pub struct WebLinks {
    /// The public URL without a trailing slash.
    base: String,
}

impl WebLinks {
    pub fn new(public_url: &url::Url) -> Self {
        Self {
            base: public_url.as_str().trim_end_matches('/').to_owned(),
        }
    }
}

impl Links for WebLinks {
    fn url(&self, link: Link<'_>) -> String {
        let (path, token) = match link {
            Link::SignIn => (paths::SIGN_IN, None),
            Link::ForgotPassword => (paths::FORGOT_PASSWORD, None),
            Link::VerifySignUp { token } => (paths::VERIFY_SIGN_UP, Some(token)),
            Link::ResetPassword { token } => (paths::RESET_PASSWORD, Some(token)),
            Link::RecoveryEmail { token } => (paths::RECOVERY_EMAIL, Some(token)),
            Link::CancelRecovery { token } => (paths::CANCEL_RECOVERY, Some(token)),
            Link::ConfirmNewEmail { token } => (paths::CONFIRM_NEW_EMAIL, Some(token)),
            Link::RevertContactChange { token } => (paths::REVERT_CONTACT_CHANGE, Some(token)),
            Link::EventHistory => (paths::EVENT_HISTORY, None),
        };
        match token {
            // Tokens are URL-safe base64 or hex; encoding keeps a link whole whatever they are.
            Some(token) => format!(
                "{}{path}?token={}",
                self.base,
                url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
            ),
            None => format!("{}{path}", self.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_under_the_public_url_with_their_token() {
        let links = WebLinks::new(&url::Url::parse("https://id.example.com/").unwrap());
        assert_eq!(links.url(Link::SignIn), "https://id.example.com/signin");
        assert_eq!(
            links.url(Link::ResetPassword { token: "abc_-9" }),
            "https://id.example.com/password/reset?token=abc_-9"
        );
        assert_eq!(
            links.url(Link::CancelRecovery { token: "a+b/c" }),
            "https://id.example.com/recovery/cancel?token=a%2Bb%2Fc"
        );
        assert_eq!(
            links.url(Link::EventHistory),
            "https://id.example.com/console/events"
        );
    }
}
