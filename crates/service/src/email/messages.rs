//! The emails latchkey sends, as typed variants. A variant holds the facts (names, times,
//! links); the words live in the templates: `email/subject.txt` for every subject,
//! `email/notice_body.txt` for what a security notice says, and a text and an HTML template
//! for every email's layout.

use askama::Template;
use latchkey_domain::mfa::DeviceKind;

use super::OutgoingEmail;

/// An email to an account's owner.
#[derive(Clone, PartialEq, Eq)]
pub enum Email {
    /// The sign-up link. It names the phone number (masked) the account will be tied to:
    /// whoever signs up with someone else's address and their own phone would have the
    /// account if the owner of the address followed the link, so the owner must be able to
    /// see it is not theirs.
    VerifyEmail { phone: String, link: String },
    /// `Forgot password?`: the reset link.
    ResetPassword { link: String },
    /// The password was changed (by reset or on Security credentials); `link` undoes it.
    PasswordChanged {
        when: String,
        client_addr: String,
        link: String,
        /// The account's event history.
        history: String,
    },
    /// A security notice: what happened, when, from where, where to sign in, and the
    /// account's event history (`history`), where the owner sees everything else that
    /// happened.
    Notice {
        notice: Notice,
        when: String,
        client_addr: String,
        link: String,
        history: String,
    },
}

/// What a security notice reports.
#[derive(Clone, PartialEq, Eq)]
pub enum Notice {
    DeviceAdded(AddedDevice),
    /// `last`: the account has no MFA device left.
    DeviceRemoved {
        name: String,
        last: bool,
    },
    /// The device's clock is `drift_seconds` ahead of latchkey's (behind when negative).
    DeviceResynced {
        name: String,
        drift_seconds: i64,
    },
    /// The right password, then a code that had been used already.
    ReusedCode,
    /// Someone tried to sign up with the owner's address.
    SignUpWithTakenEmail,
    /// The recovery flow's email verification link.
    RecoveryEmail {
        link: String,
    },
    /// A recovery flow began; `cancel` is its `This wasn't me` link.
    RecoveryStarted {
        cancel: String,
    },
    /// A recovery flow signed in; `cancel` is its `This wasn't me` link.
    RecoverySignedIn {
        cancel: String,
    },
    /// The owner pressed `This wasn't me` for the flow that began at `started`.
    RecoveryReported {
        started: String,
        started_from: String,
    },
    /// An operator lifted the block `This wasn't me` placed at `blocked_at`.
    OperatorUnblocked {
        at: String,
        blocked_at: String,
        reason: String,
    },
    /// An operator removed every MFA device (`blocked`: and lifted a recovery block).
    OperatorReset {
        at: String,
        devices: Vec<ResetDevice>,
        blocked: bool,
        reason: String,
    },
    /// To a new email address: `link` confirms it replaces `old` (masked).
    ConfirmNewEmail {
        old: String,
        link: String,
    },
    /// To the old address: the account's address is now `new` (masked); `revert` puts it
    /// back, signs out everywhere and cancels pending contact changes.
    EmailChanged {
        new: String,
        revert: String,
    },
    /// To the account's address: the phone number is now `new` (masked) instead of `old`.
    PhoneChanged {
        old: String,
        new: String,
        revert: String,
    },
    /// `This wasn't me` on a contact change: what was put back (`phone` masked), how many
    /// devices added since were removed; the password was disabled, everyone signed out.
    ContactsRestored {
        email: Option<String>,
        phone: Option<String>,
        devices_removed: usize,
    },
    /// `failures` wrong passwords or codes in a row from unknown sources (or from one known
    /// device) made further attempts from there wait, or (`locked`) stopped them until a
    /// password reset.
    Throttled {
        failures: u32,
        locked: bool,
        known_device: bool,
    },
    /// An operator disabled the account at `at`: every session ended, sign-in refused.
    AccountDisabled {
        at: String,
        reason: String,
    },
    /// An operator enabled the account again at `at`.
    AccountEnabled {
        at: String,
        reason: String,
    },
}

impl std::fmt::Debug for Email {
    // Links carry live tokens; they never go to a log. The subject says which email it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Email").field(&self.subject()).finish()
    }
}

impl std::fmt::Debug for Notice {
    // Some notices carry a live link (`This wasn't me`, the email verification).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::DeviceAdded(_) => "DeviceAdded",
            Self::DeviceRemoved { .. } => "DeviceRemoved",
            Self::DeviceResynced { .. } => "DeviceResynced",
            Self::ReusedCode => "ReusedCode",
            Self::SignUpWithTakenEmail => "SignUpWithTakenEmail",
            Self::RecoveryEmail { .. } => "RecoveryEmail",
            Self::RecoveryStarted { .. } => "RecoveryStarted",
            Self::RecoverySignedIn { .. } => "RecoverySignedIn",
            Self::RecoveryReported { .. } => "RecoveryReported",
            Self::OperatorUnblocked { .. } => "OperatorUnblocked",
            Self::OperatorReset { .. } => "OperatorReset",
            Self::ConfirmNewEmail { .. } => "ConfirmNewEmail",
            Self::EmailChanged { .. } => "EmailChanged",
            Self::PhoneChanged { .. } => "PhoneChanged",
            Self::ContactsRestored { .. } => "ContactsRestored",
            Self::Throttled { .. } => "Throttled",
            Self::AccountDisabled { .. } => "AccountDisabled",
            Self::AccountEnabled { .. } => "AccountEnabled",
        };
        f.write_str(kind)
    }
}

/// The device a [`Notice::DeviceAdded`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedDevice {
    Virtual { name: String },
    SecurityKey { name: String },
    HardwareToken { serial: String, name: String },
}

/// A device an operator's reset removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetDevice {
    pub name: String,
    pub kind: DeviceKind,
    pub serial: Option<String>,
}

impl ResetDevice {
    /// The kind in the owner's words.
    fn kind_words(&self) -> &'static str {
        match self.kind {
            DeviceKind::Virtual => "virtual MFA device",
            DeviceKind::Hardware => "hardware TOTP token",
            DeviceKind::SecurityKey => "security key",
        }
    }
}

#[derive(Template)]
#[template(path = "email/subject.txt")]
struct Subject<'a> {
    email: &'a Email,
}

#[derive(Template)]
#[template(path = "email/notice_body.txt")]
struct NoticeBody<'a> {
    notice: &'a Notice,
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
    history: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_changed.html")]
struct PasswordChangedHtml<'a> {
    subject: &'a str,
    name: &'a str,
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
    history: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    name: &'a str,
    paragraphs: &'a [String],
    when: &'a str,
    client_addr: &'a str,
    link: &'a str,
    history: &'a str,
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
    history: &'a str,
}

#[expect(clippy::expect_used, reason = "email template renders")]
fn render(template: &impl Template) -> String {
    // Templates are compiled in; rendering into a String can only fail on a formatting bug.
    template.render().expect("email template renders")
}

/// The paragraphs of a rendered body: runs of non-blank lines, each joined into one line, so
/// the template can wrap a sentence and put its tags on lines of their own.
fn paragraphs(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

impl Email {
    /// The subject line.
    pub fn subject(&self) -> String {
        render(&Subject { email: self }).trim().to_owned()
    }

    /// The email to `to`, greeting the account `name`, as text and HTML.
    pub fn render(&self, to: &str, name: &str) -> OutgoingEmail {
        let subject = self.subject();
        let (text, html) = match self {
            Self::VerifyEmail { phone, link } => (
                render(&VerifyEmailText { name, phone, link }),
                render(&VerifyEmailHtml {
                    subject: &subject,
                    name,
                    phone,
                    link,
                }),
            ),
            Self::ResetPassword { link } => (
                render(&ResetPasswordText { name, link }),
                render(&ResetPasswordHtml {
                    subject: &subject,
                    name,
                    link,
                }),
            ),
            Self::PasswordChanged {
                when,
                client_addr,
                link,
                history,
            } => (
                render(&PasswordChangedText {
                    name,
                    when,
                    client_addr,
                    link,
                    history,
                }),
                render(&PasswordChangedHtml {
                    subject: &subject,
                    name,
                    when,
                    client_addr,
                    link,
                    history,
                }),
            ),
            Self::Notice {
                notice,
                when,
                client_addr,
                link,
                history,
            } => {
                let paragraphs = &paragraphs(&render(&NoticeBody { notice }));
                (
                    render(&NoticeText {
                        name,
                        paragraphs,
                        when,
                        client_addr,
                        link,
                        history,
                    }),
                    render(&NoticeHtml {
                        subject: &subject,
                        name,
                        paragraphs,
                        when,
                        client_addr,
                        link,
                        history,
                    }),
                )
            }
        };
        OutgoingEmail {
            to: to.to_owned(),
            subject,
            text,
            html,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(notice: Notice) -> OutgoingEmail {
        Email::Notice {
            notice,
            when: "2027-01-15 08:00".to_owned(),
            client_addr: "203.0.113.9".to_owned(),
            link: "https://x/signin".to_owned(),
            history: "https://x/console/events".to_owned(),
        }
        .render("a@example.com", "Acme")
    }

    #[test]
    fn html_part_escapes_names_and_text_part_keeps_them() {
        let mail = Email::VerifyEmail {
            phone: "+**********58".to_owned(),
            link: "https://x/verify?token=abc".to_owned(),
        }
        .render("a@example.com", "<b>Acme</b>");
        assert_eq!(mail.subject, "Verify your email address for latchkey");
        assert!(mail.html.contains("&#60;b&#62;Acme") || mail.html.contains("&lt;b&gt;Acme"));
        assert!(mail.text.contains("<b>Acme</b>"));
        assert!(mail.text.contains("https://x/verify?token=abc"));
        assert!(!format!("{mail:?}").contains("token=abc"));
        // The owner of the address can see whose phone the account would be tied to.
        assert!(mail.text.contains("+**********58") && mail.html.contains("+**********58"));
    }

    #[test]
    fn reset_email_says_mfa_stays_on() {
        let email = Email::ResetPassword {
            link: "https://x/reset?token=abc".to_owned(),
        };
        // Links are live credentials: a log line of the message never shows one.
        assert!(!format!("{email:?}").contains("token=abc"));
        let notice = Notice::RecoveryStarted {
            cancel: "https://x/recovery/cancel?token=abc".to_owned(),
        };
        assert!(!format!("{notice:?}").contains("token=abc"));
        assert!(!format!("{:?}", crate::Link::ResetPassword { token: "abc" }).contains("abc"));
        let mail = email.render("a@example.com", "Acme");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("does not turn off multi-factor authentication"));
        }
    }

    #[test]
    fn the_password_changed_email_undoes_and_leads_to_the_history() {
        let mail = Email::PasswordChanged {
            when: "2027-01-15 08:00".to_owned(),
            client_addr: "203.0.113.9".to_owned(),
            link: "https://x/password/forgot".to_owned(),
            history: "https://x/console/events".to_owned(),
        }
        .render("a@example.com", "Acme");
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("https://x/password/forgot"), "{part}");
            assert!(part.contains("https://x/console/events"), "{part}");
            assert!(part.contains("203.0.113.9"), "{part}");
        }
    }

    #[test]
    fn every_notice_has_a_subject_and_words_in_both_parts() {
        let device = |kind, serial: Option<&str>| ResetDevice {
            name: "Phone <1>".to_owned(),
            kind,
            serial: serial.map(str::to_owned),
        };
        let all = [
            Notice::DeviceAdded(AddedDevice::Virtual {
                name: "Phone <1>".to_owned(),
            }),
            Notice::DeviceAdded(AddedDevice::SecurityKey {
                name: "Phone <1>".to_owned(),
            }),
            Notice::DeviceAdded(AddedDevice::HardwareToken {
                serial: "GALT1".to_owned(),
                name: "Phone <1>".to_owned(),
            }),
            Notice::DeviceRemoved {
                name: "Phone <1>".to_owned(),
                last: true,
            },
            Notice::DeviceResynced {
                name: "Phone <1>".to_owned(),
                drift_seconds: -60,
            },
            Notice::ReusedCode,
            Notice::SignUpWithTakenEmail,
            Notice::RecoveryEmail {
                link: "https://x/recovery/email?token=t".to_owned(),
            },
            Notice::RecoveryStarted {
                cancel: "https://x/recovery/cancel?token=c".to_owned(),
            },
            Notice::RecoverySignedIn {
                cancel: "https://x/recovery/cancel?token=c".to_owned(),
            },
            Notice::RecoveryReported {
                started: "2027-01-15 07:55".to_owned(),
                started_from: "198.51.100.7".to_owned(),
            },
            Notice::OperatorUnblocked {
                at: "2027-01-15 08:00".to_owned(),
                blocked_at: "2027-01-14 08:00".to_owned(),
                reason: "ticket <42>".to_owned(),
            },
            Notice::OperatorReset {
                at: "2027-01-15 08:00".to_owned(),
                devices: vec![
                    device(DeviceKind::Hardware, Some("GALT1")),
                    device(DeviceKind::SecurityKey, None),
                ],
                blocked: true,
                reason: "ticket <42>".to_owned(),
            },
            Notice::ConfirmNewEmail {
                old: "a***@example.com".to_owned(),
                link: "https://x/account/email/confirm?token=t".to_owned(),
            },
            Notice::EmailChanged {
                new: "n***@example.com".to_owned(),
                revert: "https://x/account/contact/revert?token=r".to_owned(),
            },
            Notice::PhoneChanged {
                old: "+**********58".to_owned(),
                new: "+**********71".to_owned(),
                revert: "https://x/account/contact/revert?token=r".to_owned(),
            },
            Notice::ContactsRestored {
                email: Some("owner@example.com".to_owned()),
                phone: Some("+**********58".to_owned()),
                devices_removed: 1,
            },
            Notice::Throttled {
                failures: 5,
                locked: false,
                known_device: false,
            },
            Notice::Throttled {
                failures: 100,
                locked: true,
                known_device: true,
            },
            Notice::AccountDisabled {
                at: "2027-01-15 08:00".to_owned(),
                reason: "ticket <42>".to_owned(),
            },
            Notice::AccountEnabled {
                at: "2027-01-15 09:00".to_owned(),
                reason: "ticket <42>".to_owned(),
            },
        ];
        let mut subjects = std::collections::BTreeSet::new();
        for notice_kind in all {
            let mail = notice(notice_kind.clone());
            assert!(mail.subject.contains("latchkey"), "{notice_kind:?}");
            assert!(!mail.subject.contains('\n'), "{notice_kind:?}");
            subjects.insert(mail.subject.clone());
            let body = paragraphs(&render(&NoticeBody {
                notice: &notice_kind,
            }));
            assert!(!body.is_empty(), "{notice_kind:?} says nothing");
            for paragraph in &body {
                // The text part has each paragraph whole; the HTML part has it escaped.
                assert!(mail.text.contains(paragraph.as_str()), "{notice_kind:?}");
                let escaped = paragraph
                    .replace('&', "&#38;")
                    .replace('<', "&#60;")
                    .replace('>', "&#62;")
                    .replace('\'', "&#39;");
                assert!(mail.html.contains(&escaped), "{notice_kind:?}: {paragraph}");
            }
            assert!(mail.text.contains("203.0.113.9") && mail.html.contains("203.0.113.9"));
            // Every notice leads to the event history, in both parts.
            assert!(
                mail.text.contains("https://x/console/events")
                    && mail.html.contains("href=\"https://x/console/events\""),
                "{notice_kind:?}"
            );
        }
        // Added devices share a subject; every other notice has its own.
        assert_eq!(subjects.len(), 19);
    }

    #[test]
    fn notices_say_what_their_facts_are() {
        let removed = notice(Notice::DeviceRemoved {
            name: "Phone".to_owned(),
            last: true,
        });
        assert!(removed.text.contains("The MFA device “Phone” was removed"));
        assert!(removed.text.contains("no longer protected by MFA"));
        let kept = notice(Notice::DeviceRemoved {
            name: "Phone".to_owned(),
            last: false,
        });
        assert!(!kept.text.contains("no longer protected by MFA"));
        for (drift, words) in [
            (0, "its clock is in step with latchkey's"),
            (-60, "about 60 seconds behind latchkey's"),
            (30, "about 30 seconds ahead of latchkey's"),
        ] {
            let mail = notice(Notice::DeviceResynced {
                name: "Phone".to_owned(),
                drift_seconds: drift,
            });
            assert!(mail.text.contains(words), "{drift}: {}", mail.text);
        }
        let reset = notice(Notice::OperatorReset {
            at: "2027-01-15 08:00".to_owned(),
            devices: vec![],
            blocked: false,
            reason: "lost phone".to_owned(),
        });
        assert!(
            reset
                .text
                .contains("signed out every session of your account (it had no MFA devices)")
        );
        assert!(!reset.text.contains("old password was disabled"));
    }

    #[test]
    fn paragraphs_are_runs_of_lines() {
        assert_eq!(
            paragraphs("\n  one\n two \n\n\n three\n"),
            vec!["one two".to_owned(), "three".to_owned()]
        );
        assert!(paragraphs("\n \n").is_empty());
    }
}
