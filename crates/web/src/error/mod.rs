//! How failures look: an HTML page for the console, one JSON shape for the API.
//!
//! Internal errors are logged in full and shown as a generic message that promises what is
//! true (nothing was changed); the details never reach the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::borrow::Cow;

use latchkey_domain::mfa::MAX_DEVICES;
use latchkey_service::{FieldError, ServiceError};
use serde::Serialize;

use crate::page::MessagePage;

/// A console error page.
#[derive(Debug)]
pub(crate) struct PageError {
    pub status: StatusCode,
    pub heading: &'static str,
    pub message: String,
    /// Seconds, for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<i64>,
}

use latchkey_service::error::error_chain as chain;

/// The problems with a form's fields as one sentence for the page's error banner.
pub(crate) fn field_messages(fields: Vec<FieldError>) -> String {
    crate::wording::fields(&fields)
}

/// The words of a full hashing queue (503), shared by the page and the API error.
fn overloaded_message(retry_after: i64) -> String {
    format!(
        "latchkey is checking more passwords than it can right now. Nothing was checked or counted; wait {retry_after} seconds and try again."
    )
}

impl PageError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self {
            retry_after: None,
            status: StatusCode::BAD_REQUEST,
            heading: "Something is wrong with that request",
            message: message.into(),
        }
    }

    pub(crate) fn too_large() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::PAYLOAD_TOO_LARGE,
            heading: "Too much data",
            message: "The form sent more data than latchkey accepts. Nothing was changed.".into(),
        }
    }

    pub(crate) fn csrf() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::FORBIDDEN,
            heading: "This form has expired",
            message: "The page you submitted was out of date or did not come from latchkey. Go back, reload the page and try again. (latchkey needs cookies to be enabled.)".into(),
        }
    }

    pub(crate) fn cross_origin(origin: &str, expected: &str) -> Self {
        Self {
            retry_after: None,
            status: StatusCode::FORBIDDEN,
            heading: "Form refused",
            message: format!(
                "A form was submitted from {origin}, but latchkey only accepts forms from {expected} (LATCHKEY_PUBLIC_URL). Nothing was changed."
            ),
        }
    }

    pub(crate) fn not_found() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::NOT_FOUND,
            heading: "Page not found",
            message: "There is no page at this address.".into(),
        }
    }

    pub(crate) fn link_invalid() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::GONE,
            heading: "This link cannot be used",
            message: "The link is invalid, has expired, was replaced by a newer one or was already used. Nothing was changed.".into(),
        }
    }

    pub(crate) fn internal() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            heading: "Something went wrong on our side",
            message: "latchkey could not complete the request and nothing was changed. Try again in a moment.".into(),
        }
    }
}

/// A refusal of the service as the console and the API both show it: the status, the stable
/// API error code, the page heading and the words. The API and the console take their
/// wording from here, so the two never disagree.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    heading: &'static str,
    message: String,
}

fn refusal(error: &ServiceError) -> Option<Refusal> {
    let (status, code, heading, message): (_, _, _, Cow<'static, str>) = match error {
        ServiceError::RecoveryAlreadyStarted => (
            StatusCode::CONFLICT,
            "recovery_already_started",
            "Already started",
            "Sign-in with alternative factors was already started from this sign-in. Continue it, or sign in with your password again to start over.".into(),
        ),
        ServiceError::RecoveryBudget => (
            StatusCode::TOO_MANY_REQUESTS,
            "recovery_budget",
            "Too many attempts",
            "Sign-in with alternative factors was started too many times for this account today. Nothing was sent. Try again tomorrow, or contact the operator.".into(),
        ),
        ServiceError::RecoveryBlocked => (
            StatusCode::FORBIDDEN,
            "recovery_blocked",
            "Alternative factors are blocked",
            "Sign-in with alternative factors is blocked for this account because its owner reported a sign-in they did not make (This wasn't me). To lift the block, reset the password with Forgot password? and then sign in with an MFA device the account had before; or ask the operator.".into(),
        ),
        ServiceError::RecoveryScope => (
            StatusCode::FORBIDDEN,
            "recovery_session_scope",
            "Not available in this session",
            "You signed in with alternative factors. This session can only replace MFA devices (remove the lost one, activate a new one), change the password and sign out. Activate a new MFA device, then sign out and sign in with it to do anything else.".into(),
        ),
        ServiceError::ContactChangeNeedsMfa => (
            StatusCode::FORBIDDEN,
            "contact_change_needs_mfa",
            "MFA needed",
            "Changing the email address or the phone number needs a sign-in with an MFA device, because they are what sign-in with alternative factors relies on. Activate an MFA device, sign out, and sign in with it.".into(),
        ),
        ServiceError::ContactChangeNeedsFreshSignIn => (
            StatusCode::FORBIDDEN,
            "recent_mfa_sign_in_required",
            "Sign in again",
            "Changing the email address or the phone number needs a sign-in with your MFA device within the last 15 minutes. Sign out, sign in with your MFA device, and try again.".into(),
        ),
        ServiceError::ContactChangeBudget => (
            StatusCode::TOO_MANY_REQUESTS,
            "contact_change_budget",
            "Too many changes",
            "This account asked for too many changes of its email address or phone number today. Nothing was sent. Try again tomorrow.".into(),
        ),
        ServiceError::ContactRestoreTaken => (
            StatusCode::CONFLICT,
            "contact_restore_taken",
            "Nothing was undone",
            "The email address this account had is now another latchkey account's, so the change could not be undone and nothing was changed. Contact the operator of this latchkey; the link keeps working until it expires.".into(),
        ),
        ServiceError::ContactChangeGone => (
            StatusCode::CONFLICT,
            "contact_change_gone",
            "No change waiting",
            "No change of the email address or phone number is waiting: it was completed, replaced by a newer one, cancelled, or it expired. Start again from Security credentials.".into(),
        ),
        ServiceError::ContactCoolingOff { until } => (
            StatusCode::FORBIDDEN,
            "contact_cooling_off",
            "Not available yet",
            format!(
                "The account's email address or phone number was changed recently, so sign-in with alternative factors is not available until {} UTC. If you still have an MFA device, sign in with it.",
                latchkey_service::password_reset::format_time(*until)
            )
            .into(),
        ),
        ServiceError::SessionNotFound => (
            StatusCode::NOT_FOUND,
            "session_not_found",
            "Session not found",
            "That session has already ended, or it is not one of this account's sessions. The list shows the sessions that are live now.".into(),
        ),
        ServiceError::CallBudget => (
            StatusCode::TOO_MANY_REQUESTS,
            "call_budget",
            "No more calls for now",
            "No more verification calls can be placed for now. Nothing was called. Wait a while before trying again; if this keeps happening, contact the operator.".into(),
        ),
        ServiceError::CallFlowGone => (
            StatusCode::CONFLICT,
            "call_not_available",
            "No call now",
            "This sign-in is not waiting for a phone call any more. Reload the page to see where it stands.".into(),
        ),
        ServiceError::AccountLocked => (
            StatusCode::FORBIDDEN,
            "account_locked",
            "Locked",
            "Too many failed attempts were made on this account from here. Reset the password with Forgot password? to unlock it.".into(),
        ),
        ServiceError::AccountDisabled => (
            StatusCode::FORBIDDEN,
            "account_disabled",
            "Account disabled",
            "This account has been disabled by the administrator of this service. Nothing was changed; contact them to have it enabled again.".into(),
        ),
        ServiceError::AccountGone => (
            StatusCode::CONFLICT,
            "account_gone",
            "No such account",
            "The account no longer exists. Nothing was changed.".into(),
        ),
        ServiceError::AccountIdUnavailable => (
            StatusCode::CONFLICT,
            "account_id_unavailable",
            "Try again",
            "An account number could not be allocated. Nothing was created; try again.".into(),
        ),
        ServiceError::DeviceLimit => (
            StatusCode::CONFLICT,
            "device_limit",
            "Too many MFA devices",
            format!("This account already has {MAX_DEVICES} MFA devices, the most it can have. Remove one before activating another.").into(),
        ),
        ServiceError::NoSecurityKey => (
            StatusCode::CONFLICT,
            "no_security_key",
            "No security key",
            "This account has no security key. Sign in with an MFA code, or with alternative factors.".into(),
        ),
        ServiceError::SecretUnreadable => (
            StatusCode::CONFLICT,
            "secret_unreadable",
            "Cannot read this device",
            "This device's secret cannot be read with the server key in use. Nothing was changed; tell the operator (the server key may have been replaced).".into(),
        ),
        ServiceError::PhoneAlreadyVerified => (
            StatusCode::CONFLICT,
            "phone_already_verified",
            "Already verified",
            "This phone number is already verified.".into(),
        ),
        ServiceError::PhoneNotVerified => (
            StatusCode::CONFLICT,
            "phone_not_verified",
            "Phone not verified",
            "This account's phone number was never verified, so it cannot be used to sign in. Contact the operator.".into(),
        ),
        ServiceError::RecoveryWrongStep => (
            StatusCode::CONFLICT,
            "recovery_wrong_step",
            "Not yet",
            "That step is not available now: finish the current step first.".into(),
        ),
        ServiceError::RecoveryEmailLimit => (
            StatusCode::CONFLICT,
            "recovery_email_limit",
            "No more emails",
            "No more verification emails can be sent for this sign-in. Use the link in the last email, or start again later.".into(),
        ),
        ServiceError::RecoveryCallLimit => (
            StatusCode::CONFLICT,
            "recovery_call_limit",
            "No more calls",
            "No more calls can be placed for this sign-in. Start again from the sign-in page; if this keeps happening, contact the operator.".into(),
        ),
        _ => return None,
    };
    Some(Refusal {
        status,
        code,
        heading,
        message: message.into_owned(),
    })
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        if let Some(refused) = refusal(&error) {
            return Self {
                retry_after: None,
                status: refused.status,
                heading: refused.heading,
                message: refused.message,
            };
        }
        match error {
            ServiceError::CallDestination(refused) => Self {
                retry_after: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
                heading: "This number cannot be called",
                message: format!(
                    "{}. Ask the operator to change the account's phone number.",
                    crate::wording::destination(&refused)
                ),
            },
            ServiceError::Invalid(fields) => {
                PageError::bad_request(crate::wording::fields(&fields))
            }
            ServiceError::SecurityKeysUnavailable(why) => Self {
                retry_after: None,
                status: StatusCode::CONFLICT,
                heading: "Security keys are not available",
                message: format!("Security keys are not available on this server: {why}."),
            },
            ServiceError::LinkInvalid => Self::link_invalid(),
            ServiceError::TooManyAttempts { retry_after } => Self {
                retry_after: Some(retry_after),
                status: StatusCode::TOO_MANY_REQUESTS,
                heading: "Too many attempts",
                message: format!("There were too many attempts from your network. Nothing was checked; wait {retry_after} seconds and try again."),
            },
            ServiceError::Overloaded { retry_after } => Self {
                retry_after: Some(retry_after),
                status: StatusCode::SERVICE_UNAVAILABLE,
                heading: "Busy",
                message: overloaded_message(retry_after),
            },
            ServiceError::RecoveryExpired => Self {
                retry_after: None,
                status: StatusCode::GONE,
                heading: "Sign in again",
                message: "This sign-in with alternative factors has ended (it expired, was completed or was stopped). Nothing was changed; start again from the sign-in page.".into(),
            },
            ServiceError::SignInExpired => Self {
                retry_after: None,
                status: StatusCode::GONE,
                heading: "Sign in again",
                message: "This sign-in took too long or was already completed. Nothing was changed; start again from the sign-in page.".into(),
            },
            other => {
                tracing::error!(error = %chain(&other), "request failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = MessagePage::plain(
            self.heading,
            vec![self.message],
            Some(("/", "Go to latchkey")),
        );
        let mut response = (self.status, Html(page.render_html())).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// The single error shape of the JSON API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiErrorDetail {
    /// A stable, machine-readable code such as `invalid_request` or `invalid_credentials`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Per-field problems, for `invalid_request`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ApiFieldError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiFieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: ApiErrorBody,
    /// Seconds, for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<i64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiErrorBody {
                error: ApiErrorDetail {
                    code: code.into(),
                    message: message.into(),
                    fields: Vec::new(),
                },
            },
            retry_after: None,
        }
    }

    pub(crate) fn forbidden(code: &str, message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "A valid session token is required (Authorization: Bearer …).",
        )
    }

    pub(crate) fn invalid(fields: Vec<FieldError>) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "Some fields are invalid.",
        );
        error.body.error.fields = fields
            .into_iter()
            .map(|f| ApiFieldError {
                field: f.field.to_owned(),
                message: crate::wording::problem(&f.problem),
            })
            .collect();
        error
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        if let Some(refused) = refusal(&error) {
            return Self::new(refused.status, refused.code, refused.message);
        }
        match error {
            ServiceError::CallDestination(refused) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "call_destination",
                format!("{}.", crate::wording::destination(&refused)),
            ),
            ServiceError::Invalid(fields) => Self::invalid(fields),
            ServiceError::SecurityKeysUnavailable(why) => Self::new(
                StatusCode::CONFLICT,
                "security_keys_unavailable",
                format!("Security keys are not available on this server: {why}."),
            ),
            ServiceError::LinkInvalid => Self::new(
                StatusCode::GONE,
                "link_invalid",
                "The token is invalid, has expired, was replaced or was already used.",
            ),
            ServiceError::TooManyAttempts { retry_after } => {
                let mut error = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("Too many attempts from your network; wait {retry_after} seconds."),
                );
                error.retry_after = Some(retry_after);
                error
            }
            ServiceError::Overloaded { retry_after } => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    overloaded_message(retry_after),
                );
                error.retry_after = Some(retry_after);
                error
            }
            ServiceError::RecoveryExpired => Self::new(
                StatusCode::GONE,
                "recovery_expired",
                "The recovery flow expired, was completed or was cancelled; start again.",
            ),
            ServiceError::SignInExpired => Self::new(
                StatusCode::GONE,
                "sign_in_expired",
                "The sign-in attempt expired or was already completed; sign in with the password again.",
            ),
            other => {
                tracing::error!(error = %chain(&other), "API request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The request failed and nothing was changed; try again.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests;
