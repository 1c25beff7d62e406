//! The hardware OATH token inventory and the devices bound to it.

use super::StoreResult;
use super::audit::AuditRecord;
use super::devices::{AssignOutcome, NewDevice};
use super::outbox::NewOutboxMessage;
use async_trait::async_trait;
use latchkey_domain::DeviceId;
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{AccountId, Timestamp};

#[derive(Debug, Clone)]
pub struct NewHardwareToken {
    pub serial: String,
    pub manufacturer: Option<String>,
    pub params: TotpParams,
    pub secret_sealed: Vec<u8>,
    pub imported_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct HardwareTokenRecord {
    pub serial: String,
    pub manufacturer: Option<String>,
    pub params: TotpParams,
    pub secret_sealed: Vec<u8>,
    pub imported_at: Timestamp,
    /// The device it is bound to, and that device's account.
    pub device_id: Option<DeviceId>,
    pub account_id: Option<AccountId>,
}

#[async_trait]
pub trait HardwareTokenStore: Send + Sync {
    /// Adds tokens to the inventory, all or none. `Conflict("serial")` if one is already there.
    async fn import_tokens(
        &self,
        tokens: &[NewHardwareToken],
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    async fn hardware_tokens(&self) -> StoreResult<Vec<HardwareTokenRecord>>;

    async fn hardware_token(&self, serial: &str) -> StoreResult<Option<HardwareTokenRecord>>;

    /// Binds a free inventory token to a new hardware device, within the per-account cap.
    async fn assign_hardware_device(
        &self,
        device: &NewDevice,
        max_devices: usize,
        outbox: &[NewOutboxMessage],
        audit: &AuditRecord,
    ) -> StoreResult<AssignOutcome>;
}
