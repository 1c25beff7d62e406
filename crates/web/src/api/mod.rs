//! The JSON API under `/api/v1/`: the same use cases as the console, for programs.
//!
//! Authentication is by bearer token (the session token returned at sign-in), never by
//! cookie, so the API needs no CSRF token: a browser on another site cannot attach the
//! header. Every error has one shape, [`ApiErrorBody`](crate::error::ApiErrorBody).

mod accounts;
mod events;
mod mfa;
mod openapi;
mod password;
mod recovery;
mod security_keys;
mod session_list;
mod sessions;
mod sign_up_phone;
pub(crate) mod values;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

pub use openapi::openapi_document;

use accounts::TokenBody;
use sessions::SessionResponse;

/// Every route of the API: each module declares its own.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(openapi::routes())
        .merge(accounts::routes())
        .merge(sign_up_phone::routes())
        .merge(sessions::routes())
        .merge(mfa::routes())
        .merge(security_keys::routes())
        .merge(recovery::routes())
        .merge(password::routes())
        .merge(events::routes())
        .merge(session_list::routes())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such API endpoint.")
        })
}

/// A JSON body parsed into `T`, with every failure in the API's own error shape.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
                    _ => "malformed_json",
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}
