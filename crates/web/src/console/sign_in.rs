//! Journey steps 1–2: `Root user` and email, then `Password`; and `Sign out`.
//!
//! The email step makes no database query, and the password step answers an unknown email
//! exactly as it answers a wrong password: same page, same status, no cookie.

use crate::csrf::EmptyForm;
use crate::wording::CODE_DENIED;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::EmailAddress;
use latchkey_domain::session::SessionKind;
use latchkey_service::ServiceError;
use latchkey_service::mfa_sign_in::CodeOutcome;
use latchkey_service::sign_in::SignInOutcome;

use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::links::paths;
use crate::page::{Page, render};
use crate::return_to::{self, ReturnTo};
use crate::session::MaybeSignedIn;
use crate::{AppState, cookies};
use axum::Router;
use axum::routing::{get, post};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::SIGN_IN, get(email_page).post(email_submit))
        .route("/signin/password", post(password_submit))
        .route("/signin/mfa", get(mfa_page).post(mfa_submit))
        .route("/signin/mfa/troubleshoot", get(troubleshoot_page))
        .route("/signin/mfa/resync", post(resync_submit))
        .route("/signout", post(sign_out))
}

/// The message for every failed password sign-in, whatever the reason.
pub(crate) const DENIED_MESSAGE: &str =
    "Your authentication information is incorrect. Please try again.";

#[derive(Template)]
#[template(path = "console/sign_in_email.html")]
struct EmailStep {
    page: Page,
    email: String,
    email_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sign_in_password.html")]
struct PasswordStep {
    page: Page,
    email: String,
}

#[derive(serde::Deserialize)]
pub(super) struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
    /// The page to return to once signed in (see `return_to`).
    #[serde(default)]
    return_to: Option<String>,
    /// An application asked for a fresh sign-in (OpenID Connect `prompt=login`, `max_age`):
    /// the form is shown even to a signed-in browser, whose session the sign-in replaces.
    #[serde(default)]
    reauth: Option<String>,
}

pub(super) async fn email_page(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    headers: HeaderMap,
    page: Page,
    Query(query): Query<SignInQuery>,
) -> Response {
    let return_to = query
        .return_to
        .as_deref()
        .and_then(|raw| ReturnTo::parse_for(raw, &state.web));
    if let Some(session) = session.filter(|_| query.reauth.is_none() || return_to.is_none()) {
        // A recovery session may only replace devices: it never follows a continuation.
        return match (&return_to, session.kind) {
            // Signed in already: straight on, with the proxy cookie an application behind
            // forward-auth needs (the browser may have signed in before it was set).
            (Some(to), SessionKind::Full) => (
                [(
                    header::SET_COOKIE,
                    crate::forward_auth::cookie(&state, &session.token_hash),
                )],
                Redirect::to(to.as_str()),
            )
                .into_response(),
            _ => Redirect::to(return_to::DEFAULT).into_response(),
        };
    }
    // A sign-in remembers where it was asked to go; one opened without that forgets an older
    // continuation.
    let continuation = match &return_to {
        Some(to) => Some(to.cookie(&state)),
        None => cookies::get(&headers, &state.web.cookie_name(cookies::RETURN_TO)).map(|_| {
            cookies::clear(
                &state.web.cookie_name(cookies::RETURN_TO),
                state.web.secure_cookies,
            )
        }),
    };
    let page = match query.signed_out.as_deref() {
        Some("device-removed") => page.with_notice(
            "The MFA device was removed. This session had signed in with it, so it was signed out too: sign in again.",
        ),
        Some(_) => page.with_notice("You have signed out."),
        None => page,
    };
    let html = render(&EmailStep {
        page,
        email: String::new(),
        email_error: None,
    });
    match continuation {
        Some(cookie) => ([(header::SET_COOKIE, cookie)], html).into_response(),
        None => html.into_response(),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn email_submit(
    page: Page,
    ConsoleForm(form): ConsoleForm<EmailForm>,
) -> Response {
    match EmailAddress::parse(&form.email) {
        Ok(email) => render(&PasswordStep {
            page,
            email: email.to_string(),
        })
        .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            render(&EmailStep {
                page,
                email: form.email,
                email_error: Some(crate::wording::problem(&e.into())),
            }),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn password_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<PasswordForm>,
) -> Result<Response, PageError> {
    let outcome = state
        .service
        .sign_in_with_password(&form.email, &form.password, &ctx)
        .await;
    let email = form.email.trim().to_lowercase();
    match outcome {
        Ok(SignInOutcome::SignedIn(issued)) => Ok((
            super::signed_in_cookies(&state, &issued, &[cookies::RETURN_TO]),
            Redirect::to(&return_to::after_sign_in(&state, &headers)),
        )
            .into_response()),
        Ok(SignInOutcome::MfaRequired(pending)) => {
            let cookie = format!(
                "{}; Max-Age={}",
                cookies::set(
                    &state.web.cookie_name(cookies::ATTEMPT),
                    pending.attempt.expose(),
                    state.web.secure_cookies
                ),
                latchkey_domain::mfa::SIGN_IN_ATTEMPT_LIFETIME.0
            );
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/signin/mfa")).into_response())
        }
        Ok(SignInOutcome::Denied) => Ok((
            StatusCode::UNAUTHORIZED,
            render(&PasswordStep {
                page: page.with_error(DENIED_MESSAGE),
                email,
            }),
        )
            .into_response()),
        Ok(SignInOutcome::PhoneNotVerified(token)) => {
            Ok(super::sign_up::continue_to_phone(&state, &token))
        }
        Err(ServiceError::Invalid(fields)) => {
            let message = crate::error::field_messages(fields);
            Ok((
                StatusCode::BAD_REQUEST,
                render(&PasswordStep {
                    page: page.with_error(message),
                    email,
                }),
            )
                .into_response())
        }
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    if let Some(session) = session {
        state.service.sign_out(&session, &ctx).await?;
    }
    Ok(super::signed_out(&state, super::SIGNED_OUT))
}

#[derive(Template)]
#[template(path = "console/mfa_code.html")]
struct MfaPage {
    page: Page,
    has_security_key: bool,
    devices: Vec<super::mfa::DeviceRow>,
    selected: String,
    code_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/troubleshoot.html")]
struct TroubleshootPage {
    page: Page,
    devices: Vec<super::mfa::DeviceRow>,
    selected: String,
    code_error: Option<String>,
}

fn attempt_cookie(state: &AppState, headers: &HeaderMap) -> String {
    cookies::get(headers, &state.web.cookie_name(cookies::ATTEMPT)).unwrap_or_default()
}

/// The MFA page (or the troubleshoot page) for the attempt in the browser's cookie.
async fn mfa_step(
    state: &AppState,
    headers: &HeaderMap,
    page: Page,
    selected: &str,
    code_error: Option<String>,
    status: StatusCode,
    troubleshoot: bool,
) -> Result<Response, PageError> {
    let challenge = state
        .service
        .mfa_challenge(&attempt_cookie(state, headers))
        .await?;
    // Code devices get the code form; security keys get `Use security key`.
    let has_security_key = challenge.devices.iter().any(|d| !d.kind.uses_codes());
    let devices: Vec<super::mfa::DeviceRow> = challenge
        .devices
        .iter()
        .filter(|d| d.kind.uses_codes())
        .map(super::mfa::DeviceRow::from)
        .collect();
    let selected = if devices.iter().any(|d| d.id == selected) {
        selected.to_owned()
    } else {
        devices.first().map(|d| d.id.clone()).unwrap_or_default()
    };
    let html = if troubleshoot {
        render(&TroubleshootPage {
            page,
            devices,
            selected,
            code_error,
        })
    } else {
        render(&MfaPage {
            page,
            has_security_key,
            devices,
            selected,
            code_error,
        })
    };
    Ok((status, html).into_response())
}

pub(super) async fn mfa_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
    Query(query): Query<MfaQuery>,
) -> Result<Response, PageError> {
    let page = match query.resynced {
        Some(_) => page.with_notice("Your MFA device was resynchronised. Enter its current code."),
        None => page,
    };
    mfa_step(&state, &headers, page, "", None, StatusCode::OK, false).await
}

#[derive(serde::Deserialize)]
pub(super) struct MfaQuery {
    #[serde(default)]
    resynced: Option<String>,
}

#[derive(serde::Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    code: String,
}

pub(super) async fn mfa_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<CodeForm>,
) -> Result<Response, PageError> {
    let attempt = attempt_cookie(&state, &headers);
    match state
        .service
        .sign_in_with_code(&attempt, &form.device_id, &form.code, &ctx)
        .await
    {
        Ok(CodeOutcome::SignedIn(issued)) => Ok((
            super::signed_in_cookies(&state, &issued, &[cookies::ATTEMPT, cookies::RETURN_TO]),
            Redirect::to(&return_to::after_sign_in(&state, &headers)),
        )
            .into_response()),
        Ok(CodeOutcome::Denied) => {
            mfa_step(
                &state,
                &headers,
                page.with_error(CODE_DENIED),
                &form.device_id,
                None,
                StatusCode::UNAUTHORIZED,
                false,
            )
            .await
        }
        Err(ServiceError::Invalid(fields)) => {
            let message = crate::error::field_messages(fields);
            mfa_step(
                &state,
                &headers,
                page,
                &form.device_id,
                Some(message),
                StatusCode::BAD_REQUEST,
                false,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn troubleshoot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
) -> Result<Response, PageError> {
    mfa_step(&state, &headers, page, "", None, StatusCode::OK, true).await
}

#[derive(serde::Deserialize)]
pub(super) struct ResyncForm {
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    code1: String,
    #[serde(default)]
    code2: String,
}

pub(super) async fn resync_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ResyncForm>,
) -> Result<Response, PageError> {
    let attempt = attempt_cookie(&state, &headers);
    match state
        .service
        .resync_during_sign_in(&attempt, &form.device_id, &form.code1, &form.code2, &ctx)
        .await
    {
        Ok(()) => Ok(Redirect::to("/signin/mfa?resynced=1").into_response()),
        Err(ServiceError::Invalid(fields)) => {
            let message = crate::error::field_messages(fields);
            mfa_step(
                &state,
                &headers,
                page,
                &form.device_id,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
                true,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}
