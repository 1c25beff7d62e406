//! `Manage` → `Remove`: the device kept as a record, the sessions it authorised ended.

use latchkey_domain::{AuditEvent, AuditOutcome};

use super::Removal;
use crate::email::Notice;
use crate::error::ServiceError;
use crate::sessions::CurrentSession;
use crate::{RequestContext, Service};

impl Service {
    /// `Manage` → `Remove`. Removing the last device is allowed (the owner may be replacing
    /// it) and said plainly, on the page and in the notice.
    pub async fn remove_device(
        &self,
        session: &CurrentSession,
        device_id: &str,
        password: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Removal, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::RemoveDevice,
        )?;
        let account = self.account_for(session).await?;
        let devices = self.store.mfa_devices(&account.id).await?;
        let Some(device) = devices.iter().find(|d| d.id == device_id) else {
            return Err(ServiceError::LinkInvalid);
        };
        self.check_reauthentication(session, &account, password, ctx)
            .await?;
        let now = self.clock.now();
        let last = devices.len() == 1;
        let notice = Notice::DeviceRemoved {
            name: device.name.clone(),
            last,
        };
        let mail = self.notice_email(&account, notice, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::MfaRemoved,
            AuditOutcome::Success,
            device.id.as_str(),
        );
        match self
            .store
            .remove_device(
                &account.id,
                &device.id,
                &session.token_hash,
                now,
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await?
        {
            Some(remaining) => {
                self.outbox.wake();
                Ok(Removal {
                    remaining,
                    signed_out: session
                        .mfa_device_id
                        .as_ref()
                        .is_some_and(|id| *id == device_id),
                })
            }
            None => Err(ServiceError::LinkInvalid),
        }
    }
}
