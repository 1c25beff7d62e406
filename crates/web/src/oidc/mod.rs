//! The OpenID Connect provider's endpoints: discovery, the key set, authorization (with the
//! consent page), token, userinfo and RP-initiated logout. The decisions are the service's;
//! this translates HTTP, as OAuth 2.0 and OpenID Connect spell their answers.

mod authorize;
mod logout;
pub(crate) mod token;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_domain::identity::Acr;
use serde_json::json;

use crate::AppState;
use crate::error::PageError;
use crate::links::paths;

pub(crate) const TOKEN: &str = "/oidc/token";
pub(crate) const USERINFO: &str = "/oidc/userinfo";
pub(crate) const JWKS: &str = "/oidc/jwks";
pub(crate) const END_SESSION: &str = "/oidc/end-session";
pub(crate) const CONSENT: &str = "/oidc/consent";

/// A request that arrives as a cross-site form post: the authorization endpoint (which
/// OpenID Connect says takes POST as GET), answered with a redirect to its GET form.
pub(crate) fn is_cross_site_post(path: &str) -> bool {
    path == paths::OIDC_AUTHORIZE
}

/// Endpoints called by applications' servers, not by browsers on latchkey's pages: no CSRF
/// cookie, no same-origin check (they authenticate with client credentials or a bearer
/// token, never a cookie).
pub(crate) fn is_back_channel(path: &str) -> bool {
    matches!(path, TOKEN | USERINFO | JWKS) || path == "/.well-known/openid-configuration"
}

pub(crate) fn routes() -> Router<AppState> {
    // Called from applications' servers and from single-page applications (public
    // clients) in browsers: open to every origin, which is safe because none of them reads
    // a cookie — they authenticate with client credentials, PKCE or a bearer token.
    let back_channel = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery).options(preflight),
        )
        .route(JWKS, get(jwks).options(preflight))
        .route(TOKEN, post(token::token).options(preflight))
        .route(
            USERINFO,
            get(token::userinfo)
                .post(token::userinfo)
                .options(preflight),
        )
        // `route_layer`: these routes only, never the fallback the router is merged with.
        .route_layer(axum::middleware::map_response(open_to_every_origin));
    Router::new()
        .route(
            paths::OIDC_AUTHORIZE,
            get(authorize::authorize).post(authorize::authorize_by_post),
        )
        .route(CONSENT, post(authorize::consent))
        .route(END_SESSION, get(logout::end_session).post(logout::confirm))
        .merge(back_channel)
}

async fn open_to_every_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The CORS preflight of a browser application's token or userinfo request.
async fn preflight() -> Response {
    use axum::http::header;
    (
        axum::http::StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// The issuer: the public URL without a trailing slash, exactly as in every ID token.
pub(crate) fn issuer(state: &AppState) -> String {
    state
        .web
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc",
    operation_id = "openid_configuration",
    summary = "OpenID Connect discovery (RFC 8414 metadata)",
    description = "The issuer, endpoints, algorithms, scopes, claims and `acr` values latchkey supports. Public; cacheable for five minutes.",
    responses((status = 200, description = "The provider metadata (JSON object)")))]
pub(crate) async fn discovery(State(state): State<AppState>) -> Response {
    let issuer = issuer(&state);
    let at = |path: &str| format!("{issuer}{path}");
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": at(paths::OIDC_AUTHORIZE),
        "token_endpoint": at(TOKEN),
        "userinfo_endpoint": at(USERINFO),
        "jwks_uri": at(JWKS),
        "end_session_endpoint": at(END_SESSION),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [latchkey_service::oidc::RS256, latchkey_service::oidc::ES256],
        "scopes_supported": latchkey_domain::oidc::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "email", "email_verified", "name"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": Acr::ALL.map(Acr::as_str),
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    cacheable(Json(body).into_response())
}

#[utoipa::path(get, path = "/oidc/jwks", tag = "oidc", operation_id = "jwks",
    summary = "The keys ID tokens are signed with (JWK set)",
    description = "Every published key: the RS256 and ES256 keys that sign now and any rotated in or not yet retired. Public; cacheable for five minutes.",
    responses((status = 200, description = "`{\"keys\": [JWK…]}`")))]
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    match state.service.oidc_jwks().await {
        Ok(keys) => cacheable(Json(keys).into_response()),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Discovery and the key set change rarely and are public: relying parties may cache them
/// for five minutes (a rotated key is published a day before it signs).
fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
