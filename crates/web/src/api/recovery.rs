//! `Sign in using alternative factors` over JSON. The flow token returned at the start is
//! passed in each body (it plays the console's `latchkey_recovery` cookie); the emailed link's
//! token and the phone call work as in the console.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_service::store::CallStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiJson, SessionResponse, TokenBody};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The `attempt_token` from `POST /api/v1/sessions` (202): the password was verified.
    attempt_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StartResponse {
    /// Pass as `recovery_token` to the other recovery calls. Single flow, 30 minutes.
    recovery_token: String,
    expires_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowBody {
    recovery_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// `email_pending`, `email_verified` or `phone_verified`.
    state: String,
    email_masked: String,
    phone_masked: String,
    emails_left: u32,
    calls_left: u32,
    /// `queued`, `dialling`, `placed`, `verified`, `failed`, `superseded` or `ended`; absent before the first call.
    call_status: Option<String>,
    expires_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallResponse {
    /// Show this to the person: they key it into the phone when the call comes.
    code: String,
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/recovery", tag = "recovery",
    summary = "Troubleshoot MFA → Sign in using alternative factors: start the flow",
    request_body = StartBody,
    responses((status = 201, body = StartResponse), (status = 409, description = "Blocked by the owner", body = ApiErrorBody), (status = 410, body = ApiErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    let started = state
        .service
        .start_recovery(&body.attempt_token, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(StartResponse {
            recovery_token: started.token.expose().to_owned(),
            expires_at: started.expires_at.0,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/recovery/status", tag = "recovery",
    summary = "Where the flow is (poll it while waiting for the email link or the call)",
    request_body = FlowBody,
    responses((status = 200, body = StatusResponse), (status = 410, body = ApiErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<FlowBody>,
) -> Result<Json<StatusResponse>, ApiError> {
    let view = state.service.recovery_view(&body.recovery_token).await?;
    Ok(Json(StatusResponse {
        state: view.state.as_str().to_owned(),
        email_masked: view.email_masked,
        phone_masked: view.phone_masked,
        emails_left: view.emails_left,
        calls_left: view.calls_left,
        call_status: view.call_status.map(|s: CallStatus| s.as_str().to_owned()),
        expires_at: view.expires_at.0,
    }))
}

#[utoipa::path(post, path = "/api/v1/recovery/email", tag = "recovery",
    summary = "Step 1: Send verification email (again: the earlier link stops working)",
    request_body = FlowBody,
    responses((status = 202), (status = 409, body = ApiErrorBody), (status = 410, body = ApiErrorBody)))]
pub async fn send_email(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<FlowBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .send_recovery_email(&body.recovery_token, &ctx)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/recovery/verify-email", tag = "recovery",
    summary = "Confirm the emailed link (from any client)",
    request_body = TokenBody,
    responses((status = 204), (status = 410, body = ApiErrorBody)))]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .verify_recovery_email(&body.token, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/recovery/call", tag = "recovery",
    summary = "Step 2: Call me now / Try again — returns the code to show",
    request_body = FlowBody,
    responses((status = 201, body = CallResponse), (status = 409, description = "Wrong step or call budget spent", body = ApiErrorBody), (status = 410, body = ApiErrorBody)))]
pub async fn call(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<FlowBody>,
) -> Result<Response, ApiError> {
    let code = state
        .service
        .call_for_recovery(&body.recovery_token, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CallResponse {
            code: code.code,
            expires_at: code.expires_at.0,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/recovery/complete", tag = "recovery",
    summary = "Step 3: Sign in to the console — a one-hour session; other sessions are signed out",
    request_body = FlowBody,
    responses((status = 201, body = SessionResponse), (status = 409, body = ApiErrorBody), (status = 410, body = ApiErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<FlowBody>,
) -> Result<Response, ApiError> {
    let issued = state
        .service
        .complete_recovery(&body.recovery_token, &ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(SessionResponse::from(issued))).into_response())
}

/// What `This wasn't me` undid.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportAnswer {
    /// MFA devices activated since the reported sign-in began, now removed.
    devices_removed: usize,
    /// Unix time: only an MFA device activated before this lifts the block (after a password
    /// reset by email).
    devices_before: i64,
}

#[utoipa::path(post, path = "/api/v1/recovery/cancel", tag = "recovery",
    summary = "This wasn't me: stop the recovery and undo it (sessions, devices added since, password); block alternative factors",
    description = "For 7 days after the flow completed or expired, once. Every session ends, every MFA device activated since the flow began is removed, pending enrolments and reset links are voided, the password is replaced by one nobody knows, and alternative factors stay blocked until a password reset by email followed by a sign-in with an older MFA device (or an operator's `account unblock-recovery`).",
    request_body = TokenBody,
    responses((status = 200, body = ReportAnswer), (status = 410, body = ApiErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<ReportAnswer>, ApiError> {
    let outcome = state.service.report_recovery(&body.token, &ctx).await?;
    Ok(Json(ReportAnswer {
        devices_removed: outcome.devices_removed,
        devices_before: outcome.since.0,
    }))
}
