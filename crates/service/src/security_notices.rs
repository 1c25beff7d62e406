//! The emails that tell the owner a security setting changed, and what a device activation
//! commits with the device. One place, so every change says the same things: what happened,
//! when, from where, and where to sign in.

use latchkey_domain::{AuditEvent, AuditOutcome};

use crate::email::{AddedDevice, Email, Notice};
use crate::store::{AccountRecord, NewDevice};
use crate::{RequestContext, Service};

impl Service {
    /// What every kind of device activation commits with the device: the owner's notice
    /// (`what` says which device) and the audit record.
    pub(crate) fn device_added_effects(
        &self,
        account: &AccountRecord,
        device: &NewDevice,
        what: AddedDevice,
        ctx: &RequestContext,
    ) -> (crate::store::NewOutboxMessage, crate::AuditRecord) {
        let mail = self.notice_email(account, Notice::DeviceAdded(what), ctx);
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
        notice: Notice,
        ctx: &RequestContext,
    ) -> crate::OutgoingEmail {
        Email::Notice {
            notice,
            when: crate::password_reset::format_time(self.clock.now()),
            client_addr: ctx.client_addr.clone(),
            link: self.link(crate::Link::SignIn),
            history: self.link(crate::Link::EventHistory),
        }
        .render(account.email.as_str(), &account.name)
    }
}
