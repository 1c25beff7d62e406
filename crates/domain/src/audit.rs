//! The vocabulary of the audit log: which events are recorded and how they ended.
//!
//! Every event name is a fixed identifier so that the log can be searched and never carries
//! free text from a request; details are short reason codes chosen by the service. The one
//! exception is an operator's command on an account, whose detail keeps the reason the operator
//! gave, passed through [`sanitize_request_text`] like everything else that is stored.

/// Something that happened to an account or was attempted against one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    SignUp,
    VerificationEmailSent,
    EmailVerified,
    AccountCreatedByOperator,
    SignIn,
    SignOut,
    PasswordResetRequested,
    PasswordReset,
    SignInPasswordVerified,
    MfaActivated,
    MfaResynced,
    MfaRemoved,
    MfaCode,
    RecoveryStarted,
    RecoveryEmailSent,
    RecoveryEmailVerified,
    RecoveryCallPlaced,
    PhoneCode,
    RecoveryCompleted,
    RecoveryCancelled,
    SignUpCallPlaced,
    PasswordChanged,
    TokensImported,
    /// A signed-in person typed the password again to confirm a change of factors.
    Reauthentication,
    /// An operator lifted a `This wasn't me` block (`latchkey account unblock-recovery`).
    OperatorUnblockedRecovery,
    /// An operator removed every MFA device of an account (`latchkey account reset-mfa`).
    OperatorResetMfa,
    /// A new email address or phone number was asked for (detail: which).
    ContactChangeRequested,
    /// A verification call to a new phone number.
    ContactChangeCallPlaced,
    /// A proven new contact replaced the old one (detail: which).
    ContactChanged,
    /// The old contact's `This wasn't me` put the contacts back.
    ContactChangeReverted,
    /// An operator disabled the account (`latchkey account disable`; detail: the reason).
    OperatorDisabledAccount,
    /// An operator enabled a disabled account again (`latchkey account enable`).
    OperatorEnabledAccount,
    /// Failures on one of the account's counters began throttling or locked it (detail:
    /// which, and whether the counter is a known device's or unknown sources').
    AccountThrottled,
    /// `latchkey key rotate` made a new server key current (detail: both key ids).
    ServerKeyRotated,
    /// Values sealed under an older server key were re-sealed under the current one.
    SealedDataResealed,
    /// `latchkey key retire` took an older server key out of use (detail: its id).
    ServerKeyRetired,
    /// `latchkey oidc client add` registered an application (detail: its id and name).
    OidcClientRegistered,
    /// `latchkey oidc client remove` removed an application and revoked its tokens.
    OidcClientRemoved,
    /// `latchkey oidc client rotate-secret` replaced an application's secret.
    OidcClientSecretRotated,
    /// The owner allowed an application to sign them in (detail: the client).
    OidcConsentGranted,
    /// An authorization code went to an application (detail: the client).
    OidcCodeIssued,
    /// An application exchanged its code for tokens (detail: the client).
    OidcTokensIssued,
    /// A used authorization code came back: what it issued is revoked (detail: the client).
    OidcCodeReplayed,
    /// An application's refresh token was rotated (detail: the client).
    OidcTokensRefreshed,
    /// A used refresh token came back: its family is revoked (detail: the client).
    OidcRefreshReused,
    /// The token endpoint refused a request (detail: the client and why).
    OidcTokenRefused,
    /// ID-token signing keys were generated (detail: their ids and when they sign).
    OidcSigningKeysCreated,
    /// `latchkey oidc key retire` stopped publishing a signing key (detail: its id).
    OidcSigningKeyRetired,
}

impl AuditEvent {
    /// Every event, in the order they are declared.
    pub const ALL: [Self; 48] = [
        Self::SignUp,
        Self::VerificationEmailSent,
        Self::EmailVerified,
        Self::AccountCreatedByOperator,
        Self::SignIn,
        Self::SignOut,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::SignInPasswordVerified,
        Self::MfaActivated,
        Self::MfaResynced,
        Self::MfaRemoved,
        Self::MfaCode,
        Self::RecoveryStarted,
        Self::RecoveryEmailSent,
        Self::RecoveryEmailVerified,
        Self::RecoveryCallPlaced,
        Self::PhoneCode,
        Self::RecoveryCompleted,
        Self::RecoveryCancelled,
        Self::SignUpCallPlaced,
        Self::PasswordChanged,
        Self::TokensImported,
        Self::Reauthentication,
        Self::OperatorUnblockedRecovery,
        Self::OperatorResetMfa,
        Self::ContactChangeRequested,
        Self::ContactChangeCallPlaced,
        Self::ContactChanged,
        Self::ContactChangeReverted,
        Self::OperatorDisabledAccount,
        Self::OperatorEnabledAccount,
        Self::AccountThrottled,
        Self::ServerKeyRotated,
        Self::SealedDataResealed,
        Self::ServerKeyRetired,
        Self::OidcClientRegistered,
        Self::OidcClientRemoved,
        Self::OidcClientSecretRotated,
        Self::OidcConsentGranted,
        Self::OidcCodeIssued,
        Self::OidcTokensIssued,
        Self::OidcCodeReplayed,
        Self::OidcTokensRefreshed,
        Self::OidcRefreshReused,
        Self::OidcTokenRefused,
        Self::OidcSigningKeysCreated,
        Self::OidcSigningKeyRetired,
    ];

    /// The event a stored name stands for; `None` for a name this version does not write.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::VerificationEmailSent => "verification_email_sent",
            Self::EmailVerified => "email_verified",
            Self::AccountCreatedByOperator => "account_created_by_operator",
            Self::SignIn => "sign_in",
            Self::SignOut => "sign_out",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::SignInPasswordVerified => "sign_in_password_verified",
            Self::MfaActivated => "mfa_activated",
            Self::MfaResynced => "mfa_resynced",
            Self::MfaRemoved => "mfa_removed",
            Self::MfaCode => "mfa_code",
            Self::RecoveryStarted => "recovery_started",
            Self::RecoveryEmailSent => "recovery_email_sent",
            Self::RecoveryEmailVerified => "recovery_email_verified",
            Self::RecoveryCallPlaced => "recovery_call_placed",
            Self::PhoneCode => "phone_code",
            Self::RecoveryCompleted => "recovery_completed",
            Self::RecoveryCancelled => "recovery_cancelled",
            Self::SignUpCallPlaced => "sign_up_call_placed",
            Self::PasswordChanged => "password_changed",
            Self::TokensImported => "tokens_imported",
            Self::Reauthentication => "reauthentication",
            Self::OperatorUnblockedRecovery => "operator_unblocked_recovery",
            Self::OperatorResetMfa => "operator_reset_mfa",
            Self::ContactChangeRequested => "contact_change_requested",
            Self::ContactChangeCallPlaced => "contact_change_call_placed",
            Self::ContactChanged => "contact_changed",
            Self::ContactChangeReverted => "contact_change_reverted",
            Self::OperatorDisabledAccount => "operator_disabled_account",
            Self::OperatorEnabledAccount => "operator_enabled_account",
            Self::AccountThrottled => "account_throttled",
            Self::ServerKeyRotated => "server_key_rotated",
            Self::SealedDataResealed => "sealed_data_resealed",
            Self::ServerKeyRetired => "server_key_retired",
            Self::OidcClientRegistered => "oidc_client_registered",
            Self::OidcClientRemoved => "oidc_client_removed",
            Self::OidcClientSecretRotated => "oidc_client_secret_rotated",
            Self::OidcConsentGranted => "oidc_consent_granted",
            Self::OidcCodeIssued => "oidc_code_issued",
            Self::OidcTokensIssued => "oidc_tokens_issued",
            Self::OidcCodeReplayed => "oidc_code_replayed",
            Self::OidcTokensRefreshed => "oidc_tokens_refreshed",
            Self::OidcRefreshReused => "oidc_refresh_reused",
            Self::OidcTokenRefused => "oidc_token_refused",
            Self::OidcSigningKeysCreated => "oidc_signing_keys_created",
            Self::OidcSigningKeyRetired => "oidc_signing_key_retired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Makes a value from a request (user agent, client address) safe to store and print:
/// control characters, which could forge log lines or terminal escapes, become `?`, and the
/// length is capped.
pub fn sanitize_request_text(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_reads_back_as_its_event() {
        for event in AuditEvent::ALL {
            assert_eq!(AuditEvent::parse(event.as_str()), Some(event));
        }
        let mut names: Vec<_> = AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditEvent::ALL.len(), "names are distinct");
        assert_eq!(AuditEvent::parse("forged"), None);
        assert_eq!(AuditOutcome::parse("failure"), Some(AuditOutcome::Failure));
    }

    #[test]
    fn request_text_cannot_forge_log_lines() {
        assert_eq!(
            sanitize_request_text("curl\n2026 sign_in success\u{1b}[2J", 100),
            "curl?2026 sign_in success?[2J"
        );
        assert_eq!(sanitize_request_text("abcdef", 3), "abc");
    }
}
