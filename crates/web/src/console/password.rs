//! `Forgot password?`: asking for a link, and choosing a new password from it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_domain::token::TokenPurpose;
use latchkey_service::ServiceError;

use super::TokenQuery;
use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::links::paths;
use crate::page::{MessagePage, Page, render};
use axum::Router;
use axum::routing::get;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::FORGOT_PASSWORD, get(forgot_page).post(forgot_submit))
        .route(paths::RESET_PASSWORD, get(reset_page).post(reset_submit))
}

#[derive(Template)]
#[template(path = "console/forgot_password.html")]
struct ForgotPage {
    page: Page,
    email: String,
    email_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/reset_password.html")]
struct ResetPage {
    page: Page,
    token: String,
    password_error: Option<String>,
}

pub(super) async fn forgot_page(page: Page) -> Response {
    render(&ForgotPage {
        page,
        email: String::new(),
        email_error: None,
    })
    .into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ForgotForm>,
) -> Result<Response, PageError> {
    match state.service.request_password_reset(&form.email, &ctx).await {
        Ok(()) => Ok(render(&MessagePage::new(
            page,
            "Check your email",
            vec![
                format!("If an account uses {}, we sent it a link to choose a new password. The link works for 30 minutes.", form.email.trim()),
                "Nothing arrived? Check the spelling of the address and your spam folder.".to_owned(),
            ],
            Some((paths::SIGN_IN, "Back to sign in")),
        ))
        .into_response()),
        Err(ServiceError::Invalid(errors)) => Ok((
            StatusCode::BAD_REQUEST,
            render(&ForgotPage {
                page,
                email: form.email,
                email_error: errors.first().map(|e| crate::wording::problem(&e.problem)),
            }),
        )
            .into_response()),
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn reset_page(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    super::require_live_link(&state, &query.token, TokenPurpose::ResetPassword).await?;
    Ok(render(&ResetPage {
        page,
        token: query.token,
        password_error: None,
    })
    .into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ResetForm>,
) -> Result<Response, PageError> {
    let retry = |page: Page, message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&ResetPage {
                page,
                token: form.token.clone(),
                password_error: Some(message),
            }),
        )
            .into_response()
    };
    if form.password != form.confirm_password {
        return Ok(retry(page, "The two passwords do not match.".to_owned()));
    }
    match state.service.reset_password(&form.token, &form.password, &ctx).await {
        Ok(device_token) => Ok((
            [(
                axum::http::header::SET_COOKIE,
                crate::console::known_device_cookie(&state, &device_token),
            )],
            render(&MessagePage::new(
                page,
                "Password changed",
                vec![
                    "Your password was changed and every session of the account was signed out.".to_owned(),
                    "Sign in with the new password. If the account has MFA devices, you will still need one.".to_owned(),
                ],
                Some((paths::SIGN_IN, "Sign in")),
            )),
        )
            .into_response()),
        Err(ServiceError::Invalid(errors)) => {
            Ok(retry(page, crate::wording::fields(&errors)))
        }
        Err(other) => Err(other.into()),
    }
}
