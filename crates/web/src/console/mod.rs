//! The HTML console: one module per group of screens, each with the labels of SPEC §1.
//! Pages work without JavaScript.

mod contacts;
mod credentials;
mod dev;
mod events;
mod mfa;
mod password;
mod recovery;
mod security_key;
mod sessions;
mod sign_in;

pub(crate) use sign_in::DENIED_MESSAGE;
mod sign_up;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::PageError;
use crate::session::MaybeSignedIn;
use crate::{AppState, cookies};

/// The cookies a completed sign-in sets: the new session, a fresh CSRF token (nothing from
/// before the sign-in carries over), the known-device mark, and the removal of `leftovers`,
/// the cookies of the steps that led here.
/// An emailed link's page is shown only while its token is live (unused, unexpired); a
/// dead one gets the one "link invalid" page whatever the reason.
pub(crate) async fn require_live_link(
    state: &AppState,
    token: &str,
    purpose: latchkey_domain::token::TokenPurpose,
) -> Result<(), PageError> {
    if state.service.email_link_is_live(token, purpose).await? {
        Ok(())
    } else {
        Err(PageError::link_invalid())
    }
}

pub(crate) fn signed_in_cookies(
    state: &AppState,
    issued: &latchkey_service::sign_in::IssuedSession,
    leftovers: &[&str],
) -> axum::response::AppendHeaders<Vec<(axum::http::HeaderName, String)>> {
    use axum::http::header::SET_COOKIE;
    let secure = state.web.secure_cookies;
    let name = |base| state.web.cookie_name(base);
    let mut headers = vec![
        (
            SET_COOKIE,
            cookies::set(&name(cookies::SESSION), issued.token.expose(), secure),
        ),
        (
            SET_COOKIE,
            cookies::set(
                &name(cookies::CSRF),
                &crate::csrf::new_cookie_value(),
                secure,
            ),
        ),
        (SET_COOKIE, known_device_cookie(state, &issued.device_token)),
    ];
    // Applications behind forward-auth recognise a full session only (see `forward_auth`).
    if issued.kind == latchkey_domain::session::SessionKind::Full {
        headers.push((
            SET_COOKIE,
            crate::forward_auth::cookie(state, &issued.token.hash()),
        ));
    }
    for leftover in leftovers {
        headers.push((SET_COOKIE, cookies::clear(&name(leftover), secure)));
    }
    axum::response::AppendHeaders(headers)
}

/// Where a browser whose own session ended is sent when nothing else awaits it.
pub(crate) const SIGNED_OUT: &str = "/signin?signed_out=1";

/// The browser's own session ended (`Sign out`, `Sign out` on this session, RP-initiated
/// logout): its session and proxy cookies go, and a fresh CSRF cookie replaces the old one
/// (nothing from before carries over), on the way to `to`.
pub(crate) fn signed_out(state: &AppState, to: &str) -> Response {
    use axum::http::header::SET_COOKIE;
    let secure = state.web.secure_cookies;
    (
        axum::response::AppendHeaders([
            (
                SET_COOKIE,
                cookies::clear(&state.web.cookie_name(cookies::SESSION), secure),
            ),
            (SET_COOKIE, crate::forward_auth::clear(state)),
            (
                SET_COOKIE,
                cookies::set(
                    &state.web.cookie_name(cookies::CSRF),
                    &crate::csrf::new_cookie_value(),
                    secure,
                ),
            ),
        ]),
        Redirect::to(to),
    )
        .into_response()
}

/// The long-lived known-device cookie (see `latchkey_service::known_devices`).
pub(crate) fn known_device_cookie(state: &AppState, token: &str) -> String {
    format!(
        "{}; Max-Age={}",
        cookies::set(
            &state.web.cookie_name(cookies::DEVICE),
            token,
            state.web.secure_cookies
        ),
        latchkey_service::known_devices::KNOWN_DEVICE_LIFETIME.0
    )
}

/// Every console route: each module declares its own.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/console",
            get(|| async { Redirect::to(crate::return_to::DEFAULT) }),
        )
        .merge(sign_in::routes())
        .merge(recovery::routes())
        .merge(sign_up::routes())
        .merge(password::routes())
        .merge(credentials::routes())
        .merge(mfa::routes())
        .merge(security_key::routes())
        .merge(events::routes())
        .merge(sessions::routes())
        .merge(contacts::routes())
}

/// Pages of the built-in providers; mounted only while they are in use.
pub(crate) fn dev_routes() -> Router<AppState> {
    dev::routes()
}

async fn home(MaybeSignedIn(session): MaybeSignedIn) -> Response {
    match session {
        Some(_) => Redirect::to(crate::return_to::DEFAULT).into_response(),
        None => Redirect::to(crate::links::paths::SIGN_IN).into_response(),
    }
}

pub(crate) async fn not_found() -> PageError {
    PageError::not_found()
}

/// `?token=…` on an emailed link.
#[derive(serde::Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    pub token: String,
}

/// The confirmation form an emailed link's page posts: the token again.
#[derive(serde::Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub token: String,
}

/// The `Set-Cookie` value that keeps a verification call's code for the page that shows it,
/// as long as the code lives.
pub(crate) fn call_code_cookie(state: &AppState, code: &str) -> String {
    format!(
        "{}; Max-Age={}",
        cookies::set(
            &state.web.cookie_name(cookies::CALL_CODE),
            code,
            state.web.secure_cookies
        ),
        state.service.config().recovery.phone_code_lifetime.0
    )
}

/// The call code the browser holds, if it is one (six digits).
pub(crate) fn call_code(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    cookies::get(headers, &state.web.cookie_name(cookies::CALL_CODE))
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
}

/// How a verification call is doing, for the recovery and sign-up phone pages.
pub(crate) fn call_status_text(status: Option<latchkey_domain::calls::CallStatus>) -> &'static str {
    use latchkey_domain::calls::CallStatus;
    match status {
        Some(CallStatus::Queued | CallStatus::Dialling) => "calling",
        Some(CallStatus::Placed) => "ringing — answer and key the code",
        Some(CallStatus::Verified) => "verified",
        Some(CallStatus::Failed) => "the call could not be completed; use Try again",
        Some(CallStatus::Superseded) => "replaced by a newer call",
        Some(CallStatus::Ended) => "ended without the right code; use Try again",
        None => "not called yet",
    }
}

/// Every message about `field`, joined, for the line under that input.
pub(crate) fn field_error(errors: &[latchkey_service::FieldError], field: &str) -> Option<String> {
    let messages: Vec<String> = errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| crate::wording::problem(&e.problem))
        .collect();
    (!messages.is_empty()).then(|| messages.join(" "))
}
