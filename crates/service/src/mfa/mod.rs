//! MFA devices on Security credentials: activating a virtual device, resyncing, removing —
//! and the notices each change sends to the account's email.
//!
//! Seeds are 160 random bits, sealed with a key derived from the server key and bound to the
//! device (or enrolment) id, so a copied row opens nowhere else. Enrolment keeps its seed
//! server-side: the page only carries the enrolment id, and a stale or replayed page cannot
//! create a second device.
//!
//! `enrollment` (virtual devices), `resync` and `removal`; the other kinds of device live in
//! `tokens` (hardware) and `webauthn` (security keys).

mod enrollment;
mod removal;
mod resync;

use latchkey_domain::mfa::{DeviceKind, needs_reauthentication};
use latchkey_domain::totp::Code;
use latchkey_domain::{AccountId, DeviceId, EnrollmentId, Timestamp};

use crate::Service;
use crate::error::{FieldError, Problem, ServiceError};
use crate::sessions::CurrentSession;
use crate::store::{AccountRecord, DeviceRecord, NewDevice};

/// The issuer shown by authenticator apps next to the account.
pub const ISSUER: &str = "latchkey";

/// A device as the console and the API show it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub id: DeviceId,
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
    pub id: EnrollmentId,
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

pub(crate) fn enrollment_context(id: &str) -> Vec<u8> {
    format!("enrollment\0{id}").into_bytes()
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
                    Problem::SameCodeTwice { hardware: false },
                ));
            }
            Ok((a, b))
        }
        _ => Err(ServiceError::Invalid(problems)),
    }
}

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
            .ok_or(ServiceError::AccountGone)
    }
}
