//! `Security key`: registering a WebAuthn authenticator on Security credentials, and
//! `Use security key` on the MFA page. The pages carry the small script that runs the
//! ceremonies; the script talks to these JSON endpoints with the page's CSRF token.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use latchkey_service::mfa_sign_in::CodeOutcome;
use serde::Deserialize;
use serde_json::json;

use crate::client::Client;
use crate::csrf::ConsoleJson;
use crate::error::ApiError;
use crate::page::{Page, render};
use crate::session::SignedInAllowingRecovery;
use crate::{AppState, cookies};
use axum::Router;
use axum::routing::{get, post};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/mfa/security-key", get(setup_page))
        .route(
            "/console/mfa/security-key/options",
            post(registration_options),
        )
        .route("/console/mfa/security-key/register", post(register))
        .route("/signin/mfa/webauthn/options", post(sign_in_options))
        .route("/signin/mfa/webauthn/verify", post(sign_in_verify))
}

#[derive(Template)]
#[template(path = "console/security_key_setup.html")]
struct SetupPage {
    page: Page,
    needs_password: bool,
}

pub(super) async fn setup_page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
) -> Response {
    render(&SetupPage {
        page,
        needs_password: state.service.needs_reauthentication(&session),
    })
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct NameBody {
    #[serde(default)]
    name: String,
}

pub(super) async fn registration_options(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    ConsoleJson(body): ConsoleJson<NameBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ceremony = state
        .service
        .begin_security_key_registration(&session, &body.name)
        .await?;
    Ok(Json(
        json!({"ceremony_id": ceremony.id.as_str(), "options": ceremony.options}),
    ))
}

#[derive(Deserialize)]
pub(super) struct RegisterBody {
    ceremony_id: String,
    credential: serde_json::Value,
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn register(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    Client(ctx): Client,
    ConsoleJson(body): ConsoleJson<RegisterBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let password = body.password.as_deref().filter(|p| !p.is_empty());
    state
        .service
        .finish_security_key_registration(
            &session,
            &latchkey_domain::CeremonyId::new(body.ceremony_id.as_str()),
            body.credential,
            password,
            &ctx,
        )
        .await?;
    Ok(Json(
        json!({"redirect": "/console/security-credentials?done=mfa-added"}),
    ))
}

fn attempt(state: &AppState, headers: &HeaderMap) -> String {
    cookies::get(headers, &state.web.cookie_name(cookies::ATTEMPT)).unwrap_or_default()
}

pub(super) async fn sign_in_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConsoleJson(_): ConsoleJson<crate::csrf::EmptyForm>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ceremony = state
        .service
        .begin_security_key_sign_in(&attempt(&state, &headers))
        .await?;
    Ok(Json(
        json!({"ceremony_id": ceremony.id.as_str(), "options": ceremony.options}),
    ))
}

#[derive(Deserialize)]
pub(super) struct VerifyBody {
    ceremony_id: String,
    credential: serde_json::Value,
}

pub(super) async fn sign_in_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleJson(body): ConsoleJson<VerifyBody>,
) -> Result<Response, ApiError> {
    match state
        .service
        .finish_security_key_sign_in(
            &attempt(&state, &headers),
            &latchkey_domain::CeremonyId::new(body.ceremony_id.as_str()),
            body.credential,
            &ctx,
        )
        .await?
    {
        CodeOutcome::SignedIn(issued) => Ok((
            super::signed_in_cookies(&state, &issued, &[cookies::ATTEMPT, cookies::RETURN_TO]),
            Json(json!({"redirect": crate::return_to::after_sign_in(&state, &headers)})),
        )
            .into_response()),
        CodeOutcome::Denied => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_security_key",
            "The security key was not accepted. Try again, or use another MFA device.",
        )),
    }
}
