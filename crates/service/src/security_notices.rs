//! The emails that tell the owner a security setting changed, and what a device activation
//! commits with the device. One place, so every change says the same things: what happened,
//! when, from where, and where to sign in.

use latchkey_domain::{AuditEvent, AuditOutcome};

use crate::email::{self, Notice};
use crate::store::{AccountRecord, NewDevice};
use crate::{RequestContext, Service};

impl Service {
    /// What every kind of device activation commits with the device: the owner's notice
    /// (`what` says which device) and the audit record.
    pub(crate) fn device_added_effects(
        &self,
        account: &AccountRecord,
        device: &NewDevice,
        what: String,
        ctx: &RequestContext,
    ) -> (crate::store::NewOutboxMessage, crate::AuditRecord) {
        let notice = Notice {
            subject: "An MFA device was added to your latchkey account".to_owned(),
            paragraphs: vec![what],
        };
        let mail = self.notice_email(account, &notice, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::MfaActivated,
            AuditOutcome::Success,
            device.id.as_str(),
        );
        (self.outbox.email(&mail, device.created_at), audit)
    }

    pub(crate) fn notice_email(
        &self,
        account: &AccountRecord,
        notice: &Notice,
        ctx: &RequestContext,
    ) -> crate::OutgoingEmail {
        email::security_notice(
            account.email.as_str(),
            &account.name,
            notice,
            &crate::password_reset::format_time(self.clock.now()),
            &ctx.client_addr,
            &self.link("/signin"),
        )
    }
}
