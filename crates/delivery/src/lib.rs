//! Getting queued messages out: the outbox worker and the email senders.
//!
//! The worker is the only reader of the outbox. It leases due messages, opens them, hands
//! them to the configured [`EmailSender`](latchkey_service::EmailSender) and records the
//! result: delivered (payload erased), retry later with back-off, or given up. Leases make
//! this safe with several instances and across crashes: a message whose worker died is
//! picked up again when its lease runs out.

mod dev_mailbox;
mod dev_phone;
mod smtp;
mod twilio;
mod worker;

pub use dev_mailbox::DevMailbox;
pub use dev_phone::DevPhone;
pub use smtp::{SmtpConfigError, SmtpSender};
pub use twilio::{TwilioCaller, TwilioConfig};
pub use worker::{OutboxWorker, RetryPolicy};
