//! Email over SMTP with lettre, configured by one URL:
//! `smtp://host:port` (plain, for a local relay), `smtp://user:pass@host:587?tls=required`
//! (STARTTLS) or `smtps://user:pass@host:465` (implicit TLS).

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use latchkey_service::{EmailSender, OutgoingEmail, SendError};

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error(
        "LATCHKEY_SMTP_URL is not a valid SMTP URL ({0}); expected smtp://host:port, smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465"
    )]
    Url(String),
    #[error(
        "LATCHKEY_MAIL_FROM is not a valid mailbox ({0}); expected an address such as latchkey@example.com or \"latchkey <latchkey@example.com>\""
    )]
    From(String),
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    described: String,
}

impl SmtpSender {
    pub fn new(url: &str, from: &str) -> Result<Self, SmtpConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| SmtpConfigError::Url(e.to_string()))?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
            return Err(SmtpConfigError::Url(
                "scheme must be smtp or smtps, with a host".to_owned(),
            ));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From(e.to_string()))?;
        // The password never reaches a log.
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        Ok(Self {
            transport,
            from,
            described: shown.to_string(),
        })
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail, _delivery_id: i64) -> Result<(), SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                SendError::Permanent(format!("bad recipient: {e}"))
            })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_senders_are_refused_with_the_setting_named() {
        let err = SmtpSender::new("http://mail.example.com", "a@example.com")
            .err()
            .unwrap();
        assert!(err.to_string().contains("LATCHKEY_SMTP_URL"));
        let err = SmtpSender::new("smtp://127.0.0.1:2525", "not an address")
            .err()
            .unwrap();
        assert!(err.to_string().contains("LATCHKEY_MAIL_FROM"));
    }

    #[test]
    fn the_password_is_hidden_in_the_description() {
        let sender =
            SmtpSender::new("smtp://user:hunter2@127.0.0.1:2525", "a@example.com").unwrap();
        assert!(!sender.describe().contains("hunter2"));
        assert!(sender.describe().contains("127.0.0.1:2525"));
    }
}
