//! Forgot password, reset and change.

use super::ApiJson;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::BearerAllowingRecovery;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/password/forgot", post(forgot_password))
        .route("/password/reset", post(reset_password))
        .route("/password/change", post(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotBody {
    email: String,
}

#[utoipa::path(post, path = "/api/v1/password/forgot", tag = "password", operation_id = "forgot_password",
    summary = "Email a password-reset link, if the address has an account (same answer either way)",
    request_body = ForgotBody,
    responses(
        (status = 202, description = "Accepted: a link is emailed if the address has an active account (the same answer either way)"),
        (status = 422, description = "Not an email address, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`); nothing was done. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn forgot_password(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ForgotBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .request_password_reset(&body.email, &ctx)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    token: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/password/reset", tag = "password", operation_id = "reset_password",
    summary = "Set a new password with the emailed token; MFA is not affected and every session is signed out",
    request_body = ResetBody,
    responses(
        (status = 200, description = "The password is set and every session is signed out", body = ResetResponse),
        (status = 410, description = "Invalid, expired, replaced or used token (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "The new password is not acceptable, or the body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`); nothing was done. `Retry-After` says when to try again", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<Json<ResetResponse>, ApiError> {
    let device_token = state
        .service
        .reset_password(&body.token, &body.password, &ctx)
        .await?;
    Ok(Json(ResetResponse { device_token }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResetResponse {
    /// Whoever finished the reset proved control of the email: send this as `device_token`
    /// with the next `POST /api/v1/sessions` to be judged on a failure counter of your own.
    device_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/api/v1/password/change", tag = "password", operation_id = "change_password",
    summary = "Change the password from a session; every other session is signed out",
    security(("session" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed; every other session is signed out"),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 410, description = "The session was signed out while the change was under way (`sign_in_expired`); nothing was changed", body = ApiErrorBody),
        (status = 422, description = "The current password is wrong or was tried too often from here, the new one is not acceptable, or the body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was checked or changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .change_password(&session, &body.current_password, &body.new_password, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
