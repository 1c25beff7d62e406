//! `Create a new account` and the emailed verification link.
//!
//! Following the link shows a confirmation button rather than verifying on `GET`: mail
//! scanners and link previews open links, and a `GET` must never change state.

use crate::csrf::EmptyForm;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latchkey_domain::token::TokenPurpose;
use latchkey_service::ServiceError;
use latchkey_service::accounts::SignUpRequest;

use super::{TokenForm, TokenQuery};
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::links::paths;
use crate::page::{MessagePage, Page, render};
use crate::{AppState, cookies};
use axum::Router;
use axum::routing::{get, post};
use latchkey_domain::calls::CallStatus;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/signup", get(page).post(submit))
        .route(paths::VERIFY_SIGN_UP, get(verify_page).post(verify_submit))
        .route("/signup/phone", get(phone_page))
        .route("/signup/phone/call", post(phone_call))
}

pub(super) struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub hint: &'static str,
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sign_up.html")]
struct SignUpPage {
    page: Page,
    fields: Vec<Field>,
}

#[derive(serde::Deserialize, Default)]
pub(super) struct SignUpForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    account_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    phone: String,
}

fn fields(form: &SignUpForm, errors: &[latchkey_service::FieldError]) -> Vec<Field> {
    let error = |field: &str| super::field_error(errors, field);
    vec![
        Field {
            name: "email",
            label: "Root user email address",
            kind: "email",
            autocomplete: "email",
            hint: "We will send a link to verify it.",
            value: form.email.clone(),
            error: error("email"),
        },
        Field {
            name: "account_name",
            label: "Account name",
            kind: "text",
            autocomplete: "organization",
            hint: "A name for the account, such as your company or project.",
            value: form.account_name.clone(),
            error: error("account_name"),
        },
        // The password is never sent back into the page.
        Field {
            name: "password",
            label: "Password",
            kind: "password",
            autocomplete: "new-password",
            hint: "At least 12 characters; long passphrases are welcome.",
            value: String::new(),
            error: error("password"),
        },
        Field {
            name: "phone",
            label: "Phone number",
            kind: "tel",
            autocomplete: "tel",
            hint: "In international form, such as +44 20 7946 0958. Used to call you if you lose your MFA device.",
            value: form.phone.clone(),
            error: error("phone"),
        },
    ]
}

pub(super) async fn page(page: Page) -> Response {
    render(&SignUpPage {
        page,
        fields: fields(&SignUpForm::default(), &[]),
    })
    .into_response()
}

pub(super) async fn submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<SignUpForm>,
) -> Result<Response, PageError> {
    let request = SignUpRequest {
        email: form.email.clone(),
        account_name: form.account_name.clone(),
        password: form.password.clone(),
        phone: form.phone.clone(),
    };
    match state.service.sign_up(&request, &ctx).await {
        Ok(receipt) => Ok(render(&MessagePage::new(
            page,
            "Check your email",
            vec![
                format!("We sent an email to {}. Open the link in it within 24 hours to finish creating your account.", receipt.email),
                "If this address already has a latchkey account, the email says so instead, and nothing was created.".to_owned(),
            ],
            Some((paths::SIGN_IN, "Go to sign in")),
        ))
        .into_response()),
        Err(ServiceError::Invalid(errors)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&SignUpPage { page: page.with_error("Please correct the fields marked below."), fields: fields(&form, &errors) }),
        )
            .into_response()),
        Err(error @ ServiceError::AccountIdUnavailable) => {
            let refused = crate::error::PageError::from(error);
            Ok((
                refused.status,
                render(&SignUpPage { page: page.with_error(refused.message), fields: fields(&form, &[]) }),
            )
                .into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
pub(super) struct ConfirmPage {
    pub page: Page,
    pub heading: &'static str,
    pub explanation: &'static str,
    pub action: &'static str,
    pub button: &'static str,
    pub token: String,
}

pub(super) async fn verify_page(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    super::require_live_link(&state, &query.token, TokenPurpose::VerifyEmail).await?;
    Ok(render(&ConfirmPage {
        page,
        heading: "Verify your email address",
        explanation: "Confirm that this email address belongs to you to finish creating your latchkey account.",
        action: "/signup/verify",
        button: "Verify email address",
        token: query.token,
    })
    .into_response())
}

pub(super) async fn verify_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    let verified = state.service.verify_email(&form.token, &ctx).await?;
    if let Some(token) = verified.continue_token {
        return Ok(continue_to_phone(&state, &token));
    }
    Ok(render(&MessagePage::new(
        page,
        "Email address verified",
        vec!["Your account is ready. Sign in with your email address and password.".to_owned()],
        Some((paths::SIGN_IN, "Sign in")),
    ))
    .into_response())
}

/// Sends the browser to the phone step, holding the sign-up's continuation token.
pub(super) fn continue_to_phone(
    state: &AppState,
    token: &latchkey_service::SecretToken,
) -> Response {
    let lifetime = latchkey_domain::token::TokenPurpose::ContinueSignUp
        .lifetime()
        .0;
    let cookie = format!(
        "{}; Max-Age={lifetime}",
        cookies::set(
            &state.web.cookie_name(cookies::SIGN_UP),
            token.expose(),
            state.web.secure_cookies
        )
    );
    (
        [(axum::http::header::SET_COOKIE, cookie)],
        axum::response::Redirect::to("/signup/phone"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "console/sign_up_phone.html")]
struct PhonePage {
    page: Page,
    waiting: bool,
    verified: bool,
    phone: String,
    code: Option<String>,
    call_status: &'static str,
}

pub(super) async fn phone_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    page: Page,
) -> Result<Response, PageError> {
    let token =
        cookies::get(&headers, &state.web.cookie_name(cookies::SIGN_UP)).unwrap_or_default();
    let view = state.service.sign_up_phone_view(&token).await?;
    let code = super::call_code(&state, &headers).filter(|_| view.call_status.is_some());
    let call_live = matches!(
        view.call_status,
        Some(CallStatus::Queued | CallStatus::Dialling | CallStatus::Placed)
    );
    let call_status = super::call_status_text(view.call_status);
    Ok(render(&PhonePage {
        page,
        waiting: call_live && !view.verified,
        verified: view.verified,
        phone: view.phone_masked,
        code: code.filter(|_| !view.verified),
        call_status,
    })
    .into_response())
}

pub(super) async fn phone_call(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let token =
        cookies::get(&headers, &state.web.cookie_name(cookies::SIGN_UP)).unwrap_or_default();
    let code = state.service.call_for_sign_up(&token, &ctx).await?;
    let cookie = super::call_code_cookie(&state, &code.code);
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        axum::response::Redirect::to("/signup/phone"),
    )
        .into_response())
}
