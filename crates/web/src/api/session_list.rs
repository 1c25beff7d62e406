//! The account's sessions in JSON: the list, ending one, and ending all of them.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use latchkey_service::session_list::{SessionAuth, SessionView};
use serde::Serialize;
use utoipa::ToSchema;

use super::values;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::Bearer;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list).delete(sign_out_everywhere))
        .route("/sessions/{session_id}", delete(sign_out_one))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionJson {
    /// Pass to `DELETE /api/v1/sessions/{session_id}`. Null for a session from before
    /// sessions had ids: only `DELETE /api/v1/sessions` ends it.
    id: Option<String>,
    /// The session making this request.
    current: bool,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds (updated at most once a minute).
    last_seen_at: i64,
    /// Unix seconds; the session also ends after 30 idle minutes.
    expires_at: i64,
    /// The address it signed in from.
    client_address: String,
    user_agent: String,
    /// `password`, `mfa` or `alternative_factors`.
    authenticated_with: &'static str,
    /// With `mfa`: the device's `type` (`virtual`, `hardware`, `security_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_device_type: Option<&'static str>,
    /// With `mfa`: the device's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_device_name: Option<String>,
}

impl From<&SessionView> for SessionJson {
    fn from(s: &SessionView) -> Self {
        let (authenticated_with, device) = match &s.auth {
            SessionAuth::Password => ("password", None),
            SessionAuth::Mfa { kind, name } => ("mfa", Some((*kind, name.clone()))),
            SessionAuth::AlternativeFactors => ("alternative_factors", None),
        };
        Self {
            id: s.id.clone(),
            current: s.current,
            created_at: s.created_at.0,
            last_seen_at: s.last_seen_at.0,
            expires_at: s.expires_at.0,
            client_address: s.client_addr.clone(),
            user_agent: s.user_agent.clone(),
            authenticated_with,
            mfa_device_type: device.as_ref().map(|(kind, _)| values::device_type(*kind)),
            mfa_device_name: device.map(|(_, name)| name),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionList {
    /// Newest first; at most 100.
    sessions: Vec<SessionJson>,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", operation_id = "list_sessions",
    summary = "The account's live sessions",
    description = "Where the account is signed in now and how each session was earned. Not available to a session earned with alternative factors.",
    security(("session" = [])),
    responses(
        (status = 200, description = "The live sessions, newest first", body = SessionList),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 403, description = "A session earned with alternative factors (`recovery_session_scope`)", body = ApiErrorBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    Bearer(session): Bearer,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.service.sessions(&session).await?;
    Ok(Json(SessionList {
        sessions: sessions.iter().map(SessionJson::from).collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{session_id}", tag = "sessions",
    operation_id = "sign_out_session",
    summary = "Sign out one session of the account",
    security(("session" = [])),
    params(("session_id" = String, Path, description = "The session's `id` from `GET /api/v1/sessions`")),
    responses(
        (status = 204, description = "The session is ended (it may be the current one)"),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 403, description = "A session earned with alternative factors (`recovery_session_scope`)", body = ApiErrorBody),
        (status = 404, description = "No live session of the account has this id (`session_not_found`)", body = ApiErrorBody),
    ))]
pub(super) async fn sign_out_one(
    State(state): State<AppState>,
    Client(ctx): Client,
    Bearer(session): Bearer,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .service
        .sign_out_session(&session, &session_id, &ctx)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SignedOutEverywhere {
    /// How many sessions ended, the current one included.
    signed_out: u64,
}

#[utoipa::path(delete, path = "/api/v1/sessions", tag = "sessions",
    operation_id = "sign_out_everywhere",
    summary = "Sign out everywhere: every session of the account ends, this one too",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every session is ended", body = SignedOutEverywhere),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 403, description = "A session earned with alternative factors (`recovery_session_scope`)", body = ApiErrorBody),
    ))]
pub(super) async fn sign_out_everywhere(
    State(state): State<AppState>,
    Client(ctx): Client,
    Bearer(session): Bearer,
) -> Result<Json<SignedOutEverywhere>, ApiError> {
    let signed_out = state.service.sign_out_everywhere(&session, &ctx).await?;
    Ok(Json(SignedOutEverywhere { signed_out }))
}
