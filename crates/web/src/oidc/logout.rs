//! RP-initiated logout (`end_session_endpoint`): signs the browser out of latchkey — which
//! ends every token the session's applications hold — and sends it to the client's
//! registered `post_logout_redirect_uri` with its `state`. Without an `id_token_hint` issued
//! from this very session (its `sid`), the owner is asked first (a link on another site must
//! not sign people out silently).

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_service::sessions::CurrentSession;

use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::page::{Page, render};
use crate::session::MaybeSignedIn;

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(super) struct EndSession {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc/sign_out.html")]
struct SignOutPage {
    page: Page,
    client_name: Option<String>,
    request: String,
}

/// Where to send the browser afterwards: the registered post-logout URI with the state, or
/// latchkey's signed-out page. Also whether the hint names `session`'s account.
async fn target(
    state: &AppState,
    request: &EndSession,
    session: Option<&CurrentSession>,
) -> Result<(String, bool, Option<String>), PageError> {
    let hinted = match request.id_token_hint.as_deref() {
        Some(hint) => state.service.oidc_logout_hint(hint).await?,
        None => None,
    };
    let client = match (&hinted, request.client_id.as_deref()) {
        (Some((client, _)), Some(id)) if client.id != id => None,
        (Some((client, _)), _) => Some(client.clone()),
        (None, Some(id)) => state.service.oidc_client(id).await?,
        (None, None) => None,
    };
    // Silently only for a hint from this very session (its `sid`): an old ID token of the
    // account, or one that leaked from a URL, only gets the question.
    let matches_session = match (&hinted, session) {
        (Some((_, sid)), Some(session)) => *sid == state.service.oidc_sid(&session.token_hash),
        _ => false,
    };
    let destination = match (&client, request.post_logout_redirect_uri.as_deref()) {
        (Some(client), Some(uri)) if client.post_logout_redirect_uris.iter().any(|r| r == uri) => {
            url::Url::parse(uri).ok().map(|mut url| {
                if let Some(s) = &request.state {
                    url.query_pairs_mut().append_pair("state", s);
                }
                url.to_string()
            })
        }
        _ => None,
    };
    Ok((
        destination.unwrap_or_else(|| crate::console::SIGNED_OUT.to_owned()),
        matches_session,
        client.map(|c| c.name),
    ))
}

pub(super) async fn end_session(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Client(ctx): Client,
    page: Page,
    RawQuery(raw): RawQuery,
    Query(request): Query<EndSession>,
) -> Result<Response, PageError> {
    let (to, matches_session, client_name) = target(&state, &request, session.as_ref()).await?;
    match session {
        None => Ok(Redirect::to(&to).into_response()),
        Some(session) if matches_session => {
            state.service.sign_out(&session, &ctx).await?;
            Ok(crate::console::signed_out(&state, &to))
        }
        Some(_) => Ok(render(&SignOutPage {
            page,
            client_name,
            request: raw.unwrap_or_default(),
        })
        .into_response()),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct ConfirmForm {
    request: String,
}

pub(super) async fn confirm(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let request: EndSession = serde_urlencoded::from_str(&form.request).unwrap_or_default();
    let (to, _, _) = target(&state, &request, session.as_ref()).await?;
    if let Some(session) = session {
        state.service.sign_out(&session, &ctx).await?;
    }
    Ok(crate::console::signed_out(&state, &to))
}
