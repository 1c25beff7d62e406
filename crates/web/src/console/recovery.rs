//! `Sign in using alternative factors` in the console (journey steps 4–7), the emailed link's
//! page, and `This wasn't me`.
//!
//! The flow's token lives in the `latchkey_recovery` cookie; the 6-digit code of the current
//! call lives only in the `latchkey_call_code` cookie of the browser that asked for it (the
//! server keeps an HMAC). While waiting on the email link or the call, the page refreshes
//! itself every few seconds (a `<meta>` refresh: no JavaScript), and a reload works too.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::recovery::RecoveryState;
use latchkey_service::password_reset::format_time;
use latchkey_service::store::CallStatus;

use super::TokenQuery;
use super::sign_up::ConfirmPage;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::page::{MessagePage, Page, render};
use crate::{AppState, cookies};

#[derive(Template)]
#[template(path = "console/recovery.html")]
struct RecoveryPage {
    page: Page,
    waiting: bool,
    expires: String,
    email: String,
    phone: String,
    email_done: bool,
    phone_done: bool,
    emails_sent: u32,
    emails_left: u32,
    calls_placed: u32,
    calls_left: u32,
    code: Option<String>,
    call_status: &'static str,
}

fn flow_cookie(state: &AppState, headers: &HeaderMap) -> String {
    cookies::get(headers, &state.web.cookie_name(cookies::RECOVERY)).unwrap_or_default()
}

fn with_max_age(cookie: String, seconds: i64) -> String {
    format!("{cookie}; Max-Age={seconds}")
}

#[derive(serde::Deserialize)]
pub struct EmptyForm {}

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let attempt =
        cookies::get(&headers, &state.web.cookie_name(cookies::ATTEMPT)).unwrap_or_default();
    let started = state.service.start_recovery(&attempt, &ctx).await?;
    let lifetime = state.service.config().recovery.flow_lifetime.0;
    let cookie = with_max_age(
        cookies::set(
            &state.web.cookie_name(cookies::RECOVERY),
            started.token.expose(),
            state.web.secure_cookies,
        ),
        lifetime,
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/signin/recovery"),
    )
        .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Page,
) -> Result<Response, PageError> {
    let view = state
        .service
        .recovery_view(&flow_cookie(&state, &headers))
        .await?;
    let email_done = !matches!(view.state, RecoveryState::EmailPending);
    let phone_done = matches!(
        view.state,
        RecoveryState::PhoneVerified | RecoveryState::Completed
    );
    let call_live = matches!(
        view.call_status,
        Some(CallStatus::Queued | CallStatus::Placed)
    );
    let code = (email_done && !phone_done && view.calls_placed > 0)
        .then(|| cookies::get(&headers, &state.web.cookie_name(cookies::CALL_CODE)))
        .flatten()
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
    let call_status = super::call_status_text(view.call_status);
    let waiting = (!email_done && view.emails_sent > 0) || (email_done && !phone_done && call_live);
    Ok(render(&RecoveryPage {
        page,
        waiting,
        expires: format_time(view.expires_at),
        email: view.email_masked,
        phone: view.phone_masked,
        email_done,
        phone_done,
        emails_sent: view.emails_sent,
        emails_left: view.emails_left,
        calls_placed: view.calls_placed,
        calls_left: view.calls_left,
        code,
        call_status,
    })
    .into_response())
}

pub async fn send_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    state
        .service
        .send_recovery_email(&flow_cookie(&state, &headers), &ctx)
        .await?;
    Ok(Redirect::to("/signin/recovery").into_response())
}

pub async fn call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let code = state
        .service
        .call_for_recovery(&flow_cookie(&state, &headers), &ctx)
        .await?;
    let lifetime = state.service.config().recovery.phone_code_lifetime.0;
    let cookie = with_max_age(
        cookies::set(
            &state.web.cookie_name(cookies::CALL_CODE),
            &code.code,
            state.web.secure_cookies,
        ),
        lifetime,
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/signin/recovery"),
    )
        .into_response())
}

pub async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let issued = state
        .service
        .complete_recovery(&flow_cookie(&state, &headers), &ctx)
        .await?;
    Ok((
        super::signed_in_cookies(
            &state,
            &issued,
            &[cookies::RECOVERY, cookies::CALL_CODE, cookies::ATTEMPT],
        ),
        Redirect::to("/console/security-credentials"),
    )
        .into_response())
}

/// The emailed link: a confirmation button (a `GET` never changes state, and mail scanners
/// that open links must not be able to complete step 1 for whoever started the flow).
pub async fn email_link(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    if !state.service.recovery_link_is_live(&query.token).await? {
        return Err(PageError::link_invalid());
    }
    Ok(render(&ConfirmPage {
        page,
        heading: "Confirm your email address",
        explanation: "You are signing in to latchkey with alternative factors. Confirm that this email address is yours; then return to the sign-in page, which moves on to the phone call.",
        action: "/recovery/email",
        button: "Confirm email address",
        token: query.token,
    })
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

pub async fn email_confirm(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    state
        .service
        .verify_recovery_email(&form.token, &ctx)
        .await?;
    Ok(render(&MessagePage::new(
        page,
        "Email address verified",
        vec!["Step 1 is done. Go back to the sign-in page (in the browser where you started): it has moved on to Step 2, the phone call.".to_owned()],
        None,
    ))
    .into_response())
}

pub async fn cancel_link(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    if !state.service.cancel_link_is_valid(&query.token).await? {
        return Err(PageError::link_invalid());
    }
    Ok(render(&ConfirmPage {
        page,
        heading: "This wasn't me",
        explanation: "End this sign-in with alternative factors, sign out every session of the account, and block sign-in with alternative factors until you sign in with an MFA device. Then change your password: someone knows it.",
        action: "/recovery/cancel",
        button: "This wasn't me",
        token: query.token,
    })
    .into_response())
}

pub async fn cancel_confirm(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    state.service.cancel_recovery(&form.token, &ctx).await?;
    Ok(render(&MessagePage::new(
        page,
        "Recovery stopped",
        vec![
            "The sign-in with alternative factors was ended and every session of the account was signed out. Sign-in with alternative factors stays blocked until you sign in with an MFA device.".to_owned(),
            "Someone knows your password: change it now with Forgot password?.".to_owned(),
        ],
        Some(("/password/forgot", "Change password")),
    ))
    .into_response())
}
