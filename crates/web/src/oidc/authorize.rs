//! `GET /oidc/authorize` and the consent page's answer.

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::oidc::has_scope;
use latchkey_service::oidc::{AuthorizeOutcome, AuthorizeRequest, InvalidRequest};

use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::links::paths;
use crate::page::{Page, render};
use crate::session::{MaybeSignedIn, SignedInAllowingRecovery};

#[derive(Template)]
#[template(path = "oidc/consent.html")]
struct ConsentPage {
    page: Page,
    client_name: String,
    email: bool,
    profile: bool,
    offline: bool,
    /// The authorization request's query, answered again after the choice.
    request: String,
}

pub(super) async fn authorize(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Client(ctx): Client,
    page: Page,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuthorizeRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(request)) = query else {
        return PageError::bad_request(
            "This sign-in request from an application is malformed (a parameter is repeated or unreadable). Go back to the application and try again.",
        )
        .into_response();
    };
    let raw = raw.unwrap_or_default();
    match state
        .service
        .oidc_authorize(&request, session.as_ref(), &ctx)
        .await
    {
        Ok(outcome) => respond(outcome, page, &raw),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// An authorization request posted as a form (OpenID Connect Core 3.1.2.1): the same
/// request as a GET, which it is redirected to. The post comes from the application's site,
/// so the browser sends no SameSite=Lax cookie with it; the GET it is sent to carries them,
/// and is then answered like any other (nothing is decided on the post itself).
pub(super) async fn authorize_by_post(body: String) -> Response {
    let parsed: Result<AuthorizeRequest, _> = serde_urlencoded::from_str(&body);
    if parsed.is_err() || body.len() > 4096 {
        return PageError::bad_request(
            "This sign-in request from an application is malformed (a parameter is repeated or unreadable). Go back to the application and try again.",
        )
        .into_response();
    }
    // Re-encoded, so the Location header holds only what a query may.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(body.as_bytes()))
        .finish();
    Redirect::to(&format!("{}?{query}", paths::OIDC_AUTHORIZE)).into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct ConsentForm {
    request: String,
    decision: String,
}

pub(super) async fn consent(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    Client(ctx): Client,
    page: Page,
    ConsoleForm(form): ConsoleForm<ConsentForm>,
) -> Response {
    let Ok(request) = serde_urlencoded::from_str::<AuthorizeRequest>(&form.request) else {
        return PageError::bad_request(
            "This consent form is damaged. Go back to the application and try again.",
        )
        .into_response();
    };
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return PageError::bad_request("Choose Allow or Deny.").into_response(),
    };
    match state
        .service
        .oidc_consent(&request, &session, allow, &ctx)
        .await
    {
        Ok(outcome) => respond(outcome, page, &form.request),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Turns the service's answer into HTTP. `raw` is the request's query as sent.
fn respond(outcome: AuthorizeOutcome, page: Page, raw: &str) -> Response {
    match outcome {
        AuthorizeOutcome::Invalid(reason) => {
            let message = match reason {
                InvalidRequest::UnknownClient => {
                    "The application that sent you here is not registered with latchkey (unknown client_id). Nothing was sent to it."
                }
                InvalidRequest::UnregisteredRedirectUri => {
                    "The application asked latchkey to send you to an address it has not registered (redirect_uri). For your safety latchkey does not go there."
                }
            };
            PageError::bad_request(message).into_response()
        }
        AuthorizeOutcome::Redirect {
            redirect_uri,
            params,
        } => match url::Url::parse(&redirect_uri) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(params);
                Redirect::to(url.as_str()).into_response()
            }
            Err(_) => PageError::internal().into_response(),
        },
        AuthorizeOutcome::SignIn { fresh_after } => {
            // Back here after the sign-in; a fresh one is asked for with the time it was
            // asked at, which the session's sign-in must then be at or after.
            let mut continuation: Vec<(String, String)> =
                url::form_urlencoded::parse(raw.as_bytes())
                    .filter(|(k, _)| k != "lk_signed_in_after")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            if let Some(marker) = &fresh_after {
                continuation.push(("lk_signed_in_after".to_owned(), marker.clone()));
            }
            let back = format!(
                "{}?{}",
                paths::OIDC_AUTHORIZE,
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(continuation)
                    .finish()
            );
            let mut to = url::form_urlencoded::Serializer::new(String::new());
            to.append_pair("return_to", &back);
            if fresh_after.is_some() {
                to.append_pair("reauth", "1");
            }
            Redirect::to(&format!("{}?{}", paths::SIGN_IN, to.finish())).into_response()
        }
        AuthorizeOutcome::Consent { client_name, scope } => (
            StatusCode::OK,
            render(&ConsentPage {
                page,
                email: has_scope(&scope, "email"),
                profile: has_scope(&scope, "profile"),
                offline: has_scope(&scope, "offline_access"),
                client_name,
                request: raw.to_owned(),
            }),
        )
            .into_response(),
    }
}
