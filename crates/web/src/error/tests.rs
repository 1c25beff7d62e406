//! The refusal table and the error shapes: every variant has a status, a distinct code and
//! words, and failures never show their detail.

use super::*;
use latchkey_domain::calls::DestinationRefusal;
use latchkey_service::StoreError;

/// One of each refusal a use case can end with. The match makes a new variant fail to
/// compile here until it is given its place (and so its code) below.
fn every_refusal() -> Vec<ServiceError> {
    let all = vec![
        ServiceError::Invalid(vec![FieldError::new(
            "email",
            latchkey_domain::contact::EmailError::Invalid,
        )]),
        ServiceError::AccountGone,
        ServiceError::AccountIdUnavailable,
        ServiceError::DeviceLimit,
        ServiceError::SecurityKeysUnavailable("no domain name".to_owned()),
        ServiceError::NoSecurityKey,
        ServiceError::SecretUnreadable,
        ServiceError::PhoneAlreadyVerified,
        ServiceError::PhoneNotVerified,
        ServiceError::RecoveryWrongStep,
        ServiceError::RecoveryEmailLimit,
        ServiceError::RecoveryCallLimit,
        ServiceError::LinkInvalid,
        ServiceError::SignInExpired,
        ServiceError::RecoveryExpired,
        ServiceError::RecoveryAlreadyStarted,
        ServiceError::RecoveryBudget,
        ServiceError::RecoveryBlocked,
        ServiceError::RecoveryScope,
        ServiceError::SessionNotFound,
        ServiceError::ContactChangeNeedsMfa,
        ServiceError::ContactChangeNeedsFreshSignIn,
        ServiceError::ContactChangeGone,
        ServiceError::ContactChangeBudget,
        ServiceError::ContactRestoreTaken,
        ServiceError::ContactCoolingOff {
            until: latchkey_domain::Timestamp(1_800_000_000),
        },
        ServiceError::CallBudget,
        ServiceError::CallDestination(DestinationRefusal::Costly),
        ServiceError::CallFlowGone,
        ServiceError::AccountLocked,
        ServiceError::AccountDisabled,
        ServiceError::TooManyAttempts { retry_after: 3 },
        ServiceError::Overloaded { retry_after: 1 },
    ];
    for error in &all {
        match error {
            ServiceError::Invalid(_)
            | ServiceError::AccountGone
            | ServiceError::AccountIdUnavailable
            | ServiceError::DeviceLimit
            | ServiceError::SecurityKeysUnavailable(_)
            | ServiceError::NoSecurityKey
            | ServiceError::SecretUnreadable
            | ServiceError::PhoneAlreadyVerified
            | ServiceError::PhoneNotVerified
            | ServiceError::RecoveryWrongStep
            | ServiceError::RecoveryEmailLimit
            | ServiceError::RecoveryCallLimit
            | ServiceError::LinkInvalid
            | ServiceError::SignInExpired
            | ServiceError::RecoveryExpired
            | ServiceError::RecoveryAlreadyStarted
            | ServiceError::RecoveryBudget
            | ServiceError::RecoveryBlocked
            | ServiceError::RecoveryScope
            | ServiceError::SessionNotFound
            | ServiceError::ContactChangeNeedsMfa
            | ServiceError::ContactChangeNeedsFreshSignIn
            | ServiceError::ContactChangeGone
            | ServiceError::ContactChangeBudget
            | ServiceError::ContactRestoreTaken
            | ServiceError::ContactCoolingOff { .. }
            | ServiceError::CallBudget
            | ServiceError::CallDestination(_)
            | ServiceError::CallFlowGone
            | ServiceError::AccountLocked
            | ServiceError::AccountDisabled
            | ServiceError::TooManyAttempts { .. }
            | ServiceError::Overloaded { .. } => {}
            // Failures, not refusals: the same `internal` answer for all of them.
            ServiceError::Internal(_)
            | ServiceError::Store(_)
            | ServiceError::Hash(_)
            | ServiceError::ServerKeyMismatch { .. }
            | ServiceError::ServerKeySuperseded { .. }
            | ServiceError::ServerKeyUnproven => {}
        }
    }
    all
}

#[test]
fn every_refusal_has_a_distinct_api_code_and_a_client_error_status() {
    let mut seen = std::collections::BTreeMap::new();
    for error in every_refusal() {
        let shown = format!("{error:?}");
        let api = ApiError::from(error);
        let code = api.body.error.code.clone();
        assert!(
            api.status.is_client_error() || api.status == StatusCode::SERVICE_UNAVAILABLE,
            "{shown} answers {}",
            api.status
        );
        assert!(!api.body.error.message.is_empty(), "{shown} has no words");
        if let Some(earlier) = seen.insert(code.clone(), shown.clone()) {
            panic!("{shown} and {earlier} share the code {code}");
        }
    }
}

#[test]
fn the_page_and_the_api_agree_on_the_status() {
    // `ServiceError` is not `Clone` (its store error holds a source): two lists instead.
    for (for_api, for_page) in every_refusal().into_iter().zip(every_refusal()) {
        let shown = format!("{for_page:?}");
        let api_status = ApiError::from(for_api).status;
        let page_status = PageError::from(for_page).status;
        let bad_form = api_status == StatusCode::UNPROCESSABLE_ENTITY
            && page_status == StatusCode::BAD_REQUEST;
        assert!(api_status == page_status || bad_form, "{shown}");
    }
}

#[test]
fn failures_answer_internal_without_their_detail() {
    for error in [
        ServiceError::Internal("serde said no".to_owned()),
        ServiceError::Store(StoreError::database("password=hunter2")),
    ] {
        let api = ApiError::from(error);
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.body.error.code, "internal");
        assert!(!api.body.error.message.contains("hunter2"));
        assert!(!api.body.error.message.contains("serde"));
    }
}

#[test]
fn the_log_line_carries_the_database_error_under_the_failure() {
    let error = ServiceError::Store(StoreError::database_from(
        "query failed",
        std::io::Error::other("connection reset by peer"),
    ));
    assert_eq!(
        chain(&error),
        "database error: query failed: connection reset by peer"
    );
    let api = ApiError::from(error);
    assert!(!api.body.error.message.contains("connection reset"));
}
