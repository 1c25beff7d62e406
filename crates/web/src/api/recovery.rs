//! `Sign in using alternative factors` over JSON. The flow token returned at the start is
//! passed in each body (it plays the console's `latchkey_recovery` cookie); the emailed link's
//! token and the phone call work as in the console.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiJson, SessionResponse, TokenBody};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use axum::Router;
use axum::routing::post;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    /// The `attempt_token` from `POST /api/v1/sessions` (202): the password was verified.
    attempt_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StartResponse {
    /// Pass as `recovery_token` to the other recovery calls. Single flow, 30 minutes.
    recovery_token: String,
    expires_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FlowBody {
    recovery_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StatusResponse {
    /// `email_pending`, `email_verified` or `phone_verified`.
    state: String,
    email_masked: String,
    phone_masked: String,
    emails_left: u32,
    calls_left: u32,
    /// `queued`, `dialling`, `placed`, `verified`, `failed`, `superseded` or `ended`; `null` before the first call.
    call_status: Option<String>,
    expires_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallResponse {
    /// Show this to the person: they key it into the phone when the call comes.
    code: String,
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/recovery", tag = "recovery", operation_id = "start",
    summary = "Troubleshoot MFA → Sign in using alternative factors: start the flow",
    request_body = StartBody,
    responses(
        (status = 201, description = "The flow started; the owner is told by email", body = StartResponse),
        (status = 403, description = "Blocked by the owner with This wasn't me (`recovery_blocked`)", body = ApiErrorBody),
        (status = 409, description = "A flow was already started from this sign-in attempt (`recovery_already_started`)", body = ApiErrorBody),
        (status = 410, description = "The attempt expired or was completed (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many flows were started for this account lately (`recovery_budget`)", body = ApiErrorBody),
    ))]
pub(super) async fn start(
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

#[utoipa::path(post, path = "/api/v1/recovery/status", tag = "recovery", operation_id = "recovery_status",
    summary = "Where the flow is (poll it while waiting for the email link or the call)",
    request_body = FlowBody,
    responses(
        (status = 200, description = "Where the flow is", body = StatusResponse),
        (status = 410, description = "The flow expired, was completed or was stopped (`recovery_expired`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn status(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<FlowBody>,
) -> Result<Json<StatusResponse>, ApiError> {
    let view = state.service.recovery_view(&body.recovery_token).await?;
    Ok(Json(StatusResponse {
        state: super::values::recovery_state(view.state).to_owned(),
        email_masked: view.email_masked,
        phone_masked: view.phone_masked,
        emails_left: view.emails_left,
        calls_left: view.calls_left,
        call_status: view
            .call_status
            .map(|s| super::values::call_status(s).to_owned()),
        expires_at: view.expires_at.0,
    }))
}

#[utoipa::path(post, path = "/api/v1/recovery/email", tag = "recovery", operation_id = "send_email",
    summary = "Step 1: Send verification email (again: the earlier link stops working)",
    request_body = FlowBody,
    responses(
        (status = 202, description = "The email is on its way"),
        (status = 409, description = "Not the step for an email now (`recovery_wrong_step`), or no more emails for this flow (`recovery_email_limit`)", body = ApiErrorBody),
        (status = 410, description = "The flow expired, was completed or was stopped (`recovery_expired`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn send_email(
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

#[utoipa::path(post, path = "/api/v1/recovery/verify-email", tag = "recovery", operation_id = "verify_recovery_email",
    summary = "Confirm the emailed link (from any client)",
    request_body = TokenBody,
    responses(
        (status = 204, description = "The email is verified; the flow moves on to the phone call"),
        (status = 410, description = "Invalid, expired, replaced or used link (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn verify_email(
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

#[utoipa::path(post, path = "/api/v1/recovery/call", tag = "recovery", operation_id = "recovery_call",
    summary = "Step 2: Call me now / Try again — returns the code to show",
    request_body = FlowBody,
    responses(
        (status = 201, description = "The call is being placed; show the code", body = CallResponse),
        (status = 409, description = "Wrong step (`recovery_wrong_step`), the flow's calls are spent (`recovery_call_limit`), or the phone number was never verified (`phone_not_verified`)", body = ApiErrorBody),
        (status = 410, description = "The flow expired, was completed or was stopped (`recovery_expired`)", body = ApiErrorBody),
        (status = 422, description = "latchkey does not call this number (`call_destination`), or the body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`, with `Retry-After`), or a call budget is spent (`call_budget`); nothing was called", body = ApiErrorBody),
    ))]
pub(super) async fn call(
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

#[utoipa::path(post, path = "/api/v1/recovery/complete", tag = "recovery", operation_id = "complete",
    summary = "Step 3: Sign in to the console — a one-hour session; other sessions are signed out",
    request_body = FlowBody,
    responses(
        (status = 201, description = "Signed in with a recovery session (one hour); every other session is signed out", body = SessionResponse),
        (status = 403, description = "Too many failed attempts from here locked the account (`account_locked`), or an operator disabled it (`account_disabled`); no session was issued", body = ApiErrorBody),
        (status = 409, description = "The email and the phone are not both verified yet (`recovery_wrong_step`)", body = ApiErrorBody),
        (status = 410, description = "The flow expired, was completed or was stopped (`recovery_expired`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn complete(
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
pub(super) struct ReportAnswer {
    /// MFA devices activated since the reported sign-in began, now removed.
    devices_removed: usize,
    /// Unix time: only an MFA device activated before this lifts the block (after a password
    /// reset by email).
    devices_before: i64,
}

#[utoipa::path(post, path = "/api/v1/recovery/cancel", tag = "recovery", operation_id = "cancel",
    summary = "This wasn't me: stop the recovery and undo it (sessions, devices added since, password); block alternative factors",
    description = "For 7 days after the flow completed or expired, once. Every session ends, every MFA device activated since the flow began is removed, pending enrolments and reset links are voided, the password is replaced by one nobody knows, and alternative factors stay blocked until a password reset by email followed by a sign-in with an older MFA device (or an operator's `account unblock-recovery`).",
    request_body = TokenBody,
    responses(
        (status = 200, description = "Undone: what was removed, and until when the block holds", body = ReportAnswer),
        (status = 410, description = "Invalid or used link, or its 7 days are over (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was undone. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn cancel(
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

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/recovery", post(start))
        .route("/recovery/status", post(status))
        .route("/recovery/email", post(send_email))
        .route("/recovery/verify-email", post(verify_email))
        .route("/recovery/call", post(call))
        .route("/recovery/complete", post(complete))
        .route("/recovery/cancel", post(cancel))
}
