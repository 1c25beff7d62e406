//! Emails latchkey sends, and the port that delivers them.
//!
//! Use cases never send: they render an [`OutgoingEmail`] and queue it, sealed, in the same
//! transaction as the change it reports (see `outbox`). A worker hands it to an
//! [`EmailSender`] later, and retries when delivery fails.

use askama::Template;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A rendered email: a plain-text part and an HTML part with the same content.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // Bodies carry live links; they never go to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the server was unreachable or answered with a transient error.
    #[error("temporary delivery failure: {0}")]
    Temporary(String),
    /// Will never succeed as it is (the address was refused, the message is malformed).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// Delivers an email. `delivery_id` is stable across retries of one message, so a sender
/// that can deduplicate (the built-in mailbox) files it once.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, email: &OutgoingEmail, delivery_id: i64) -> Result<(), SendError>;
    /// A short name for start-up logs: "smtp://mail.example.com:587", "built-in mailbox".
    fn describe(&self) -> String;
}

#[derive(Template)]
#[template(path = "email/verify_email.txt")]
struct VerifyEmailText<'a> {
    name: &'a str,
    phone: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/verify_email.html")]
struct VerifyEmailHtml<'a> {
    subject: &'a str,
    name: &'a str,
    phone: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/reset_password.txt")]
struct ResetPasswordText<'a> {
    name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/reset_password.html")]
struct ResetPasswordHtml<'a> {
    subject: &'a str,
    name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_changed.txt")]
struct PasswordChangedText<'a> {
    name: &'a str,
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_changed.html")]
struct PasswordChangedHtml<'a> {
    subject: &'a str,
    name: &'a str,
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    name: &'a str,
    paragraphs: &'a [String],
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    subject: &'a str,
    name: &'a str,
    paragraphs: &'a [String],
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
}

/// What happened, for a security notice: the subject and a few sentences.
#[derive(Debug, Clone)]
pub struct Notice {
    pub subject: String,
    pub paragraphs: Vec<String>,
}

/// A security notice to the account's email: an MFA change, a reused code, a recovery.
pub fn security_notice(
    to: &str,
    name: &str,
    notice: &Notice,
    when: &str,
    client_addr: &str,
    link: &str,
) -> OutgoingEmail {
    let paragraphs = &notice.paragraphs;
    OutgoingEmail {
        to: to.to_owned(),
        subject: notice.subject.clone(),
        text: render(&NoticeText {
            name,
            paragraphs,
            when,
            client_addr,
            link,
        }),
        html: render(&NoticeHtml {
            subject: &notice.subject,
            name,
            paragraphs,
            when,
            client_addr,
            link,
        }),
    }
}

#[expect(clippy::expect_used, reason = "email template renders")]
fn render(template: &impl Template) -> String {
    // Templates are compiled in; rendering into a String can only fail on a formatting bug.
    template.render().expect("email template renders")
}

/// The sign-up link. It names the phone number (masked) the account will be tied to: whoever
/// signs up with someone else's address and their own phone would have the account if the
/// owner of the address followed the link, so the owner must be able to see it is not theirs.
pub fn verify_email(to: &str, name: &str, phone: &str, link: &str) -> OutgoingEmail {
    let subject = "Verify your email address for latchkey";
    OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: render(&VerifyEmailText { name, phone, link }),
        html: render(&VerifyEmailHtml {
            subject,
            name,
            phone,
            link,
        }),
    }
}

pub fn reset_password(to: &str, name: &str, link: &str) -> OutgoingEmail {
    let subject = "Reset your latchkey password";
    OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: render(&ResetPasswordText { name, link }),
        html: render(&ResetPasswordHtml {
            subject,
            name,
            link,
        }),
    }
}

pub fn password_changed(
    to: &str,
    name: &str,
    when: &str,
    client_addr: &str,
    link: &str,
) -> OutgoingEmail {
    let subject = "Your latchkey password was changed";
    OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: render(&PasswordChangedText {
            name,
            when,
            client_addr,
            link,
        }),
        html: render(&PasswordChangedHtml {
            subject,
            name,
            when,
            client_addr,
            link,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_part_escapes_names_and_text_part_keeps_them() {
        let mail = verify_email(
            "a@example.com",
            "<b>Acme</b>",
            "+**********58",
            "https://x/verify?token=abc",
        );
        assert!(mail.html.contains("&#60;b&#62;Acme") || mail.html.contains("&lt;b&gt;Acme"));
        assert!(mail.text.contains("<b>Acme</b>"));
        assert!(mail.text.contains("https://x/verify?token=abc"));
        assert!(!format!("{mail:?}").contains("token=abc"));
        // The owner of the address can see whose phone the account would be tied to.
        assert!(mail.text.contains("+**********58") && mail.html.contains("+**********58"));
    }

    #[test]
    fn reset_email_says_mfa_stays_on() {
        let mail = reset_password("a@example.com", "Acme", "https://x/reset?token=abc");
        assert!(
            mail.text
                .contains("does not turn off multi-factor authentication")
        );
        assert!(
            mail.html
                .contains("does not turn off multi-factor authentication")
        );
    }
}
