//! CSRF protection for every state-changing form, signed-in or not.
//!
//! Each browser gets a random CSRF cookie (HttpOnly) on its first page. Forms carry
//! `csrf_token` = HMAC(server key, cookie): a cross-site page can neither read the cookie nor
//! compute the token. The cookie is replaced at sign-in and sign-out, so a token from before
//! a privilege change is useless after it. Origin and `Sec-Fetch-Site` are checked as well,
//! in `middleware::same_origin_writes`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::PageError;
use latchkey_service::{SecretToken, Signer};

/// The browser's CSRF cookie for this request. `fresh` means the browser did not send one
/// and a new one is being set on the response.
#[derive(Debug, Clone)]
pub(crate) struct CsrfCookie {
    pub value: String,
    pub fresh: bool,
}

pub(crate) fn token_for(signer: &Signer, cookie: &str) -> String {
    signer.sign(format!("csrf\0{cookie}").as_bytes())
}

pub(crate) fn new_cookie_value() -> String {
    SecretToken::generate().expose().to_owned()
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A form that carries nothing but its CSRF token: a button that does one thing.
#[derive(serde::Deserialize)]
pub(crate) struct EmptyForm {}

/// A URL-encoded form whose CSRF token was checked. Malformed or oversized bodies and bad
/// tokens become a clear error page and never reach the handler.
pub(crate) struct ConsoleForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::bad_request(
                "This page expects a form submitted from the latchkey console.",
            ));
        }
        let cookie = req.extensions().get::<CsrfCookie>().cloned();
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                PageError::too_large()
            } else {
                PageError::bad_request("The form could not be read.")
            }
        })?;
        let field: CsrfField = serde_urlencoded::from_bytes(&body)
            .map_err(|_| PageError::bad_request("The form could not be read."))?;
        match cookie {
            Some(cookie)
                if !cookie.fresh
                    && !field.csrf_token.is_empty()
                    && state.web.csrf.verify(
                        format!("csrf\0{}", cookie.value).as_bytes(),
                        &field.csrf_token,
                    ) => {}
            _ => return Err(PageError::csrf()),
        }
        let value = serde_urlencoded::from_bytes(&body).map_err(|_| {
            PageError::bad_request("The form is missing fields or has malformed ones.")
        })?;
        Ok(ConsoleForm(value))
    }
}

/// A JSON body posted by the console's own script, with the page's CSRF token in the
/// `X-CSRF-Token` header. Failures answer in the API's error shape, which the script shows.
pub(crate) struct ConsoleJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleJson<T> {
    type Rejection = crate::error::ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use crate::error::ApiError;
        use axum::http::StatusCode;
        let cookie = req.extensions().get::<CsrfCookie>().cloned();
        let token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let valid = matches!(&cookie, Some(c) if !c.fresh && !token.is_empty()
            && state.web.csrf.verify(format!("csrf\0{}", c.value).as_bytes(), &token));
        if !valid {
            return Err(ApiError::forbidden(
                "csrf",
                "This page has expired: reload it and try again.",
            ));
        }
        let axum::Json(value) =
            axum::Json::<T>::from_request(req, state)
                .await
                .map_err(|rejection| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        rejection.body_text(),
                    )
                })?;
        Ok(ConsoleJson(value))
    }
}
