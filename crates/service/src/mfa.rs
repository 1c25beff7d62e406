//! MFA devices on Security credentials: activating a virtual device, resyncing, removing —
//! and the notices each change sends to the account's email.
//!
//! Seeds are 160 random bits, sealed with a key derived from the server key and bound to the
//! device (or enrolment) id, so a copied row opens nowhere else. Enrolment keeps its seed
//! server-side: the page only carries the enrolment id, and a stale or replayed page cannot
//! create a second device.

use latchkey_domain::lockout::Settle;
use latchkey_domain::mfa::{
    DEVICE_FAILURE_LIMIT, DeviceKind, ENROLMENT_LIFETIME, MAX_DEVICES, needs_reauthentication,
    parse_device_name,
};
use latchkey_domain::totp::{self, Code, TotpParams};
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, Timestamp};

use crate::email::{self, Notice};
use crate::error::{FieldError, ServiceError};
use crate::secrets::{OpenError, random_bytes};
use crate::sessions::CurrentSession;
use crate::store::{
    AccountRecord, AssignOutcome, AttemptReservation, DeviceRecord, NewDevice, NewEnrollment,
    Reservation, ThrottleKey,
};
use crate::throttle::PasswordCheck;
use crate::{RequestContext, Service};

/// The issuer shown by authenticator apps next to the account.
pub const ISSUER: &str = "latchkey";

/// A device as the console and the API show it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub id: String,
    pub kind: DeviceKind,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The serial number of a hardware token.
    pub serial: Option<String>,
}

impl From<&DeviceRecord> for DeviceView {
    fn from(d: &DeviceRecord) -> Self {
        Self {
            id: d.id.clone(),
            kind: d.kind,
            name: d.name.clone(),
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            serial: d.serial.clone(),
        }
    }
}

impl From<&NewDevice> for DeviceView {
    fn from(d: &NewDevice) -> Self {
        Self {
            id: d.id.clone(),
            kind: d.kind,
            name: d.name.clone(),
            created_at: d.created_at,
            last_used_at: None,
            serial: d.serial.clone(),
        }
    }
}

/// A pending virtual-device enrolment, with what the set-up page shows.
#[derive(Clone)]
pub struct EnrollmentView {
    pub id: String,
    pub secret_base32: String,
    pub key_uri: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for EnrollmentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentView")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What `Assign MFA` submits.
#[derive(Debug, Clone, Copy)]
pub struct AssignRequest<'a> {
    pub name: &'a str,
    pub code1: &'a str,
    pub code2: &'a str,
    /// Needed when the session is not recent (see `needs_reauthentication`).
    pub password: Option<&'a str>,
}

/// The outcome of removing a device.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub remaining: usize,
    /// The session that asked was authorised by the removed device, and is now signed out.
    pub signed_out: bool,
}

pub(crate) fn device_context(id: &str) -> Vec<u8> {
    format!("device\0{id}").into_bytes()
}

fn enrollment_context(id: &str) -> Vec<u8> {
    format!("enrollment\0{id}").into_bytes()
}

fn new_id(prefix: &str) -> String {
    let bytes = random_bytes::<10>();
    format!("{prefix}-{}", totp::base32(&bytes).to_lowercase())
}

fn parse_codes(first: &str, second: &str, digits: u32) -> Result<(Code, Code), ServiceError> {
    let mut problems = Vec::new();
    let a = Code::parse(first, digits)
        .map_err(|e| problems.push(FieldError::new("code1", e)))
        .ok();
    let b = Code::parse(second, digits)
        .map_err(|e| problems.push(FieldError::new("code2", e)))
        .ok();
    match (a, b) {
        (Some(a), Some(b)) if problems.is_empty() => {
            if first.trim() == second.trim() {
                return Err(ServiceError::field(
                    "code2",
                    "Enter two different codes: wait for the device to show the next code, then enter it as MFA code 2.",
                ));
            }
            Ok((a, b))
        }
        _ => Err(ServiceError::Invalid(problems)),
    }
}

const NOT_CONSECUTIVE: &str = "These are not two consecutive codes from this device. Wait for a new code, then enter it and the one after it.";

impl Service {
    pub async fn devices(&self, account: &AccountId) -> Result<Vec<DeviceView>, ServiceError> {
        Ok(self
            .store
            .mfa_devices(account)
            .await?
            .iter()
            .map(DeviceView::from)
            .collect())
    }

    /// Whether this session must give its password again before adding or removing a device.
    pub fn needs_reauthentication(&self, session: &CurrentSession) -> bool {
        needs_reauthentication(session.authenticated_at, self.clock.now())
    }

    async fn account_for(&self, session: &CurrentSession) -> Result<AccountRecord, ServiceError> {
        self.store
            .account_by_id(&session.account_id)
            .await?
            .ok_or_else(|| ServiceError::Conflict("The account no longer exists.".to_owned()))
    }

    /// Checks the password when the session is not recent enough to change factors. The
    /// check is throttled, counted and audited like a sign-in (on this client's counter), so
    /// this form is no password oracle for whoever holds an old session.
    pub(crate) async fn check_reauthentication(
        &self,
        session: &CurrentSession,
        account: &AccountRecord,
        password: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        if !self.needs_reauthentication(session) {
            return Ok(());
        }
        let password = password.unwrap_or_default();
        if password.is_empty() {
            return Err(ServiceError::field(
                "password",
                "Enter your password to confirm this change.",
            ));
        }
        self.confirm_password(
            account,
            password,
            "password",
            AuditEvent::Reauthentication,
            ctx,
        )
        .await
    }

    /// A password typed again by a signed-in person (re-authentication, `Change password`):
    /// reserved, checked, audited as `event`, refunded when right. `field` names the input
    /// for the error.
    pub(crate) async fn confirm_password(
        &self,
        account: &AccountRecord,
        password: &str,
        field: &'static str,
        event: AuditEvent,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        latchkey_domain::password::check_length(password)
            .map_err(|e| ServiceError::field(field, e))?;
        let source = self.source_for(ctx, account);
        let key = self.account_throttle(&account.id, &source);
        let priority = match source {
            latchkey_domain::lockout::Source::KnownDevice { .. } => crate::Priority::KnownDevice,
            latchkey_domain::lockout::Source::Unknown => crate::Priority::Normal,
        };
        let check = self
            .check_password(&key, Some(&account.password_hash), password, priority)
            .await?;
        let (outcome, detail) = match check {
            PasswordCheck::Right => (AuditOutcome::Success, ""),
            PasswordCheck::Wrong => (AuditOutcome::Failure, "wrong_password"),
            PasswordCheck::Refused(admission) => (
                AuditOutcome::Failure,
                PasswordCheck::refusal_detail(admission),
            ),
        };
        let audit = self.audit(ctx, Some(&account.id), event, outcome, detail);
        match check {
            PasswordCheck::Right => {
                self.store.settle_attempt(&key, Settle::Refund).await?;
                self.store.append_audit(&audit).await?;
                Ok(())
            }
            PasswordCheck::Wrong => {
                self.store.append_audit(&audit).await?;
                Err(ServiceError::field(
                    field,
                    if field == "current_password" {
                        "The current password is not correct."
                    } else {
                        "The password is not correct."
                    },
                ))
            }
            PasswordCheck::Refused(_) => {
                self.store.append_audit(&audit).await?;
                Err(ServiceError::field(
                    field,
                    "Too many wrong passwords were entered for this account from here. Wait a while and try again, or reset the password with Forgot password?.",
                ))
            }
        }
    }

    /// `Activate MFA` → `Virtual MFA device` → `Continue`: a new seed, kept server-side.
    pub async fn begin_virtual_enrollment(
        &self,
        session: &CurrentSession,
    ) -> Result<EnrollmentView, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let account = self.account_for(session).await?;
        if self.store.mfa_devices(&account.id).await?.len() >= MAX_DEVICES {
            return Err(ServiceError::Conflict(format!(
                "This account already has {MAX_DEVICES} MFA devices, the most it can have. Remove one before activating another."
            )));
        }
        let now = self.clock.now();
        let id = new_id("enr");
        let secret = random_bytes::<20>();
        self.store
            .create_enrollment(&NewEnrollment {
                id: id.clone(),
                account_id: account.id.clone(),
                kind: DeviceKind::Virtual,
                secret_sealed: self.mfa_sealer.seal(&secret, &enrollment_context(&id)),
                created_at: now,
                expires_at: now + ENROLMENT_LIFETIME,
            })
            .await?;
        Ok(self.enrollment_view(&account, &id, &secret, now + ENROLMENT_LIFETIME))
    }

    fn enrollment_view(
        &self,
        account: &AccountRecord,
        id: &str,
        secret: &[u8],
        expires_at: Timestamp,
    ) -> EnrollmentView {
        EnrollmentView {
            id: id.to_owned(),
            secret_base32: totp::base32(secret),
            key_uri: totp::key_uri(ISSUER, account.email.as_str(), secret, TotpParams::VIRTUAL),
            expires_at,
        }
    }

    /// The set-up page again (a reload): `None` when the enrolment expired or was used.
    pub async fn virtual_enrollment(
        &self,
        session: &CurrentSession,
        id: &str,
    ) -> Result<Option<EnrollmentView>, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let account = self.account_for(session).await?;
        let Some(enrollment) = self
            .store
            .enrollment(id, &account.id, self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        let secret = self.open_secret(&enrollment.secret_sealed, &enrollment_context(id))?;
        Ok(Some(self.enrollment_view(
            &account,
            id,
            &secret,
            enrollment.expires_at,
        )))
    }

    pub(crate) fn open_secret(
        &self,
        sealed: &[u8],
        context: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        self.mfa_sealer.open(sealed, context).map_err(|OpenError| {
            ServiceError::Conflict(
                "This device's secret cannot be read with the current server key.".to_owned(),
            )
        })
    }

    /// `Assign MFA`: two consecutive codes turn the enrolment into a device. Both codes'
    /// steps are consumed, so neither can be used to sign in.
    pub async fn assign_virtual_device(
        &self,
        session: &CurrentSession,
        enrollment_id: &str,
        form: &AssignRequest<'_>,
        ctx: &RequestContext,
    ) -> Result<DeviceView, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let AssignRequest {
            name,
            code1,
            code2,
            password,
        } = *form;
        let account = self.account_for(session).await?;
        let now = self.clock.now();
        let Some(enrollment) = self
            .store
            .enrollment(enrollment_id, &account.id, now)
            .await?
        else {
            return Err(ServiceError::LinkInvalid);
        };
        let mut problems = Vec::new();
        let name = parse_device_name(name)
            .map_err(|e| problems.push(FieldError::new("name", e)))
            .ok();
        let codes = match parse_codes(code1, code2, TotpParams::VIRTUAL.digits) {
            Ok(codes) => Some(codes),
            Err(ServiceError::Invalid(mut more)) => {
                problems.append(&mut more);
                None
            }
            Err(other) => return Err(other),
        };
        let (Some(name), Some((first, second))) = (name, codes) else {
            return Err(ServiceError::Invalid(problems));
        };
        self.check_reauthentication(session, &account, password, ctx)
            .await?;
        let secret = self.open_secret(
            &enrollment.secret_sealed,
            &enrollment_context(enrollment_id),
        )?;
        let Some(later_step) =
            totp::check_enrolment(&secret, TotpParams::VIRTUAL, first, second, now)
        else {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaActivated,
                AuditOutcome::Failure,
                "codes_not_consecutive",
            );
            self.store.append_audit(&audit).await?;
            return Err(ServiceError::field("code1", NOT_CONSECUTIVE));
        };
        let device = NewDevice {
            id: new_id("mfa"),
            account_id: account.id.clone(),
            kind: DeviceKind::Virtual,
            name: name.clone(),
            secret_sealed: Vec::new(),
            params: TotpParams::VIRTUAL,
            last_used_step: later_step,
            created_at: now,
            serial: None,
            added_by: Some(session.token_hash.clone()),
        };
        let device = NewDevice {
            secret_sealed: self.mfa_sealer.seal(&secret, &device_context(&device.id)),
            ..device
        };
        let (mail, audit) =
            self.device_added_effects(&account, &device, format!(
                "The virtual MFA device “{name}” was activated for your account. From now on, signing in asks for a code from it (or from any other MFA device of the account)."
            ), ctx);
        match self
            .store
            .assign_device(enrollment_id, &device, MAX_DEVICES, now, &[mail], &audit)
            .await?
        {
            AssignOutcome::Assigned => {
                self.outbox.wake();
                Ok(DeviceView::from(&device))
            }
            AssignOutcome::LimitReached => Err(ServiceError::Conflict(format!(
                "This account already has {MAX_DEVICES} MFA devices, the most it can have. Remove one before activating another."
            ))),
            AssignOutcome::EnrollmentGone | AssignOutcome::TokenUnavailable => {
                Err(ServiceError::LinkInvalid)
            }
            AssignOutcome::SessionEnded => Err(ServiceError::SignInExpired),
            AssignOutcome::NameTaken => Err(ServiceError::field(
                "name",
                "Another MFA device of this account has this name; choose another.",
            )),
        }
    }

    /// `Manage` → `Resync`: two consecutive codes anywhere within ten minutes record the
    /// device's drift. Throttled like a code at sign-in, on this client's counter.
    pub async fn resync_device(
        &self,
        session: &CurrentSession,
        device_id: &str,
        code1: &str,
        code2: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ResyncDevice,
        )?;
        let account = self.account_for(session).await?;
        let key = self.account_throttle(&account.id, &self.source_for(ctx, &account));
        self.resync(&account, &key, 0, device_id, [code1, code2], ctx)
            .await
    }

    /// Resync under throttling: the attempt is reserved on `key` (see `reserve`'s `judged`)
    /// and on the device before the codes are checked.
    pub(crate) async fn resync(
        &self,
        account: &AccountRecord,
        key: &ThrottleKey,
        judged: u32,
        device_id: &str,
        [code1, code2]: [&str; 2],
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let devices = self.store.mfa_devices(&account.id).await?;
        let Some(device) = devices
            .iter()
            .find(|d| d.id == device_id && d.kind.uses_codes())
        else {
            return Err(ServiceError::field(
                "device",
                "Choose one of the account's MFA devices.",
            ));
        };
        let (first, second) = parse_codes(code1, code2, device.params.digits)?;
        let now = self.clock.now();
        let reservation = self
            .store
            .reserve_attempt(
                &AttemptReservation {
                    key,
                    judged,
                    device: Some((&account.id, &device.id)),
                    device_limit: DEVICE_FAILURE_LIMIT,
                },
                &self.config.lockout,
                now,
            )
            .await?;
        let refused = match reservation {
            Reservation::Reserved => None,
            Reservation::Refused(admission) => Some(PasswordCheck::refusal_detail(admission)),
            Reservation::DeviceLocked => Some("device_locked"),
        };
        if let Some(detail) = refused {
            let audit = self.audit(
                ctx,
                Some(&account.id),
                AuditEvent::MfaResynced,
                AuditOutcome::Failure,
                detail,
            );
            self.store.append_audit(&audit).await?;
            return Err(ServiceError::field(
                "code1",
                crate::mfa_sign_in::CODE_DENIED,
            ));
        }
        let secret = self.open_secret(&device.secret_sealed, &device_context(&device.id))?;
        let found = totp::check_resync(&secret, device.params, first, second, now);
        let resynced = match found {
            Some((later, drift)) => {
                let notice = Notice {
                    subject: "An MFA device of your latchkey account was resynchronised".to_owned(),
                    paragraphs: vec![format!(
                        "The MFA device “{}” was resynchronised; its clock is {} from latchkey's.",
                        device.name,
                        describe_drift(drift * device.params.period)
                    )],
                };
                let mail = self.notice_email(account, &notice, ctx);
                let audit = self.audit(
                    ctx,
                    Some(&account.id),
                    AuditEvent::MfaResynced,
                    AuditOutcome::Success,
                    &device.id,
                );
                self.store
                    .resync_device(
                        &account.id,
                        &device.id,
                        later,
                        drift,
                        &[self.outbox.email(&mail, now)],
                        &audit,
                    )
                    .await?
            }
            None => false,
        };
        if resynced {
            // Right, but nobody signed in: the reservation is given back.
            self.store.settle_attempt(key, Settle::Refund).await?;
            self.outbox.wake();
            return Ok(());
        }
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::MfaResynced,
            AuditOutcome::Failure,
            &device.id,
        );
        self.store.append_audit(&audit).await?;
        Err(ServiceError::field("code1", NOT_CONSECUTIVE))
    }

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
        let mut paragraphs = vec![format!(
            "The MFA device “{}” was removed from your account. Its codes no longer sign in, and sessions it signed in were signed out.",
            device.name
        )];
        if last {
            paragraphs.push("Your account is no longer protected by MFA: only the password is needed to sign in. Activate a new MFA device on Security credentials.".to_owned());
        }
        let notice = Notice {
            subject: "An MFA device was removed from your latchkey account".to_owned(),
            paragraphs,
        };
        let mail = self.notice_email(&account, &notice, ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::MfaRemoved,
            AuditOutcome::Success,
            &device.id,
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
                    signed_out: session.mfa_device_id.as_deref() == Some(device_id),
                })
            }
            None => Err(ServiceError::LinkInvalid),
        }
    }

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
            &device.id,
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

fn describe_drift(seconds: i64) -> String {
    match seconds {
        0 => "in step".to_owned(),
        s if s < 0 => format!("about {} seconds behind", -s),
        s => format!("about {s} seconds ahead"),
    }
}
