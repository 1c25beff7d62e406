//! The Sessions card of `Security credentials`: where the account is signed in, `Sign out`
//! on one session and `Sign out everywhere`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use latchkey_service::password_reset::format_time;
use latchkey_service::session_list::{SessionAuth, SessionEnded, SessionView};

use crate::AppState;
use crate::client::Client;
use crate::csrf::{ConsoleForm, EmptyForm};
use crate::error::PageError;
use crate::session::SignedIn;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/sessions/{session_id}/sign-out",
            post(sign_out_one),
        )
        .route(
            "/console/sessions/sign-out-everywhere",
            post(sign_out_everywhere),
        )
}

/// One line of the Sessions table.
pub(super) struct SessionRow {
    pub id: Option<String>,
    pub current: bool,
    pub created: String,
    pub last_seen: String,
    pub from: String,
    pub browser: String,
    pub how: String,
}

impl From<&SessionView> for SessionRow {
    fn from(s: &SessionView) -> Self {
        Self {
            id: s.id.clone(),
            current: s.current,
            created: format_time(s.created_at),
            last_seen: format_time(s.last_seen_at),
            from: s.client_addr.clone(),
            browser: s.user_agent.clone(),
            how: match &s.auth {
                SessionAuth::Password => "Password only".to_owned(),
                SessionAuth::Mfa { kind, name } => {
                    format!("Password and {} “{name}”", kind.label().to_lowercase())
                }
                SessionAuth::AlternativeFactors => {
                    "Alternative factors (email and phone)".to_owned()
                }
            },
        }
    }
}

async fn sign_out_one(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Client(ctx): Client,
    Path(session_id): Path<String>,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    match state
        .service
        .sign_out_session(&session, &session_id, &ctx)
        .await?
    {
        SessionEnded::This => Ok(super::signed_out(&state, super::SIGNED_OUT)),
        SessionEnded::Other => Ok(Redirect::to(&format!(
            "{}?done=session-ended#sessions",
            crate::return_to::DEFAULT
        ))
        .into_response()),
    }
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    state.service.sign_out_everywhere(&session, &ctx).await?;
    Ok(super::signed_out(&state, super::SIGNED_OUT))
}
