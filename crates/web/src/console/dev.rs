//! `/dev/mailbox`: the built-in mailbox, readable in the browser.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latchkey_service::password_reset::format_time;

use crate::AppState;
use crate::error::PageError;
use crate::page::{Page, render};
use axum::Router;
use axum::routing::get;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dev/mailbox", get(mailbox))
        .route("/dev/mailbox/{id}", get(mail))
}

pub(super) struct MailRow {
    pub id: i64,
    pub received: String,
    pub to: String,
    pub subject: String,
}

#[derive(Template)]
#[template(path = "dev/mailbox.html")]
struct MailboxPage {
    page: Page,
    mails: Vec<MailRow>,
}

#[derive(Template)]
#[template(path = "dev/mail.html")]
struct MailPage {
    page: Page,
    subject: String,
    to: String,
    received: String,
    text: String,
    links: Vec<String>,
}

pub(super) async fn mailbox(
    State(state): State<AppState>,
    page: Page,
) -> Result<Response, PageError> {
    let mails = state
        .service
        .dev_mails()
        .await?
        .into_iter()
        .map(|m| MailRow {
            id: m.id,
            received: format_time(m.created_at),
            to: m.recipient,
            subject: m.subject,
        })
        .collect();
    Ok(render(&MailboxPage { page, mails }).into_response())
}

pub(super) async fn mail(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let mail = state
        .service
        .dev_mail(id)
        .await?
        .ok_or_else(PageError::not_found)?;
    // Links to latchkey itself become buttons; anything else stays text.
    let own = &state.service.config().public_url;
    let links = mail
        .text_body
        .split_whitespace()
        .filter(|word| word.starts_with(own.as_str()))
        .map(str::to_owned)
        .collect();
    Ok(render(&MailPage {
        page,
        subject: mail.subject,
        to: mail.recipient,
        received: format_time(mail.created_at),
        text: mail.text_body,
        links,
    })
    .into_response())
}
