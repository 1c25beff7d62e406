//! `Sign in using alternative factors` in the console (journey steps 4–7), the emailed link's
//! page, and `This wasn't me`.
//!
//! The flow's token lives in the `latchkey_recovery` cookie; the 6-digit code of the current
//! call lives only in the `latchkey_call_code` cookie of the browser that asked for it (the
//! server keeps an HMAC). While waiting on the email link or the call, the page refreshes
//! itself every few seconds (a `<meta>` refresh: no JavaScript), and a reload works too.

use crate::csrf::EmptyForm;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::calls::CallStatus;
use latchkey_domain::recovery::RecoveryState;
use latchkey_service::password_reset::format_time;
use latchkey_service::recovery_report::{ReportContext, ReportOutcome};

use super::{TokenForm, TokenQuery};
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::links::paths;
use crate::page::{MessagePage, Page, render};
use crate::{AppState, cookies};
use axum::Router;
use axum::routing::{get, post};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/signin/recovery", get(page).post(start))
        .route("/signin/recovery/email", post(send_email))
        .route("/signin/recovery/call", post(call))
        .route("/signin/recovery/complete", post(complete))
        .route(paths::RECOVERY_EMAIL, get(email_link).post(email_confirm))
        .route("/recovery/email/report", post(email_report))
        .route(
            paths::CANCEL_RECOVERY,
            get(cancel_link).post(cancel_confirm),
        )
}

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

pub(super) async fn start(
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
    Ok(back_to_recovery(cookie))
}

/// Back to the recovery page, carrying what the step just set (the flow, the call's code).
fn back_to_recovery(cookie: String) -> Response {
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/signin/recovery"),
    )
        .into_response()
}

pub(super) async fn page(
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
        Some(CallStatus::Queued | CallStatus::Dialling | CallStatus::Placed)
    );
    let code = (email_done && !phone_done && view.calls_placed > 0)
        .then(|| super::call_code(&state, &headers))
        .flatten();
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

pub(super) async fn send_email(
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

pub(super) async fn call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let code = state
        .service
        .call_for_recovery(&flow_cookie(&state, &headers), &ctx)
        .await?;
    Ok(back_to_recovery(super::call_code_cookie(
        &state, &code.code,
    )))
}

pub(super) async fn complete(
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
            // A recovery session only replaces devices: it never follows a continuation.
            &[
                cookies::RECOVERY,
                cookies::CALL_CODE,
                cookies::ATTEMPT,
                cookies::RETURN_TO,
            ],
        ),
        Redirect::to(crate::return_to::DEFAULT),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "console/recovery_link.html")]
struct RecoveryLinkPage {
    page: Page,
    heading: &'static str,
    explanation: &'static str,
    started: String,
    started_from: String,
    started_agent: String,
    confirm_action: Option<&'static str>,
    confirm_button: &'static str,
    report_action: &'static str,
    token: String,
}

impl RecoveryLinkPage {
    fn new(page: Page, context: &ReportContext, token: String) -> Self {
        Self {
            page,
            heading: "",
            explanation: "",
            started: format_time(context.started_at),
            started_from: context.started_from.clone(),
            started_agent: if context.started_agent.is_empty() {
                "unknown".to_owned()
            } else {
                context.started_agent.clone()
            },
            confirm_action: None,
            confirm_button: "",
            report_action: "/recovery/cancel",
            token,
        }
    }
}

/// The emailed link: when and from where the sign-in began, a confirmation button (a `GET`
/// never changes state, and mail scanners that open links must not be able to complete
/// step 1 for whoever started the flow), and `This wasn't me`.
pub(super) async fn email_link(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let Some(context) = state.service.recovery_link_context(&query.token).await? else {
        return Err(PageError::link_invalid());
    };
    Ok(render(&RecoveryLinkPage {
        heading: "Confirm your email address",
        explanation: "Someone is signing in to your latchkey account with alternative factors: the password, then this email address and the account's phone number instead of an MFA device. Confirm only if it is you; then return to the sign-in page, which moves on to the phone call.",
        confirm_action: Some("/recovery/email"),
        confirm_button: "Confirm email address",
        report_action: "/recovery/email/report",
        ..RecoveryLinkPage::new(page, &context, query.token)
    })
    .into_response())
}

pub(super) async fn email_confirm(
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

pub(super) async fn cancel_link(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let Some(context) = state.service.report_link(&query.token).await? else {
        return Err(PageError::link_invalid());
    };
    let explanation = if context.completed {
        "This sign-in with alternative factors reached the console. If it was not you, say so: everything done since it began is undone."
    } else {
        "Someone started to sign in to your account with alternative factors. If it was not you, say so: the sign-in is stopped."
    };
    Ok(render(&RecoveryLinkPage {
        heading: "Was this you?",
        explanation,
        ..RecoveryLinkPage::new(page, &context, query.token)
    })
    .into_response())
}

fn reported_page(page: Page, outcome: &ReportOutcome) -> Response {
    let removed = match outcome.devices_removed {
        0 => "No MFA device had been added since it began.".to_owned(),
        1 => "The MFA device added since it began was removed.".to_owned(),
        n => format!("The {n} MFA devices added since it began were removed."),
    };
    render(&MessagePage::new(
        page,
        "Sign-in stopped",
        vec![
            format!("The sign-in with alternative factors was stopped and every session of the account was signed out. {removed}"),
            "Your password was disabled, because whoever started that sign-in knew it. Sign-in with alternative factors is blocked.".to_owned(),
            format!(
                "To get back in: choose Forgot password? and set a new password from the emailed link, then sign in with an MFA device you had before {} UTC; that lifts the block. If you have no such device, ask the operator of this latchkey.",
                format_time(outcome.since)
            ),
        ],
        Some(("/password/forgot", "Forgot password?")),
    ))
    .into_response()
}

pub(super) async fn cancel_confirm(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    let outcome = state.service.report_recovery(&form.token, &ctx).await?;
    Ok(reported_page(page, &outcome))
}

/// `This wasn't me` on the emailed verification link's own page.
pub(super) async fn email_report(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    let outcome = state
        .service
        .report_recovery_by_email_link(&form.token, &ctx)
        .await?;
    Ok(reported_page(page, &outcome))
}
