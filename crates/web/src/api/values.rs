//! The API's names for typed values. Each is a stable part of the API contract, written here
//! and nowhere else: the database encodes the same values its own way, and a change to a
//! column's encoding must never change what clients read.

use latchkey_domain::calls::CallStatus;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::recovery::RecoveryState;

/// A device's `type`.
pub(super) fn device_type(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Virtual => "virtual",
        DeviceKind::Hardware => "hardware",
        DeviceKind::SecurityKey => "security_key",
    }
}

/// A recovery flow's `state`.
pub(super) fn recovery_state(state: RecoveryState) -> &'static str {
    match state {
        RecoveryState::EmailPending => "email_pending",
        RecoveryState::EmailVerified => "email_verified",
        RecoveryState::PhoneVerified => "phone_verified",
        RecoveryState::Completed => "completed",
        RecoveryState::Cancelled => "cancelled",
    }
}

/// A verification call's `call_status`.
pub(crate) fn call_status(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Queued => "queued",
        CallStatus::Dialling => "dialling",
        CallStatus::Placed => "placed",
        CallStatus::Verified => "verified",
        CallStatus::Failed => "failed",
        CallStatus::Superseded => "superseded",
        CallStatus::Ended => "ended",
    }
}
