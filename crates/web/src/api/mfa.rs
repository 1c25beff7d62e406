//! The MFA part of the JSON API: the second sign-in step, and managing devices.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_service::mfa::{AssignRequest, DeviceView};
use latchkey_service::mfa_sign_in::{CODE_DENIED, CodeOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiJson, SessionResponse};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::{Bearer, BearerAllowingRecovery};

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceJson {
    /// The device identifier.
    id: String,
    /// `virtual` or `hardware`.
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
            id: d.id.clone(),
            kind: d.kind.as_str().to_owned(),
            name: d.name.clone(),
            created_at: d.created_at.0,
            last_used_at: d.last_used_at.map(|t| t.0),
            serial: d.serial.clone(),
        }
    }
}

pub fn devices_json(devices: &[DeviceView]) -> Vec<DeviceJson> {
    devices.iter().map(DeviceJson::from).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always `mfa_required`.
    status: String,
    /// Pass to `POST /api/v1/sessions/mfa` within ten minutes. Single use.
    attempt_token: String,
    expires_at: i64,
    devices: Vec<DeviceJson>,
}

impl MfaRequiredResponse {
    pub fn new(attempt_token: String, expires_at: i64, devices: Vec<DeviceJson>) -> Self {
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
pub struct CodeBody {
    attempt_token: String,
    device_id: String,
    /// The code the device shows, digits only.
    code: String,
    /// As in `POST /api/v1/sessions`.
    #[serde(default)]
    device_token: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa", tag = "sessions",
    summary = "Second sign-in step: an MFA code for the attempt started by POST /api/v1/sessions",
    request_body = CodeBody,
    responses(
        (status = 201, body = SessionResponse),
        (status = 401, description = "Wrong, reused or throttled code (one answer for all)", body = ApiErrorBody),
        (status = 410, description = "The attempt expired or was completed", body = ApiErrorBody),
        (status = 422, description = "Malformed code", body = ApiErrorBody),
    ))]
pub async fn sign_in_with_code(
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
pub struct SignInResyncBody {
    attempt_token: String,
    device_id: String,
    code1: String,
    code2: String,
}

#[utoipa::path(post, path = "/api/v1/sessions/mfa/resync", tag = "sessions",
    summary = "Troubleshoot MFA: resync a device during sign-in with two consecutive codes",
    request_body = SignInResyncBody,
    responses((status = 204), (status = 410, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn resync_during_sign_in(
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
pub struct DeviceList {
    devices: Vec<DeviceJson>,
}

#[utoipa::path(get, path = "/api/v1/mfa/devices", tag = "mfa",
    summary = "The account's MFA devices",
    security(("session" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = ApiErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<Json<DeviceList>, ApiError> {
    Ok(Json(DeviceList {
        devices: devices_json(&state.service.devices(&session.account_id).await?),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentResponse {
    enrollment_id: String,
    /// Base32 secret key, for typing into an authenticator app.
    secret: String,
    /// The `otpauth://totp/…` key URI (what the QR code holds).
    otpauth_uri: String,
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/mfa/virtual", tag = "mfa",
    summary = "Start activating a virtual MFA device: returns its secret",
    security(("session" = [])),
    responses((status = 201, body = EnrollmentResponse), (status = 409, description = "Eight devices already", body = ApiErrorBody)))]
pub async fn begin_virtual(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<Response, ApiError> {
    let enrollment = state.service.begin_virtual_enrollment(&session).await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentResponse {
            enrollment_id: enrollment.id,
            secret: enrollment.secret_base32,
            otpauth_uri: enrollment.key_uri,
            expires_at: enrollment.expires_at.0,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    name: String,
    code1: String,
    code2: String,
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/mfa/virtual/{enrollment_id}", tag = "mfa",
    summary = "Assign MFA: two consecutive codes turn the enrolment into a device",
    security(("session" = [])),
    params(("enrollment_id" = String, Path)),
    request_body = AssignBody,
    responses(
        (status = 201, body = DeviceJson),
        (status = 409, body = ApiErrorBody),
        (status = 410, description = "Expired or already used enrolment", body = ApiErrorBody),
        (status = 422, body = ApiErrorBody),
    ))]
pub async fn assign_virtual(
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
            &enrollment_id,
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
pub struct ResyncBody {
    code1: String,
    code2: String,
}

#[utoipa::path(post, path = "/api/v1/mfa/devices/{device_id}/resync", tag = "mfa",
    summary = "Resync a device with two consecutive codes",
    security(("session" = [])),
    params(("device_id" = String, Path)),
    request_body = ResyncBody,
    responses((status = 204), (status = 422, body = ApiErrorBody)))]
pub async fn resync(
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
pub struct RemoveBody {
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemovalResponse {
    remaining_devices: usize,
    /// `true` when no device is left: only the password protects the account.
    unprotected: bool,
    /// The calling session was authorised by the removed device and has been revoked.
    signed_out: bool,
}

#[utoipa::path(post, path = "/api/v1/mfa/devices/{device_id}/remove", tag = "mfa",
    summary = "Remove a device; sessions it authorised are revoked",
    security(("session" = [])),
    params(("device_id" = String, Path)),
    request_body = RemoveBody,
    responses((status = 200, body = RemovalResponse), (status = 410, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn remove(
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
pub struct HardwareBody {
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

#[utoipa::path(post, path = "/api/v1/mfa/hardware", tag = "mfa",
    summary = "Other hardware MFA device: bind an imported token by serial number and two consecutive codes",
    security(("session" = [])),
    request_body = HardwareBody,
    responses((status = 201, body = DeviceJson), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn assign_hardware(
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
