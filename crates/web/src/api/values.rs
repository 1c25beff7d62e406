//! The API's names for typed values. Each is a stable part of the API contract, written here
//! and nowhere else: the database encodes the same values its own way, and a change to a
//! column's encoding must never change what clients read.

use latchkey_domain::calls::CallStatus;
use latchkey_domain::mfa::DeviceKind;
use latchkey_domain::recovery::RecoveryState;
use latchkey_domain::{AuditEvent, AuditOutcome};

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

/// An event's `type` in the event history.
pub(crate) fn event_type(event: AuditEvent) -> &'static str {
    match event {
        AuditEvent::SignUp => "sign_up",
        AuditEvent::VerificationEmailSent => "verification_email_sent",
        AuditEvent::EmailVerified => "email_verified",
        AuditEvent::AccountCreatedByOperator => "account_created_by_operator",
        AuditEvent::SignIn => "sign_in",
        AuditEvent::SignOut => "sign_out",
        AuditEvent::PasswordResetRequested => "password_reset_requested",
        AuditEvent::PasswordReset => "password_reset",
        AuditEvent::SignInPasswordVerified => "sign_in_password_verified",
        AuditEvent::MfaActivated => "mfa_device_added",
        AuditEvent::MfaResynced => "mfa_device_resynced",
        AuditEvent::MfaRemoved => "mfa_device_removed",
        AuditEvent::MfaCode => "mfa_code",
        AuditEvent::RecoveryStarted => "alternative_factors_started",
        AuditEvent::RecoveryEmailSent => "alternative_factors_email_sent",
        AuditEvent::RecoveryEmailVerified => "alternative_factors_email_verified",
        AuditEvent::RecoveryCallPlaced => "alternative_factors_call_placed",
        AuditEvent::PhoneCode => "phone_code",
        AuditEvent::RecoveryCompleted => "alternative_factors_sign_in",
        AuditEvent::RecoveryCancelled => "alternative_factors_cancelled",
        AuditEvent::SignUpCallPlaced => "sign_up_call_placed",
        AuditEvent::PasswordChanged => "password_changed",
        AuditEvent::TokensImported => "hardware_tokens_imported",
        AuditEvent::Reauthentication => "password_confirmed",
        AuditEvent::OperatorUnblockedRecovery => "operator_unblocked_recovery",
        AuditEvent::OperatorResetMfa => "operator_reset_mfa",
        AuditEvent::ContactChangeRequested => "contact_change_requested",
        AuditEvent::ContactChangeCallPlaced => "contact_change_call_placed",
        AuditEvent::ContactChanged => "contact_changed",
        AuditEvent::ContactChangeReverted => "contact_change_reverted",
        AuditEvent::OperatorDisabledAccount => "operator_disabled_account",
        AuditEvent::OperatorEnabledAccount => "operator_enabled_account",
        AuditEvent::AccountThrottled => "account_throttled",
        AuditEvent::ServerKeyRotated => "server_key_rotated",
        AuditEvent::SealedDataResealed => "sealed_data_resealed",
        AuditEvent::ServerKeyRetired => "server_key_retired",
        AuditEvent::OidcClientRegistered => "oidc_client_registered",
        AuditEvent::OidcClientRemoved => "oidc_client_removed",
        AuditEvent::OidcClientSecretRotated => "oidc_client_secret_rotated",
        AuditEvent::OidcConsentGranted => "oidc_consent_granted",
        AuditEvent::OidcCodeIssued => "oidc_code_issued",
        AuditEvent::OidcTokensIssued => "oidc_tokens_issued",
        AuditEvent::OidcCodeReplayed => "oidc_code_replayed",
        AuditEvent::OidcTokensRefreshed => "oidc_tokens_refreshed",
        AuditEvent::OidcRefreshReused => "oidc_refresh_reused",
        AuditEvent::OidcTokenRefused => "oidc_token_refused",
        AuditEvent::OidcSigningKeysCreated => "oidc_signing_keys_created",
        AuditEvent::OidcSigningKeyRetired => "oidc_signing_key_retired",
    }
}

/// The event an API `type` names.
pub(crate) fn event_from_type(name: &str) -> Option<AuditEvent> {
    AuditEvent::ALL
        .into_iter()
        .find(|event| event_type(*event) == name)
}

/// An event's `outcome`.
pub(crate) fn outcome(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Success => "success",
        AuditOutcome::Failure => "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_names_one_event() {
        for event in AuditEvent::ALL {
            assert_eq!(event_from_type(event_type(event)), Some(event), "{event:?}");
        }
        assert_eq!(event_from_type("mfa_activated"), None, "the log's name");
    }
}
