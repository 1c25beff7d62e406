//! `POST /oidc/token` and `/oidc/userinfo`: JSON for applications' servers, errors as RFC
//! 6749 5.2 and RFC 6750 3 spell them, never cached.

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_service::oidc::{ClientAuth, TokenError, TokenGrant};
use serde_json::json;

use crate::AppState;
use crate::client::Client;

/// The token request's form. No `Debug`: it holds a code, a verifier, a refresh token or a
/// client secret, none of which may reach a log line.
#[derive(Default, serde::Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response(),
    )
}

/// `client_secret_basic`: `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
fn basic(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Some(None);
    };
    let decoded = STANDARD.decode(encoded.trim().as_bytes()).ok();
    let pair = decoded
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            let decode = |part: &str| {
                url::form_urlencoded::parse(format!("v={part}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    Some(pair)
}

#[utoipa::path(post, path = "/oidc/token", tag = "oidc", operation_id = "oidc_token",
    summary = "Token endpoint (RFC 6749 3.2)",
    description = "A form (`application/x-www-form-urlencoded`): `grant_type=authorization_code` with `code`, `redirect_uri` and `code_verifier` (PKCE S256), or `grant_type=refresh_token` with `refresh_token`. Clients authenticate with HTTP Basic (`client_secret_basic`), `client_id` + `client_secret` in the form (`client_secret_post`), or, public clients, `client_id` alone. A code is single-use: presenting it again revokes what it issued; a refresh token rotates on use and a reused one revokes its family. Never cached.",
    responses(
        (status = 200, description = "`access_token`, `token_type` (`Bearer`), `expires_in`, `id_token`, `scope`, and `refresh_token` for clients registered with refresh tokens that asked for `offline_access`"),
        (status = 400, description = "`{error, error_description}`: `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`"),
        (status = 401, description = "`invalid_client` (with `WWW-Authenticate: Basic` when Basic was used)"),
    ))]
pub(crate) async fn token(
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    form: Result<axum::Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a form (application/x-www-form-urlencoded) without repeated parameters",
        );
    };
    let by_basic = basic(&headers);
    let auth = match (by_basic, &form.client_secret) {
        (Some(Some((client_id, secret))), None)
            if form.client_id.as_ref().is_none_or(|id| *id == client_id) =>
        {
            ClientAuth::Secret { client_id, secret }
        }
        (Some(_), _) => {
            return client_refused(true);
        }
        (None, Some(secret)) => match &form.client_id {
            Some(client_id) => ClientAuth::Secret {
                client_id: client_id.clone(),
                secret: secret.clone(),
            },
            None => return client_refused(false),
        },
        (None, None) => match &form.client_id {
            Some(client_id) => ClientAuth::None {
                client_id: client_id.clone(),
            },
            None => return client_refused(false),
        },
    };
    let used_basic = matches!(basic(&headers), Some(Some(_)));
    let grant = match form.grant_type.as_deref() {
        Some("authorization_code") => match form.code {
            Some(code) => TokenGrant::AuthorizationCode {
                code,
                redirect_uri: form.redirect_uri,
                code_verifier: form.code_verifier,
            },
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is missing",
                );
            }
        },
        Some("refresh_token") => match form.refresh_token {
            Some(refresh_token) => TokenGrant::RefreshToken { refresh_token },
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is missing",
                );
            }
        },
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only authorization_code and refresh_token are supported",
            );
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
    };
    match state.service.oidc_token(&auth, &grant, &ctx).await {
        Ok(issued) => {
            let mut body = json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "id_token": issued.id_token,
                "scope": issued.scope,
            });
            if let Some(refresh) = issued.refresh_token {
                body["refresh_token"] = refresh.into();
            }
            no_store(Json(body).into_response())
        }
        Err(TokenError::InvalidClient) => client_refused(used_basic),
        Err(TokenError::Service(e)) => {
            tracing::error!(error = %latchkey_service::error::error_chain(&e), "token endpoint failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "latchkey could not answer; try again",
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.code(), e.description()),
    }
}

/// `invalid_client`: 401, with the Basic challenge when the client tried Basic.
fn client_refused(basic: bool) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        TokenError::InvalidClient.description(),
    );
    if basic {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"latchkey\""),
        );
    }
    response
}

#[utoipa::path(get, path = "/oidc/userinfo", tag = "oidc", operation_id = "oidc_userinfo",
    summary = "UserInfo endpoint (OpenID Connect Core 5.3)",
    description = "With `Authorization: Bearer <access token>`: `sub` (the account id), and `email`, `email_verified`, `name` as the token's scope allows. An access token lives ten minutes and never past the latchkey session it came from. POST is accepted too.",
    responses(
        (status = 200, description = "The claims (JSON object)"),
        (status = 401, description = "`invalid_token`, with `WWW-Authenticate: Bearer`"),
    ))]
pub(crate) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 7235 2.1).
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim);
    let Some(token) = token else {
        let mut response = no_store(StatusCode::UNAUTHORIZED.into_response());
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"latchkey\""),
        );
        return response;
    };
    match state.service.oidc_userinfo(token).await {
        Ok(Some(claims)) => no_store(Json(claims).into_response()),
        Ok(None) => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is unknown, expired or revoked",
            );
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"latchkey\", error=\"invalid_token\""),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %latchkey_service::error::error_chain(&e), "userinfo failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "latchkey could not answer; try again",
            )
        }
    }
}
