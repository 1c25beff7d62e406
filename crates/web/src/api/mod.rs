//! The JSON API under `/api/v1/`: the same use cases as the console, for programs.
//!
//! Authentication is by bearer token (the session token returned at sign-in), never by
//! cookie, so the API needs no CSRF token: a browser on another site cannot attach the
//! header. Every error has one shape, [`ApiErrorBody`](crate::error::ApiErrorBody).

mod mfa;
mod openapi;
mod recovery;
mod security_keys;
mod sign_up_phone;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use latchkey_service::accounts::SignUpRequest;
use latchkey_service::sign_in::SignInOutcome;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::BearerAllowingRecovery;

pub use openapi::openapi_document;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/accounts", post(sign_up))
        .route("/accounts/verify-email", post(verify_email))
        .route("/accounts/phone/status", post(sign_up_phone::status))
        .route("/accounts/phone/call", post(sign_up_phone::call))
        .route("/sessions", post(sign_in))
        .route("/sessions/current", delete(sign_out))
        .route("/sessions/mfa", post(mfa::sign_in_with_code))
        .route("/sessions/mfa/resync", post(mfa::resync_during_sign_in))
        .route("/mfa/devices", get(mfa::list))
        .route("/mfa/virtual", post(mfa::begin_virtual))
        .route("/mfa/virtual/{enrollment_id}", post(mfa::assign_virtual))
        .route("/mfa/devices/{device_id}/resync", post(mfa::resync))
        .route("/mfa/devices/{device_id}/remove", post(mfa::remove))
        .route("/mfa/hardware", post(mfa::assign_hardware))
        .route(
            "/mfa/security-keys/options",
            post(security_keys::registration_options),
        )
        .route("/mfa/security-keys", post(security_keys::register))
        .route(
            "/sessions/webauthn/options",
            post(security_keys::sign_in_options),
        )
        .route("/sessions/webauthn", post(security_keys::sign_in))
        .route("/recovery", post(recovery::start))
        .route("/recovery/status", post(recovery::status))
        .route("/recovery/email", post(recovery::send_email))
        .route("/recovery/verify-email", post(recovery::verify_email))
        .route("/recovery/call", post(recovery::call))
        .route("/recovery/complete", post(recovery::complete))
        .route("/recovery/cancel", post(recovery::cancel))
        .route("/me", get(me))
        .route("/password/forgot", post(forgot_password))
        .route("/password/reset", post(reset_password))
        .route("/password/change", post(change_password))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such API endpoint.")
        })
}

/// A JSON body parsed into `T`, with every failure in the API's own error shape.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
                    _ => "malformed_json",
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
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
async fn sign_up(
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
    token: String,
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
async fn verify_email(
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
        (status = 403, description = "recovery_blocked: This wasn't me blocked the account and it has no MFA device left; an operator unblocks it", body = ApiErrorBody),
        (status = 422, description = "A password longer than any latchkey accepts, or a body that does not match the schema (`invalid_request`); nothing was checked", body = ApiErrorBody),
        (status = 429, description = "Too many attempts from this client (`too_many_attempts`); nothing was checked. `Retry-After` says when to try again", body = ApiErrorBody),
        (status = 503, description = "The password-hashing queue is full (`overloaded`); nothing was checked or counted. `Retry-After` says when to try again", body = ApiErrorBody),
    ))]
async fn sign_in(
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
async fn sign_out(
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
async fn me(
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
async fn forgot_password(
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
async fn reset_password(
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
async fn change_password(
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
