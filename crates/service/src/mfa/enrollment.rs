//! `Activate MFA` → `Virtual MFA device`: a seed kept server-side, two consecutive codes, the
//! device within the cap.

use latchkey_domain::mfa::{DeviceKind, ENROLMENT_LIFETIME, MAX_DEVICES, parse_device_name};
use latchkey_domain::totp::{self, TotpParams};
use latchkey_domain::{AuditEvent, AuditOutcome, EnrollmentId, Timestamp};

use super::{
    AssignRequest, DeviceView, EnrollmentView, ISSUER, device_context, enrollment_context,
    parse_codes,
};
use crate::error::{FieldError, Problem, ServiceError};
use crate::secrets::random_bytes;
use crate::server_key::OpenError;
use crate::sessions::CurrentSession;
use crate::store::{AccountRecord, AssignOutcome, NewDevice, NewEnrollment};
use crate::{RequestContext, Service};

impl Service {
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
            return Err(ServiceError::DeviceLimit);
        }
        let now = self.clock.now();
        let id = EnrollmentId::new(crate::secrets::new_id("enr"));
        let secret = random_bytes::<20>();
        self.store
            .create_enrollment(&NewEnrollment {
                id: id.clone(),
                account_id: account.id.clone(),
                kind: DeviceKind::Virtual,
                secret_sealed: self
                    .mfa_sealer
                    .seal(&secret, &enrollment_context(id.as_str())),
                created_at: now,
                expires_at: now + ENROLMENT_LIFETIME,
            })
            .await?;
        Ok(self.enrollment_view(&account, &id, &secret, now + ENROLMENT_LIFETIME))
    }

    fn enrollment_view(
        &self,
        account: &AccountRecord,
        id: &EnrollmentId,
        secret: &[u8],
        expires_at: Timestamp,
    ) -> EnrollmentView {
        EnrollmentView {
            id: id.clone(),
            secret_base32: totp::base32(secret),
            key_uri: totp::key_uri(ISSUER, account.email.as_str(), secret, TotpParams::VIRTUAL),
            expires_at,
        }
    }

    /// The set-up page again (a reload): `None` when the enrolment expired or was used.
    pub async fn virtual_enrollment(
        &self,
        session: &CurrentSession,
        id: &EnrollmentId,
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
        let secret =
            self.open_secret(&enrollment.secret_sealed, &enrollment_context(id.as_str()))?;
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
        self.mfa_sealer
            .open(sealed, context)
            .map_err(|OpenError| ServiceError::SecretUnreadable)
    }

    /// `Assign MFA`: two consecutive codes turn the enrolment into a device. Both codes'
    /// steps are consumed, so neither can be used to sign in.
    pub async fn assign_virtual_device(
        &self,
        session: &CurrentSession,
        enrollment_id: &EnrollmentId,
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
            &enrollment_context(enrollment_id.as_str()),
        )?;
        let later_step = self
            .consecutive_codes(
                &account,
                totp::check_enrolment(&secret, TotpParams::VIRTUAL, first, second, now),
                false,
                ctx,
            )
            .await?;
        let device = NewDevice {
            id: latchkey_domain::DeviceId::new(crate::secrets::new_id("mfa")),
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
            secret_sealed: self
                .mfa_sealer
                .seal(&secret, &device_context(device.id.as_str())),
            ..device
        };
        let (mail, audit) = self.device_added_effects(
            &account,
            &device,
            crate::email::AddedDevice::Virtual {
                name: name.to_string(),
            },
            ctx,
        );
        match self
            .store
            .assign_device(enrollment_id, &device, MAX_DEVICES, now, &[mail], &audit)
            .await?
        {
            AssignOutcome::Assigned => {
                self.outbox.wake();
                Ok(DeviceView::from(&device))
            }
            AssignOutcome::LimitReached => Err(ServiceError::DeviceLimit),
            AssignOutcome::EnrollmentGone | AssignOutcome::TokenUnavailable => {
                Err(ServiceError::LinkInvalid)
            }
            AssignOutcome::SessionEnded => Err(ServiceError::SignInExpired),
            AssignOutcome::NameTaken => Err(ServiceError::field("name", Problem::DeviceNameTaken)),
        }
    }
}

impl Service {
    /// What `totp::check_enrolment` found for two codes read off a device being activated
    /// (`hardware`: a token from the inventory): the step of the second if they were
    /// consecutive, else the refusal, recorded.
    pub(crate) async fn consecutive_codes(
        &self,
        account: &AccountRecord,
        found: Option<i64>,
        hardware: bool,
        ctx: &RequestContext,
    ) -> Result<i64, ServiceError> {
        if let Some(later_step) = found {
            return Ok(later_step);
        }
        self.record(
            ctx,
            Some(&account.id),
            AuditEvent::MfaActivated,
            AuditOutcome::Failure,
            "codes_not_consecutive",
        )
        .await?;
        Err(ServiceError::field(
            "code1",
            Problem::CodesNotConsecutive { hardware },
        ))
    }
}
