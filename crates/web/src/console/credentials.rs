//! `Security credentials`: the account and its MFA devices (journey step 8).

use crate::links::paths;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::mfa::MAX_DEVICES;
use latchkey_domain::session::SessionKind;
use latchkey_service::password_reset::format_time;
use latchkey_service::recovery::RecoveryNoteEvent;

use super::mfa::DeviceRow;
use super::sessions::SessionRow;
use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::page::{Page, render};
use crate::session::SignedInAllowingRecovery;
use axum::Router;
use axum::routing::get;
use latchkey_service::ServiceError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(crate::return_to::DEFAULT, get(page))
        .route(
            "/console/password",
            get(password_page).post(password_submit),
        )
}

#[derive(Template)]
#[template(path = "console/security_credentials.html")]
struct CredentialsPage {
    page: Page,
    account_name: String,
    account_id: String,
    email: String,
    phone_masked: String,
    phone_verified: bool,
    devices: Vec<DeviceRow>,
    max_devices: usize,
    /// Set for a session earned with alternative factors: when it ends.
    recovery_session_ends: Option<String>,
    recoveries: Vec<(String, &'static str, String)>,
    /// The account's live sessions; empty for a recovery session, which may not see them.
    sessions: Vec<SessionRow>,
}

#[derive(serde::Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// Notices after a redirect. Only these fixed texts can appear: the query names one, it
/// cannot inject its own.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "mfa-added" => {
            Some("MFA device assigned. From now on, signing in asks for a code from it.")
        }
        "mfa-resynced" => Some("MFA device resynchronised."),
        "session-ended" => Some("That session is signed out."),
        "phone-changed" => Some(
            "Phone number changed. The account's email address was told, with a link that undoes the change.",
        ),
        "mfa-removed" => Some("MFA device removed."),
        "mfa-removed-last" => Some(
            "MFA device removed. Your account is no longer protected by MFA: activate a new MFA device.",
        ),
        _ => None,
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    mut page: Page,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let Some(overview) = state.service.credentials_overview(&session).await? else {
        return Ok(Redirect::to(paths::SIGN_IN).into_response());
    };
    let account = &overview.account;
    page.signed_in_as = Some(account.email.to_string());
    if let Some(text) = notice(done.done.as_deref()) {
        page = page.with_notice(text);
    }
    Ok(render(&CredentialsPage {
        page,
        account_name: account.name.clone(),
        account_id: account.id.to_string(),
        email: account.email.to_string(),
        phone_masked: account.phone.masked(),
        phone_verified: account.phone_verified,
        devices: overview.devices.iter().map(DeviceRow::from).collect(),
        max_devices: MAX_DEVICES,
        recovery_session_ends: (session.kind == SessionKind::AlternativeFactors)
            .then(|| format_time(session.expires_at)),
        recoveries: overview
            .recoveries
            .iter()
            .map(|n| {
                let what = match n.event {
                    RecoveryNoteEvent::Started => "started",
                    RecoveryNoteEvent::Completed => "completed",
                    RecoveryNoteEvent::Cancelled => "stopped with This wasn't me",
                };
                (format_time(n.at), what, n.client_addr.clone())
            })
            .collect(),
        sessions: overview.sessions.iter().map(SessionRow::from).collect(),
    })
    .into_response())
}

#[derive(Template)]
#[template(path = "console/change_password.html")]
struct ChangePasswordPage {
    page: Page,
    current_error: Option<String>,
    password_error: Option<String>,
}

pub(super) async fn password_page(
    SignedInAllowingRecovery(_): SignedInAllowingRecovery,
    page: Page,
) -> Response {
    render(&ChangePasswordPage {
        page,
        current_error: None,
        password_error: None,
    })
    .into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

pub(super) async fn password_submit(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ChangePasswordForm>,
) -> Result<Response, PageError> {
    let retry = |page: Page, current_error: Option<String>, password_error: Option<String>| {
        (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            render(&ChangePasswordPage {
                page,
                current_error,
                password_error,
            }),
        )
            .into_response()
    };
    if form.password != form.confirm_password {
        return Ok(retry(
            page,
            None,
            Some("The two new passwords do not match.".to_owned()),
        ));
    }
    match state
        .service
        .change_password(&session, &form.current_password, &form.password, &ctx)
        .await
    {
        Ok(()) => {
            Ok(Redirect::to("/console/security-credentials?done=password-changed").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let pick = |field: &str| {
                errors
                    .iter()
                    .find(|e| e.field == field)
                    .map(|e| crate::wording::problem(&e.problem))
            };
            Ok(retry(page, pick("current_password"), pick("password")))
        }
        Err(other) => Err(other.into()),
    }
}
