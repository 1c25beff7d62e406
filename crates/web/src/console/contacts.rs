//! Account details → `Edit` the root user email address or the phone number, the pages the
//! new address's link and the old contact's `This wasn't me` link open.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_service::ServiceError;
use latchkey_service::password_reset::format_time;
use latchkey_service::store::CallStatus;

use super::{TokenForm, TokenQuery};
use crate::AppState;
use crate::client::Client;
use crate::csrf::{ConsoleForm, EmptyForm};
use crate::error::PageError;
use crate::links::paths;
use crate::page::{MessagePage, Page, render};
use crate::session::SignedIn;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/account/email", get(email_page).post(email_submit))
        .route("/console/account/phone", get(phone_page).post(phone_submit))
        .route("/console/account/phone/verify", get(phone_verify_page))
        .route("/console/account/phone/call", post(phone_call))
        .route("/console/account/phone/confirm", post(phone_confirm))
        .route(
            paths::CONFIRM_NEW_EMAIL,
            get(confirm_email_page).post(confirm_email_submit),
        )
        .route(
            paths::REVERT_CONTACT_CHANGE,
            get(revert_page).post(revert_submit),
        )
}

#[derive(Template)]
#[template(path = "console/edit_contact.html")]
struct EditPage {
    page: Page,
    heading: &'static str,
    current: String,
    explanation: &'static str,
    action: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    hint: &'static str,
    button: &'static str,
    value: String,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct ValueForm {
    #[serde(default)]
    value: String,
}

fn email_form(page: Page, current: String, value: String, error: Option<String>) -> EditPage {
    EditPage {
        page,
        heading: "Edit root user email address",
        current,
        explanation: "We send a link to the new address; it replaces this one when you open the \
                      link. This address is told, with a link that undoes the change.",
        action: "/console/account/email",
        label: "New root user email address",
        kind: "email",
        autocomplete: "email",
        hint: "It must not be another latchkey account's address.",
        button: "Send verification link",
        value,
        error,
    }
}

fn phone_form(page: Page, current: String, value: String, error: Option<String>) -> EditPage {
    EditPage {
        page,
        heading: "Edit phone number",
        current,
        explanation: "We call the new number with a code to key in; it replaces this one once it \
                      answers and you confirm. The account's email address is told, with a link \
                      that undoes the change.",
        action: "/console/account/phone",
        label: "New phone number",
        kind: "tel",
        autocomplete: "tel",
        hint: "In international form, such as +44 20 7946 0958.",
        button: "Continue",
        value,
        error,
    }
}

/// The signed-in owner's account, for the header and the current contact; refused first
/// unless the session may change contacts.
async fn account_for_edit(
    state: &AppState,
    session: &latchkey_service::sessions::CurrentSession,
    page: &mut Page,
) -> Result<latchkey_service::store::AccountRecord, PageError> {
    state.service.may_change_contacts(session)?;
    let account = state
        .service
        .account(&session.account_id)
        .await?
        .ok_or(ServiceError::AccountGone)?;
    page.signed_in_as = Some(account.email.to_string());
    Ok(account)
}

/// The words for the one field's problems, or the refusal for anything else.
fn field_problems(error: ServiceError) -> Result<String, PageError> {
    match error {
        ServiceError::Invalid(fields) => Ok(crate::wording::fields(&fields)),
        other => Err(other.into()),
    }
}

async fn email_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
) -> Result<Response, PageError> {
    let account = account_for_edit(&state, &session, &mut page).await?;
    Ok(render(&email_form(
        page,
        account.email.to_string(),
        String::new(),
        None,
    ))
    .into_response())
}

async fn email_submit(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ValueForm>,
) -> Result<Response, PageError> {
    let account = account_for_edit(&state, &session, &mut page).await?;
    match state
        .service
        .request_email_change(&session, &form.value, &ctx)
        .await
    {
        Ok(()) => Ok(render(&MessagePage::new(
            page,
            "Check your new inbox",
            vec![
                format!(
                    "We sent a link to {}. Open it within an hour to make it the root user \
                     email address; until then the account keeps {}.",
                    form.value.trim(),
                    account.email
                ),
                "Asking again sends a new link; the earlier one stops working.".to_owned(),
            ],
            Some((crate::return_to::DEFAULT, "Back to Security credentials")),
        ))
        .into_response()),
        Err(error) => {
            let words = field_problems(error)?;
            Ok(render(&email_form(
                page,
                account.email.to_string(),
                form.value,
                Some(words),
            ))
            .into_response())
        }
    }
}

async fn phone_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
) -> Result<Response, PageError> {
    let account = account_for_edit(&state, &session, &mut page).await?;
    Ok(render(&phone_form(
        page,
        account.phone.masked(),
        String::new(),
        None,
    ))
    .into_response())
}

async fn phone_submit(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ValueForm>,
) -> Result<Response, PageError> {
    let account = account_for_edit(&state, &session, &mut page).await?;
    match state
        .service
        .request_phone_change(&session, &form.value, &ctx)
        .await
    {
        Ok(()) => Ok(Redirect::to("/console/account/phone/verify").into_response()),
        Err(error) => {
            let words = field_problems(error)?;
            Ok(render(&phone_form(
                page,
                account.phone.masked(),
                form.value,
                Some(words),
            ))
            .into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "console/phone_change.html")]
struct PhoneChangePage {
    page: Page,
    waiting: bool,
    verified: bool,
    phone: String,
    expires: String,
    code: Option<String>,
    call_status: &'static str,
}

async fn phone_verify_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
    mut page: Page,
) -> Result<Response, PageError> {
    account_for_edit(&state, &session, &mut page).await?;
    let Some(view) = state.service.phone_change_view(&session).await? else {
        return Err(ServiceError::ContactChangeGone.into());
    };
    let code = super::call_code(&state, &headers).filter(|_| view.call_status.is_some());
    let call_live = matches!(
        view.call_status,
        Some(CallStatus::Queued | CallStatus::Dialling | CallStatus::Placed)
    );
    Ok(render(&PhoneChangePage {
        page,
        waiting: call_live && !view.verified,
        verified: view.verified,
        phone: view.new_masked,
        expires: format_time(view.expires_at),
        code: code.filter(|_| !view.verified),
        call_status: super::call_status_text(view.call_status),
    })
    .into_response())
}

async fn phone_call(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    let code = state.service.call_for_phone_change(&session, &ctx).await?;
    let cookie = super::call_code_cookie(&state, &code.code);
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        Redirect::to("/console/account/phone/verify"),
    )
        .into_response())
}

async fn phone_confirm(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Client(ctx): Client,
    ConsoleForm(_): ConsoleForm<EmptyForm>,
) -> Result<Response, PageError> {
    state.service.confirm_phone_change(&session, &ctx).await?;
    Ok(Redirect::to(&format!("{}?done=phone-changed", crate::return_to::DEFAULT)).into_response())
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmLinkPage {
    page: Page,
    heading: &'static str,
    explanation: String,
    action: &'static str,
    button: &'static str,
    token: String,
}

async fn confirm_email_page(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let new_email = match state.service.new_email_for_link(&query.token).await {
        Ok(email) => email,
        Err(ServiceError::LinkInvalid) => return Err(PageError::link_invalid()),
        Err(other) => return Err(other.into()),
    };
    Ok(render(&ConfirmLinkPage {
        page,
        heading: "Confirm your new email address",
        explanation: format!(
            "Use {new_email} as the root user email address of your latchkey account? You will \
             sign in with it, and emails about the account will go to it."
        ),
        action: paths::CONFIRM_NEW_EMAIL,
        button: "Confirm new email address",
        token: query.token,
    })
    .into_response())
}

async fn confirm_email_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    match state.service.confirm_email_change(&form.token, &ctx).await {
        Ok(()) => Ok(render(&MessagePage::new(
            page,
            "Email address changed",
            vec![
                "This is now the root user email address: sign in with it from now on. The \
                 previous address was told, with a link that undoes the change."
                    .to_owned(),
            ],
            Some((crate::return_to::DEFAULT, "Security credentials")),
        ))
        .into_response()),
        // Taken by another account since the request: the words say so.
        Err(other) => Err(other.into()),
    }
}

async fn revert_page(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    if !state.service.contact_revert_is_live(&query.token).await? {
        return Err(PageError::link_invalid());
    }
    Ok(render(&ConfirmLinkPage {
        page,
        heading: "This wasn't me",
        explanation: "Undo the change? The email address and phone number go back to what the \
                      account had before it (every change of them since is undone too), MFA \
                      devices added since are removed, every session is signed out and the \
                      password is disabled: you then set a new one with Forgot password?."
            .to_owned(),
        action: paths::REVERT_CONTACT_CHANGE,
        button: "Undo the change",
        token: query.token,
    })
    .into_response())
}

async fn revert_submit(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<TokenForm>,
) -> Result<Response, PageError> {
    let restored = state
        .service
        .revert_contact_change(&form.token, &ctx)
        .await?;
    let mut paragraphs = Vec::new();
    if let Some(email) = restored.email {
        paragraphs.push(format!("The root user email address is {email} again."));
    }
    if let Some(phone) = restored.phone {
        paragraphs.push(format!("The phone number is {phone} again."));
    }
    paragraphs.push(
        "Every session was signed out and the password was disabled: whoever made the change \
         knew it. Set a new password with Forgot password? (the link goes to the account's \
         email address), then sign in with your MFA device and check Security credentials."
            .to_owned(),
    );
    Ok(render(&MessagePage::new(
        page,
        "Change undone",
        paragraphs,
        Some((paths::FORGOT_PASSWORD, "Forgot password?")),
    ))
    .into_response())
}
