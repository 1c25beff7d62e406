//! Hardware OATH tokens: importing the vendor's PSKC file into the inventory, and assigning a
//! token to an account (`Other hardware MFA device`). Once assigned, a token is an MFA device
//! like any other: sign-in, replay protection, drift, resync and removal are shared with
//! virtual devices; removal puts the token back in the inventory.

use latchkey_domain::mfa::{DeviceKind, MAX_DEVICES, parse_device_name};
use latchkey_domain::totp::{self, TotpAlgorithm, TotpParams};
use latchkey_domain::{AuditEvent, AuditOutcome, Timestamp};

use crate::error::{FieldError, Problem, ServiceError};
use crate::mfa::{AssignRequest, DeviceView, device_context};
use crate::sessions::CurrentSession;
use crate::store::{AssignOutcome, HardwareTokenRecord, NewDevice, NewHardwareToken};
use crate::{RequestContext, Service};

/// What an import did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: Vec<String>,
}

/// A key package an import refused, and why. The CLI words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedPackage {
    /// The package's place in the file, from 1.
    pub index: usize,
    pub serial: Option<String>,
    pub why: PackageRefusal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageRefusal {
    /// The package itself cannot be used (the reader says why).
    Unreadable(latchkey_pskc::PackageError),
    /// Its serial appears more than once in the file.
    RepeatedInFile,
    /// A token with its serial is in the inventory already.
    InInventory,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] latchkey_pskc::FileError),
    /// Every refused key package; nothing was imported.
    #[error("{} key packages were refused; nothing was imported", .0.len())]
    Packages(Vec<RefusedPackage>),
    /// A serial of the file was imported by another import meanwhile; nothing was imported.
    #[error("a serial was imported meanwhile; nothing was imported")]
    ImportedMeanwhile,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

pub(crate) fn token_context(serial: &str) -> Vec<u8> {
    format!("hardware-token\0{serial}").into_bytes()
}

impl Service {
    /// `latchkey tokens import`: all or nothing; every refused key package is reported.
    pub async fn import_tokens(
        &self,
        file: &[u8],
        key: Option<&[u8]>,
    ) -> Result<ImportReport, ImportError> {
        let packages = latchkey_pskc::read(file, key)?;
        let now = self.clock.now();
        let mut problems = Vec::new();
        let mut tokens = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for package in &packages {
            let refuse = |why| RefusedPackage {
                index: package.index,
                serial: package.serial.clone(),
                why,
            };
            match &package.result {
                Err(problem) => problems.push(refuse(PackageRefusal::Unreadable(problem.clone()))),
                Ok(token) => {
                    if !seen.insert(token.serial.clone()) {
                        problems.push(refuse(PackageRefusal::RepeatedInFile));
                    } else if self
                        .store
                        .hardware_token(&token.serial)
                        .await
                        .map_err(ServiceError::from)?
                        .is_some()
                    {
                        problems.push(refuse(PackageRefusal::InInventory));
                    } else {
                        let algorithm =
                            TotpAlgorithm::parse(&token.hash).unwrap_or(TotpAlgorithm::Sha1);
                        tokens.push(NewHardwareToken {
                            serial: token.serial.clone(),
                            manufacturer: token.manufacturer.clone(),
                            params: TotpParams {
                                algorithm,
                                digits: token.digits,
                                period: i64::from(token.period),
                            },
                            secret_sealed: self
                                .mfa_sealer
                                .seal(&token.secret, &token_context(&token.serial)),
                            imported_at: now,
                        });
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(ImportError::Packages(problems));
        }
        let audit = self.audit(
            &RequestContext::operator(),
            None,
            AuditEvent::TokensImported,
            AuditOutcome::Success,
            &format!("{} tokens", tokens.len()),
        );
        match self.store.import_tokens(&tokens, &audit).await {
            Ok(()) => Ok(ImportReport {
                imported: tokens.into_iter().map(|t| t.serial).collect(),
            }),
            Err(crate::StoreError::Conflict(_)) => Err(ImportError::ImportedMeanwhile),
            Err(other) => Err(ServiceError::from(other).into()),
        }
    }

    /// `latchkey tokens list`.
    pub async fn hardware_tokens(&self) -> Result<Vec<HardwareTokenRecord>, ServiceError> {
        Ok(self.store.hardware_tokens().await?)
    }

    /// `Other hardware MFA device` → `Serial number`, `MFA code 1`, `MFA code 2`,
    /// `Assign MFA`. The serial must be in the inventory and free; the codes consecutive.
    pub async fn assign_hardware_device(
        &self,
        session: &CurrentSession,
        serial: &str,
        form: &AssignRequest<'_>,
        ctx: &RequestContext,
    ) -> Result<DeviceView, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let account = self
            .store
            .account_by_id(&session.account_id)
            .await?
            .ok_or(ServiceError::AccountGone)?;
        let serial = serial.trim();
        let unavailable = || ServiceError::field("serial", Problem::NoFreeToken);
        if serial.is_empty() {
            return Err(ServiceError::field("serial", Problem::SerialMissing));
        }
        let token = self
            .store
            .hardware_token(serial)
            .await?
            .filter(|t| t.device_id.is_none());
        let Some(token) = token else {
            self.record(
                ctx,
                Some(&account.id),
                AuditEvent::MfaActivated,
                AuditOutcome::Failure,
                "token_unavailable",
            )
            .await?;
            return Err(unavailable());
        };
        let name_text = if form.name.trim().is_empty() {
            format!("Hardware token {serial}")
        } else {
            form.name.to_owned()
        };
        let mut problems = Vec::new();
        let name = parse_device_name(&name_text)
            .map_err(|e| problems.push(FieldError::new("name", e)))
            .ok();
        let digits = token.params.digits;
        let first = totp::Code::parse(form.code1, digits)
            .map_err(|e| problems.push(FieldError::new("code1", e)))
            .ok();
        let second = totp::Code::parse(form.code2, digits)
            .map_err(|e| problems.push(FieldError::new("code2", e)))
            .ok();
        let (Some(name), Some(first), Some(second)) = (name, first, second) else {
            return Err(ServiceError::Invalid(problems));
        };
        if form.code1.trim() == form.code2.trim() {
            return Err(ServiceError::field(
                "code2",
                Problem::SameCodeTwice { hardware: true },
            ));
        }
        self.check_reauthentication(session, &account, form.password, ctx)
            .await?;
        let now: Timestamp = self.clock.now();
        let secret = self.open_secret(&token.secret_sealed, &token_context(serial))?;
        let later_step = self
            .consecutive_codes(
                &account,
                totp::check_enrolment(&secret, token.params, first, second, now),
                true,
                ctx,
            )
            .await?;
        let id = crate::secrets::new_id("mfa");
        let device = NewDevice {
            secret_sealed: self.mfa_sealer.seal(&secret, &device_context(&id)),
            id: latchkey_domain::DeviceId::new(id.clone()),
            account_id: account.id.clone(),
            kind: DeviceKind::Hardware,
            name: name.clone(),
            params: token.params,
            last_used_step: later_step,
            created_at: now,
            serial: Some(serial.to_owned()),
            added_by: Some(session.token_hash.clone()),
        };
        let (mail, audit) = self.device_added_effects(
            &account,
            &device,
            crate::email::AddedDevice::HardwareToken {
                serial: serial.to_string(),
                name: name.to_string(),
            },
            ctx,
        );
        match self
            .store
            .assign_hardware_device(&device, MAX_DEVICES, &[mail], &audit)
            .await?
        {
            AssignOutcome::Assigned => {
                self.outbox.wake();
                Ok(DeviceView::from(&device))
            }
            AssignOutcome::LimitReached => Err(ServiceError::DeviceLimit),
            AssignOutcome::TokenUnavailable => Err(unavailable()),
            AssignOutcome::NameTaken => Err(ServiceError::field("name", Problem::DeviceNameTaken)),
            AssignOutcome::EnrollmentGone => Err(ServiceError::LinkInvalid),
            AssignOutcome::SessionEnded => Err(ServiceError::SignInExpired),
        }
    }
}
