//! Sign-in, sign-out and who is signed in.

use super::{ApiJson, mfa, sign_up_phone};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::BearerAllowingRecovery;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use latchkey_service::sign_in::SignInOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(sign_in))
        .route("/sessions/current", delete(sign_out))
        .route("/me", get(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    email: String,
    password: String,
    /// The `device_token` of this client's last complete sign-in to the same email, if any.
    /// Its attempts then wait behind no one else's and are not limited by its address.
    #[serde(default)]
    device_token: Option<String>,
}

impl From<latchkey_service::sign_in::IssuedSession> for SessionResponse {
    fn from(issued: latchkey_service::sign_in::IssuedSession) -> Self {
        Self {
            session_token: issued.token.expose().to_owned(),
            account_id: issued.account_id.to_string(),
            expires_at: issued.expires_at.0,
            device_token: issued.device_token,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionResponse {
    /// Send as `Authorization: Bearer <session_token>`. Shown once; stored only hashed.
    session_token: String,
    account_id: String,
    /// Unix seconds; the session also ends after 30 idle minutes.
    expires_at: i64,
    /// Keep it and send it as `device_token` with this client's next sign-in to the same
    /// email: it marks a known device (valid 400 days; it grants no access by itself).
    device_token: String,
}

/// The password was right but one more step is needed: which one, `status` says.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum SignInNextStep {
    /// `mfa_required`: an MFA code, a security key, or alternative factors.
    Mfa(mfa::MfaRequiredResponse),
    /// `phone_verification_required`: the sign-up's phone call was never completed.
    Phone(sign_up_phone::PhoneRequired),
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", operation_id = "sign_in",
    summary = "Sign in as the root user with email and password",
    request_body = SignInBody,
    responses(
        (status = 201, description = "Signed in (the account has no MFA device)", body = SessionResponse),
        (status = 202, description = "Password accepted; an MFA code is needed next (`mfa_required`), or the sign-up's phone call (`phone_verification_required`)", body = SignInNextStep),
        (status = 401, description = "Wrong email or password (one answer for both, `invalid_credentials`)", body = ApiErrorBody),
        (status = 403, description = "`recovery_blocked`: This wasn't me blocked the account and it has no MFA device left; an operator unblocks it. `account_disabled`: the password is right but an operator disabled the account (`latchkey account disable`)", body = ApiErrorBody),
        (status = 422, description = "A password longer than any latchkey accepts, or a body that does not match the schema (`invalid_request`); nothing was checked", body = ApiErrorBody),
        (status = 429, description = "Too many attempts from this client (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was checked or counted. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.with_device_token(body.device_token.as_deref());
    match state
        .service
        .sign_in_with_password(&body.email, &body.password, &ctx)
        .await?
    {
        SignInOutcome::SignedIn(issued) => {
            Ok((StatusCode::CREATED, Json(SessionResponse::from(issued))).into_response())
        }
        SignInOutcome::MfaRequired(pending) => Ok((
            StatusCode::ACCEPTED,
            Json(SignInNextStep::Mfa(mfa::MfaRequiredResponse::new(
                pending.attempt.expose().to_owned(),
                pending.expires_at.0,
                mfa::devices_json(&pending.devices),
            ))),
        )
            .into_response()),
        SignInOutcome::Denied => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            crate::console::DENIED_MESSAGE,
        )),
        SignInOutcome::PhoneNotVerified(token) => Ok((
            StatusCode::ACCEPTED,
            Json(SignInNextStep::Phone(sign_up_phone::PhoneRequired::new(
                token.expose().to_owned(),
            ))),
        )
            .into_response()),
    }
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions", operation_id = "sign_out",
    summary = "Sign out: the session is revoked",
    security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
    ))]
pub(super) async fn sign_out(
    State(state): State<AppState>,
    Client(ctx): Client,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<StatusCode, ApiError> {
    state.service.sign_out(&session, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeResponse {
    account_id: String,
    account_name: String,
    email: String,
    email_verified: bool,
    /// All but the last two digits hidden.
    phone_masked: String,
    phone_verified: bool,
    session_expires_at: i64,
    mfa_devices: Vec<mfa::DeviceJson>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "sessions", operation_id = "me",
    summary = "Who am I: the account behind the session",
    security(("session" = [])),
    responses(
        (status = 200, description = "The account and its MFA devices", body = MeResponse),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
    ))]
pub(super) async fn me(
    State(state): State<AppState>,
    BearerAllowingRecovery(session): BearerAllowingRecovery,
) -> Result<Json<MeResponse>, ApiError> {
    let account = state
        .service
        .account(&session.account_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(MeResponse {
        account_id: account.id.to_string(),
        account_name: account.name,
        email: account.email.to_string(),
        email_verified: account.email_verified_at.is_some(),
        phone_masked: account.phone.masked(),
        phone_verified: account.phone_verified_at.is_some(),
        session_expires_at: session.expires_at.0,
        mfa_devices: mfa::devices_json(&state.service.devices(&account.id).await?),
    }))
}
