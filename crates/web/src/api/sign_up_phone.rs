//! The sign-up's last step over JSON: the phone-verification call.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiJson;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use axum::Router;
use axum::routing::post;

/// Returned by sign-in when the password is right but the phone was never verified.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PhoneRequired {
    /// Always `phone_verification_required`.
    status: String,
    sign_up_token: String,
}

impl PhoneRequired {
    pub(crate) fn new(sign_up_token: String) -> Self {
        Self {
            status: "phone_verification_required".into(),
            sign_up_token,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignUpTokenBody {
    sign_up_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PhoneStatus {
    phone_masked: String,
    verified: bool,
    /// `queued`, `dialling`, `placed`, `verified`, `failed`, `superseded` or `ended`; `null` before the first call.
    call_status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PhoneCall {
    /// Show it to the person, who keys it into the phone.
    code: String,
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/accounts/phone/status", tag = "accounts", operation_id = "sign_up_phone_status",
    summary = "Whether the sign-up's phone number is verified yet",
    request_body = SignUpTokenBody,
    responses(
        (status = 200, description = "Whether the phone is verified, and the latest call's status", body = PhoneStatus),
        (status = 410, description = "Invalid or expired `sign_up_token` (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn status(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignUpTokenBody>,
) -> Result<Json<PhoneStatus>, ApiError> {
    let view = state
        .service
        .sign_up_phone_view(&body.sign_up_token)
        .await?;
    Ok(Json(PhoneStatus {
        phone_masked: view.phone_masked,
        verified: view.verified,
        call_status: view
            .call_status
            .map(|s| super::values::call_status(s).to_owned()),
    }))
}

#[utoipa::path(post, path = "/api/v1/accounts/phone/call", tag = "accounts", operation_id = "sign_up_phone_call",
    summary = "Call me now: verify the sign-up's phone number by an automated call",
    request_body = SignUpTokenBody,
    responses(
        (status = 201, description = "The call is being placed; show the code", body = PhoneCall),
        (status = 409, description = "The phone is already verified (`phone_already_verified`), or the sign-up stopped waiting for a call (`call_not_available`)", body = ApiErrorBody),
        (status = 410, description = "Invalid or expired `sign_up_token` (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "latchkey does not call this number (`call_destination`), or the body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`, with `Retry-After`), or a call budget is spent (`call_budget`); nothing was called", body = ApiErrorBody),
    ))]
pub(super) async fn call(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignUpTokenBody>,
) -> Result<Response, ApiError> {
    let code = state
        .service
        .call_for_sign_up(&body.sign_up_token, &ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PhoneCall {
            code: code.code,
            expires_at: code.expires_at.0,
        }),
    )
        .into_response())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/phone/status", post(status))
        .route("/accounts/phone/call", post(call))
}
