//! Recognising the signed-in user: by cookie in the console, by bearer token in the API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_domain::session::SessionKind;
use latchkey_service::ServiceError;
use latchkey_service::sessions::CurrentSession;

use crate::error::{ApiError, PageError};
use crate::{AppState, cookies};

/// The console session, if the browser has a live one.
pub(crate) struct MaybeSignedIn(pub Option<CurrentSession>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let name = state.web.cookie_name(cookies::SESSION);
        let Some(token) = cookies::get(&parts.headers, &name) else {
            return Ok(Self(None));
        };
        Ok(Self(state.service.authenticate(&token).await?))
    }
}

/// A console page that needs a full session; without one the browser is sent to sign in.
///
/// A session earned with alternative factors is refused here with a page that says why: it
/// may only do what [`SignedInAllowingRecovery`] routes offer (replace the lost device, change
/// the password, sign out). Every page added later is closed to it unless its handler opts in.
pub(crate) struct SignedIn(pub CurrentSession);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let SignedInAllowingRecovery(session) =
            SignedInAllowingRecovery::from_request_parts(parts, state).await?;
        match session.kind {
            SessionKind::Full => Ok(Self(session)),
            SessionKind::AlternativeFactors => {
                Err(PageError::from(ServiceError::RecoveryScope).into_response())
            }
        }
    }
}

/// A console page of Security credentials that a recovery session may use too.
pub(crate) struct SignedInAllowingRecovery(pub CurrentSession);

impl FromRequestParts<AppState> for SignedInAllowingRecovery {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeSignedIn::from_request_parts(parts, state).await {
            Ok(MaybeSignedIn(Some(session))) => Ok(Self(session)),
            // A page opened without a session comes back to itself after the sign-in.
            Ok(MaybeSignedIn(None)) => {
                let back = match parts.method {
                    axum::http::Method::GET => parts
                        .uri
                        .path_and_query()
                        .map_or("/", |pq| pq.as_str())
                        .to_owned(),
                    _ => String::new(),
                };
                Err(Redirect::to(&crate::return_to::sign_in_link(state, &back)).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// An API call authenticated with `Authorization: Bearer <session token>` of a full session;
/// a recovery session is refused (`recovery_session_scope`) unless the route takes
/// [`BearerAllowingRecovery`].
pub(crate) struct Bearer(pub CurrentSession);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let BearerAllowingRecovery(session) =
            BearerAllowingRecovery::from_request_parts(parts, state).await?;
        match session.kind {
            SessionKind::Full => Ok(Self(session)),
            SessionKind::AlternativeFactors => Err(ServiceError::RecoveryScope.into()),
        }
    }
}

/// A bearer session of any kind, for the API's Security-credentials routes.
pub(crate) struct BearerAllowingRecovery(pub CurrentSession);

impl FromRequestParts<AppState> for BearerAllowingRecovery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        match state.service.authenticate(token.trim()).await? {
            Some(session) => Ok(Self(session)),
            None => Err(ApiError::unauthorized()),
        }
    }
}
