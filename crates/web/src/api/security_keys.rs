//! Security keys over JSON: the same ceremonies as the console, for clients that run
//! `navigator.credentials` themselves (or a platform API). Options come back in WebAuthn's
//! JSON form; the credential goes back the same way.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_service::mfa_sign_in::CodeOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mfa::DeviceJson;
use super::{ApiJson, SessionResponse};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::BearerAllowingRecovery;
use axum::Router;
use axum::routing::post;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CeremonyResponse {
    ceremony_id: String,
    /// `{"publicKey": …}` for `navigator.credentials.create` or `.get`, binary fields base64url.
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistrationOptionsBody {
    name: String,
}

#[utoipa::path(post, path = "/api/v1/mfa/security-keys/options", tag = "mfa", operation_id = "registration_options",
    summary = "Security key: start a registration ceremony",
    security(("session" = [])),
    request_body = RegistrationOptionsBody,
    responses(
        (status = 200, description = "The ceremony and its creation options", body = CeremonyResponse),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 409, description = "The account already has eight MFA devices (`device_limit`), or this server cannot use security keys (`security_keys_unavailable`)", body = ApiErrorBody),
        (status = 422, description = "An invalid name, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn registration_options(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    ApiJson(body): ApiJson<RegistrationOptionsBody>,
) -> Result<Json<CeremonyResponse>, ApiError> {
    let ceremony = state
        .service
        .begin_security_key_registration(&session, &body.name)
        .await?;
    Ok(Json(CeremonyResponse {
        ceremony_id: ceremony.id.to_string(),
        options: ceremony.options,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`, binary fields base64url.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// Needed when the session is more than 15 minutes old.
    #[serde(default)]
    password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/mfa/security-keys", tag = "mfa", operation_id = "register",
    summary = "Security key: finish the registration; the key becomes an MFA device",
    security(("session" = [])),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The new MFA device", body = DeviceJson),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 409, description = "The account already has eight MFA devices (`device_limit`), or this server cannot use security keys (`security_keys_unavailable`)", body = ApiErrorBody),
        (status = 410, description = "The session was signed out meanwhile (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "An expired or used ceremony, a credential that does not check out, a taken name or an already registered key, a missing or wrong `password`, or a body that does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full while checking `password` (`overloaded`); nothing was changed. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn register(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
    Client(ctx): Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let device = state
        .service
        .finish_security_key_registration(
            &session,
            &latchkey_domain::CeremonyId::new(body.ceremony_id.as_str()),
            body.credential,
            body.password.as_deref(),
            &ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(DeviceJson::from(&device))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInOptionsBody {
    attempt_token: String,
}

#[utoipa::path(post, path = "/api/v1/sessions/webauthn/options", tag = "sessions", operation_id = "sign_in_options",
    summary = "Use security key: start an authentication ceremony for the attempt",
    request_body = SignInOptionsBody,
    responses(
        (status = 200, description = "The ceremony and its request options", body = CeremonyResponse),
        (status = 409, description = "The account has no security key (`no_security_key`), or this server cannot use security keys (`security_keys_unavailable`)", body = ApiErrorBody),
        (status = 410, description = "The attempt expired or was completed (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "The body does not match the schema (`invalid_request`)", body = ApiErrorBody),
    ))]
pub(super) async fn sign_in_options(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignInOptionsBody>,
) -> Result<Json<CeremonyResponse>, ApiError> {
    let ceremony = state
        .service
        .begin_security_key_sign_in(&body.attempt_token)
        .await?;
    Ok(Json(CeremonyResponse {
        ceremony_id: ceremony.id.to_string(),
        options: ceremony.options,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecurityKeySignInBody {
    attempt_token: String,
    ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`, binary fields base64url.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// As in `POST /api/v1/sessions`.
    #[serde(default)]
    device_token: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sessions/webauthn", tag = "sessions", operation_id = "sign_in_with_security_key",
    summary = "Use security key: finish the sign-in",
    request_body = SecurityKeySignInBody,
    responses(
        (status = 201, description = "Signed in", body = SessionResponse),
        (status = 401, description = "The security key was not accepted (`invalid_security_key`)", body = ApiErrorBody),
        (status = 410, description = "The attempt expired or was completed (`sign_in_expired`)", body = ApiErrorBody),
        (status = 422, description = "The ceremony expired or was already used, or the body does not match the schema (`invalid_request`)", body = ApiErrorBody),
        (status = 429, description = "Too many attempts from this client (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SecurityKeySignInBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.with_device_token(body.device_token.as_deref());
    match state
        .service
        .finish_security_key_sign_in(
            &body.attempt_token,
            &latchkey_domain::CeremonyId::new(body.ceremony_id.as_str()),
            body.credential,
            &ctx,
        )
        .await?
    {
        CodeOutcome::SignedIn(issued) => {
            Ok((StatusCode::CREATED, Json(SessionResponse::from(issued))).into_response())
        }
        CodeOutcome::Denied => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_security_key",
            "The security key was not accepted.",
        )),
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mfa/security-keys/options", post(registration_options))
        .route("/mfa/security-keys", post(register))
        .route("/sessions/webauthn/options", post(sign_in_options))
        .route("/sessions/webauthn", post(sign_in))
}
