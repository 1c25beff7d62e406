//! Journey steps 1–2: `Root user` and email, then `Password`; and `Sign out`.
//!
//! The email step makes no database query, and the password step answers an unknown email
//! exactly as it answers a wrong password: same page, same status, no cookie.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use latchkey_domain::EmailAddress;
use latchkey_service::sign_in::SignInOutcome;
use latchkey_service::{SecretToken, ServiceError};

use crate::client::Client;
use crate::csrf::{ConsoleForm, new_cookie_value};
use crate::error::PageError;
use crate::page::{MessagePage, Page, render};
use crate::session::MaybeSignedIn;
use crate::{AppState, cookies};

/// The message for every failed password sign-in, whatever the reason.
pub const DENIED_MESSAGE: &str = "Your authentication information is incorrect. Please try again.";

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
pub struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

pub async fn email_page(
    MaybeSignedIn(session): MaybeSignedIn,
    page: Page,
    Query(query): Query<SignInQuery>,
) -> Response {
    if session.is_some() {
        return Redirect::to("/console/security-credentials").into_response();
    }
    let page = match query.signed_out {
        Some(_) => page.with_notice("You have signed out."),
        None => page,
    };
    render(&EmailStep {
        page,
        email: String::new(),
        email_error: None,
    })
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn email_submit(page: Page, ConsoleForm(form): ConsoleForm<EmailForm>) -> Response {
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
                email_error: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    headers: HeaderMap,
    ConsoleForm(form): ConsoleForm<PasswordForm>,
) -> Result<Response, PageError> {
    let session_cookie = state.web.cookie_name(cookies::SESSION);
    let previous =
        cookies::get(&headers, &session_cookie).and_then(|t| SecretToken::from_presented(&t));
    let outcome = state
        .service
        .sign_in_with_password(&form.email, &form.password, previous.as_ref(), &ctx)
        .await;
    let email = form.email.trim().to_lowercase();
    match outcome {
        Ok(SignInOutcome::SignedIn(issued)) => {
            let secure = state.web.secure_cookies;
            // A new session and a new CSRF cookie: nothing from before the sign-in carries over.
            let csrf_cookie = cookies::set(&state.web.cookie_name(cookies::CSRF), &new_cookie_value(), secure);
            let session = cookies::set(&session_cookie, issued.token.expose(), secure);
            Ok((
                AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, csrf_cookie)]),
                Redirect::to("/console/security-credentials"),
            )
                .into_response())
        }
        Ok(SignInOutcome::Denied) => Ok((
            StatusCode::UNAUTHORIZED,
            render(&PasswordStep { page: page.with_error(DENIED_MESSAGE), email }),
        )
            .into_response()),
        Ok(SignInOutcome::EmailNotVerified) => Ok((
            StatusCode::FORBIDDEN,
            render(&MessagePage::new(
                page,
                "Verify your email address first",
                vec![
                    "This account was created but its email address has not been verified yet. Open the link in the email we sent when you signed up.".to_owned(),
                    "If the link has expired, create the account again.".to_owned(),
                ],
                Some(("/signup", "Create a new account")),
            )),
        )
            .into_response()),
        Err(ServiceError::Invalid(fields)) => {
            let message = fields.into_iter().map(|f| f.message).collect::<Vec<_>>().join(" ");
            Ok((StatusCode::BAD_REQUEST, render(&PasswordStep { page: page.with_error(message), email })).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct EmptyForm {}

pub async fn sign_out(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    if let Some(session) = session {
        state.service.sign_out(&session, &ctx).await?;
    }
    let secure = state.web.secure_cookies;
    Ok((
        AppendHeaders([
            (
                header::SET_COOKIE,
                cookies::clear(&state.web.cookie_name(cookies::SESSION), secure),
            ),
            (
                header::SET_COOKIE,
                cookies::set(
                    &state.web.cookie_name(cookies::CSRF),
                    &new_cookie_value(),
                    secure,
                ),
            ),
        ]),
        Redirect::to("/signin?signed_out=1"),
    )
        .into_response())
}
