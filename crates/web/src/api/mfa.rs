//! The MFA part of the JSON API: the second sign-in step, and managing devices.

use crate::wording::CODE_DENIED;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_service::mfa::{AssignRequest, DeviceView};
use latchkey_service::mfa_sign_in::CodeOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiJson, SessionResponse};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::{Bearer, BearerAllowingRecovery};
use axum::Router;
use axum::routing::{get, post};

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeviceJson {
    /// The device identifier.
    id: String,
    /// `virtual`, `hardware` or `security_key`.
    #[serde(rename = "type")]
    kind: String,
    name: String,
    /// Unix seconds.
    created_at: i64,
    last_used_at: Option<i64>,
    /// The serial number, for hardware tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
}

impl From<&DeviceView> for DeviceJson {
    fn from(d: &DeviceView) -> Self {
        Self {
            id: d.id.to_string(),
            kind: super::values::device_type(d.kind).to_owned(),
            name: d.name.clone(),
            created_at: d.created_at.0,
            last_used_at: d.last_used_at.map(|t| t.0),
            serial: d.serial.clone(),
        }
    }
}

pub(super) fn devices_json(devices: &[DeviceView]) -> Vec<DeviceJson> {
    devices.iter().map(DeviceJson::from).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MfaRequiredResponse {
    /// Always `mfa_required`.
    status: String,
    /// Pass to `POST /api/v1/sessions/mfa` within ten minutes. Single use.
    attempt_token: String,
    expires_at: i64,
    devices: Vec<DeviceJson>,
}

impl MfaRequiredResponse {
    pub(crate) fn new(attempt_token: String, expires_at: i64, devices: Vec<DeviceJson>) -> Self {
        Self {
            status: "mfa_required".into(),
            attempt_token,
            expires_at,
            devices,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeBody {
    attempt_token: String,
    device_id: String,
    /// The code the device shows, digits only.
    code: String,
    /// As in `POST /api/v1/sessions`.
    #[serde(default)]
    device_token: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa", tag = "sessions", operation_id = "sign_in_with_code",
    summary = "Second sign-in step: an MFA code for the attempt started by POST /api/v1/sessions",
    request_body = CodeBody,
    responses(
        (status = 201, description = "Signed in", body = SessionResponse),
        (status = 401, description = "Wrong, reused or throttled code (one answer for all, `invalid_code`)", body = ApiErrorBody),
        (status = 403, description = "An operator disabled the account after the password step (`account_disabled`); no session was issued", body = ApiErrorBody),
        (status = 410, description = "The attempt expired or was completed (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "Malformed code, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many attempts from this client (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn sign_in_with_code(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.with_device_token(body.device_token.as_deref());
    match state
        .service
        .sign_in_with_code(&body.attempt_token, &body.device_id, &body.code, &ctx)
        .await?
    {
        CodeOutcome::SignedIn(issued) => {
            Ok((StatusCode::CREATED, Json(SessionResponse::from(issued))).into_response())
        }
        CodeOutcome::Denied => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            CODE_DENIED,
        )),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInResyncBody {
    attempt_token: String,
    device_id: String,
    code1: String,
    code2: String,
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa/resync", tag = "sessions", operation_id = "resync_during_sign_in",
    summary = "Troubleshoot MFA: resync a device during sign-in with two consecutive codes",
    request_body = SignInResyncBody,
    responses(
        (status = 204, description = "The device is resynchronised; sign in with its next code"),
        (status = 410, description = "The attempt expired or was completed (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "Unknown device, malformed or not consecutive codes, too many failed codes, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many attempts from this client (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn resync_during_sign_in(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignInResyncBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .resync_during_sign_in(
            &body.attempt_token,
            &body.device_id,
            &body.code1,
            &body.code2,
            &ctx,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeviceList {
    devices: Vec<DeviceJson>,
}

#[utoipa::path(get, path = "/api/v1/mfa/devices", tag = "mfa", operation_id = "list",
    summary = "The account's MFA devices",
    security(("session" = [])),
    responses(
        (status = 200, description = "The account's MFA devices", body = DeviceList),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<Json<DeviceList>, ApiError> {
    Ok(Json(DeviceList {
        devices: devices_json(&state.service.devices(&session.account_id).await?),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EnrollmentResponse {
    enrollment_id: String,
    /// Base32 secret key, for typing into an authenticator app.
    secret: String,
    /// The `otpauth://totp/…` key URI (what the QR code holds).
    otpauth_uri: String,
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/mfa/virtual", tag = "mfa", operation_id = "begin_virtual",
    summary = "Start activating a virtual MFA device: returns its secret",
    security(("session" = [])),
    responses(
        (status = 201, description = "The enrolment and its secret, to assign before `expires_at`", body = EnrollmentResponse),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 409, description = "The account already has eight MFA devices (`device_limit`), or the account is gone (`account_gone`)", body = ApiErrorBody),
    ))]
pub(super) async fn begin_virtual(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<Response, ApiError> {
    let enrollment = state.service.begin_virtual_enrollment(&session).await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentResponse {
            enrollment_id: enrollment.id.to_string(),
            secret: enrollment.secret_base32,
            otpauth_uri: enrollment.key_uri,
            expires_at: enrollment.expires_at.0,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    name: String,
    code1: String,
    code2: String,
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/mfa/virtual/{enrollment_id}", tag = "mfa", operation_id = "assign_virtual",
    summary = "Assign MFA: two consecutive codes turn the enrolment into a device",
    security(("session" = [])),
    params(("enrollment_id" = String, Path, description = "The `enrollment_id` from `POST /api/v1/mfa/virtual`")),
    request_body = AssignBody,
    responses(
        (status = 201, description = "The new MFA device", body = DeviceJson),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 409, description = "The account already has eight MFA devices (`device_limit`), or the account is gone (`account_gone`)", body = ApiErrorBody),
        (status = 410, description = "Expired or already used enrolment (`link_invalid`), or the session was signed out meanwhile (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "Invalid or taken name, malformed or not consecutive codes, a missing or wrong `password`, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full while checking `password` (`overloaded`); nothing was changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn assign_virtual(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    Client(ctx): Client,
    Path(enrollment_id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Response, ApiError> {
    let device = state
        .service
        .assign_virtual_device(
            &session,
            &latchkey_domain::EnrollmentId::new(enrollment_id),
            &AssignRequest {
                name: &body.name,
                code1: &body.code1,
                code2: &body.code2,
                password: body.password.as_deref(),
            },
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(DeviceJson::from(&device))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResyncBody {
    code1: String,
    code2: String,
}

#[utoipa::path(post, path = "/api/v1/mfa/devices/{device_id}/resync", tag = "mfa", operation_id = "resync",
    summary = "Resync a device with two consecutive codes",
    security(("session" = [])),
    params(("device_id" = String, Path, description = "The device's `id`")),
    request_body = ResyncBody,
    responses(
        (status = 204, description = "The device is resynchronised"),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 403, description = "A session signed in with alternative factors cannot resync devices (`recovery_session_scope`)", body = ApiErrorBody),
        (status = 422, description = "Unknown device, malformed or not consecutive codes, too many failed codes, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn resync(
    State(state): State<AppState>,
    Bearer(session): Bearer,
    Client(ctx): Client,
    Path(device_id): Path<String>,
    ApiJson(body): ApiJson<ResyncBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .resync_device(&session, &device_id, &body.code1, &body.code2, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoveBody {
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RemovalResponse {
    remaining_devices: usize,
    /// `true` when no device is left: only the password protects the account.
    unprotected: bool,
    /// The calling session was authorised by the removed device and has been revoked.
    signed_out: bool,
}

#[utoipa::path(post, path = "/api/v1/mfa/devices/{device_id}/remove", tag = "mfa", operation_id = "remove",
    summary = "Remove a device; sessions it authorised are revoked",
    security(("session" = [])),
    params(("device_id" = String, Path, description = "The device's `id`")),
    request_body = RemoveBody,
    responses(
        (status = 200, description = "Removed; sessions the device authorised are signed out", body = RemovalResponse),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 410, description = "The account has no such device (any more) (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "A missing or wrong `password`, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full while checking `password` (`overloaded`); nothing was changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn remove(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    Client(ctx): Client,
    Path(device_id): Path<String>,
    ApiJson(body): ApiJson<RemoveBody>,
) -> Result<Json<RemovalResponse>, ApiError> {
    let removal = state
        .service
        .remove_device(&session, &device_id, body.password.as_deref(), &ctx)
        .await?;
    Ok(Json(RemovalResponse {
        remaining_devices: removal.remaining,
        unprotected: removal.remaining == 0,
        signed_out: removal.signed_out,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HardwareBody {
    /// The serial number printed on the token (it must have been imported).
    serial: String,
    #[serde(default)]
    name: String,
    code1: String,
    code2: String,
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/mfa/hardware", tag = "mfa", operation_id = "assign_hardware",
    summary = "Other hardware MFA device: bind an imported token by serial number and two consecutive codes",
    security(("session" = [])),
    request_body = HardwareBody,
    responses(
        (status = 201, description = "The new MFA device", body = DeviceJson),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 409, description = "The account already has eight MFA devices (`device_limit`), or the account is gone (`account_gone`)", body = ApiErrorBody),
        (status = 410, description = "The session was signed out meanwhile (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "No free imported token with this serial, an invalid or taken name, malformed or not consecutive codes, a missing or wrong `password`, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full while checking `password` (`overloaded`); nothing was changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn assign_hardware(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    Client(ctx): Client,
    ApiJson(body): ApiJson<HardwareBody>,
) -> Result<Response, ApiError> {
    let request = AssignRequest {
        name: &body.name,
        code1: &body.code1,
        code2: &body.code2,
        password: body.password.as_deref(),
    };
    let device = state
        .service
        .assign_hardware_device(&session, &body.serial, &request, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(DeviceJson::from(&device))).into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions/mfa", post(sign_in_with_code))
        .route("/sessions/mfa/resync", post(resync_during_sign_in))
        .route("/mfa/devices", get(list))
        .route("/mfa/virtual", post(begin_virtual))
        .route("/mfa/virtual/{enrollment_id}", post(assign_virtual))
        .route("/mfa/devices/{device_id}/resync", post(resync))
        .route("/mfa/devices/{device_id}/remove", post(remove))
        .route("/mfa/hardware", post(assign_hardware))
}
