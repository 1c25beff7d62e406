//! `Security credentials`: the account and its MFA devices (journey step 8).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::error::PageError;
use crate::page::{Page, render};
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "console/security_credentials.html")]
struct CredentialsPage {
    page: Page,
    account_name: String,
    account_id: String,
    email: String,
    phone_masked: String,
    phone_verified: bool,
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
) -> Result<Response, PageError> {
    let Some(account) = state.service.account(&session.account_id).await? else {
        return Ok(Redirect::to("/signin").into_response());
    };
    page.signed_in_as = Some(account.email.to_string());
    Ok(render(&CredentialsPage {
        page,
        account_name: account.name,
        account_id: account.id.to_string(),
        email: account.email.to_string(),
        phone_masked: account.phone.masked(),
        phone_verified: account.phone_verified_at.is_some(),
    })
    .into_response())
}
