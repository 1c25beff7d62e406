//! Sign-up and email verification.

use super::ApiJson;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use latchkey_service::accounts::SignUpRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", post(sign_up))
        .route("/accounts/verify-email", post(verify_email))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUpBody {
    email: String,
    account_name: String,
    password: String,
    /// In international form, such as `+442079460958`.
    phone: String,
}

/// The same answer whether or not the address already had an account (its owner is emailed
/// instead): sign-up does not tell who has one. The account id comes with the verified email.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignUpResponse {
    email: String,
    /// `pending_verification`: follow the emailed link.
    status: String,
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", operation_id = "sign_up",
    summary = "Create a new account; a verification link is emailed",
    description = "Answers 201 the same way, at the same cost, whether or not the address already has an account; an existing owner is emailed about the attempt (at most once a day) instead of receiving a link.",
    request_body = SignUpBody,
    responses(
        (status = 201, description = "Accepted: a verification link is emailed (or the address's owner is told, when it already has an account)", body = SignUpResponse),
        (status = 422, description = "Invalid fields (`invalid_request`, with `fields`)", body = ApiErrorBody),
        (status = 429, description = "Too many requests from this client's network (`too_many_attempts`); nothing was done. `Retry-After` says when to try again", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was done. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn sign_up(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<Response, ApiError> {
    let request = SignUpRequest {
        email: body.email,
        account_name: body.account_name,
        password: body.password,
        phone: body.phone,
    };
    let receipt = state.service.sign_up(&request, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignUpResponse {
            email: receipt.email.to_string(),
            status: "pending_verification".into(),
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    /// The `token` parameter of the emailed link.
    pub(super) token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountIdResponse {
    account_id: String,
    /// Present while the phone number still needs its verification call: pass it to
    /// `POST /api/v1/accounts/phone/call`. The account exists once the call succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_up_token: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/accounts/verify-email", tag = "accounts", operation_id = "verify_email",
    summary = "Follow the sign-up link: the email is verified and the account becomes active",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The email is verified; `sign_up_token` is present while the phone still needs its call", body = AccountIdResponse),
        (status = 410, description = "Invalid, expired or used link (`link_invalid`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn verify_email(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<AccountIdResponse>, ApiError> {
    let verified = state.service.verify_email(&body.token, &ctx).await?;
    Ok(Json(AccountIdResponse {
        account_id: verified.account_id.to_string(),
        sign_up_token: verified.continue_token.map(|t| t.expose().to_owned()),
    }))
}
