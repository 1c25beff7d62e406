//! Forward-auth for reverse proxies: nginx `auth_request`, Caddy `forward_auth` and Traefik
//! `ForwardAuth` ask `GET /auth/verify` before every request to an application they protect.
//!
//! The proxy sees the browser's cookies for the application's host, so the check cannot use
//! the console's session cookie (host-only, and a console credential an application must
//! never receive). A completed full sign-in also sets the *proxy cookie*: the session's token
//! hash sealed under a key derived from the server key, scoped to `LATCHKEY_COOKIE_DOMAIN`
//! when that is set (so one latchkey covers several subdomains). Every application behind
//! the proxy receives it; it is good for nothing but this check, it names the session only
//! to latchkey, and it dies with the session (sign-out, revocation, expiry).
//!
//! Unauthenticated, the answer is 401 and, when the original URL is one latchkey may send a
//! browser back to (see `return_to`), a `Location` to the sign-in page carrying it, which
//! nginx turns into a redirect (`auth_request_set` + `error_page 401`); `?redirect=true`
//! makes it a 302 for proxies that pass the answer on (Caddy, Traefik). A session earned
//! with alternative factors is refused (403): it may only replace the lost device.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_service::TokenHash;
use latchkey_service::identity::Identity;

use crate::error::PageError;
use crate::return_to::ReturnTo;
use crate::{AppState, cookies};

/// The path proxies call.
pub(crate) const VERIFY: &str = "/auth/verify";

/// Binds the sealed value to its use: a value sealed for anything else does not open here.
const SEAL_CONTEXT: &[u8] = b"latchkey forward-auth cookie v1";

pub(crate) fn routes() -> Router<AppState> {
    // Any method: some proxies ask with the original request's (nginx asks with GET).
    Router::new().route(VERIFY, any(verify))
}

/// `LATCHKEY_COOKIE_DOMAIN` checked against the public URL: a domain name of at least two
/// labels (browsers refuse a cookie for a whole top-level domain), without a leading dot, of
/// which latchkey's own host is a part — a cookie for a domain latchkey is not under would
/// never reach it. The result is in lowercase.
pub fn parse_cookie_domain(text: &str, public_url: &url::Url) -> Result<String, String> {
    let domain = text.trim().trim_start_matches('.').to_ascii_lowercase();
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let is_address = domain.parse::<std::net::IpAddr>().is_ok()
        || domain.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !labels_ok || is_address {
        return Err(format!(
            "{text:?} is not a domain name such as example.com (letters, digits and hyphens, \
             at least two labels)"
        ));
    }
    let host = public_url.host_str().unwrap_or_default();
    let under = host == domain
        || host
            .strip_suffix(domain.as_str())
            .is_some_and(|rest| rest.ends_with('.'));
    if !under {
        return Err(format!(
            "the public URL's host {host:?} is not {domain:?} or under it, so the cookie would \
             never come back to latchkey"
        ));
    }
    Ok(domain)
}

/// The proxy cookie's name: `__Secure-` over HTTPS (`__Host-` forbids a `Domain`).
fn cookie_name(state: &AppState) -> String {
    if state.web.secure_cookies {
        format!("__Secure-{}", cookies::PROXY)
    } else {
        cookies::PROXY.to_owned()
    }
}

fn attributes(state: &AppState) -> String {
    match &state.web.cookie_domain {
        Some(domain) => format!("; Domain={domain}"),
        None => String::new(),
    }
}

/// The `Set-Cookie` that lets the proxies in front of applications recognise the session
/// `token_hash` names. Like the session cookie it lives as long as the browser session;
/// the server enforces the session's real lifetime.
pub(crate) fn cookie(state: &AppState, token_hash: &TokenHash) -> String {
    let sealed = state
        .web
        .forward_auth
        .seal(token_hash.as_str().as_bytes(), SEAL_CONTEXT);
    format!(
        "{}{}",
        cookies::set(
            &cookie_name(state),
            &URL_SAFE_NO_PAD.encode(sealed),
            state.web.secure_cookies
        ),
        attributes(state)
    )
}

/// The `Set-Cookie` that removes the proxy cookie, at sign-out.
pub(crate) fn clear(state: &AppState) -> String {
    format!(
        "{}{}",
        cookies::clear(&cookie_name(state), state.web.secure_cookies),
        attributes(state)
    )
}

/// The session the proxy cookie names, if it carries one latchkey sealed.
fn presented(state: &AppState, headers: &HeaderMap) -> Option<TokenHash> {
    let value = cookies::get(headers, &cookie_name(state))?;
    let sealed = URL_SAFE_NO_PAD.decode(value.as_bytes()).ok()?;
    let opened = state.web.forward_auth.open(&sealed, SEAL_CONTEXT).ok()?;
    Some(TokenHash(String::from_utf8(opened).ok()?))
}

/// The proxy's query. An unknown name (a misspelt `allow`) is refused (400, which the proxy
/// turns into an error) instead of being ignored, which would let everyone in.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyQuery {
    /// `true`: answer an unauthenticated request with the redirect itself (302).
    #[serde(default)]
    redirect: Option<String>,
    /// Who may use this application: account ids and email addresses, comma-separated
    /// (the proxy's configuration sets it per application). Without it, every account.
    #[serde(default)]
    allow: Option<String>,
    /// `mfa`: only sessions signed in with an MFA device.
    #[serde(default)]
    require: Option<String>,
}

/// Whether the proxy's rules for this application (`allow`, `require`) let `identity` in.
/// `None` for a rule latchkey does not know: the proxy's configuration is wrong, and the
/// answer fails closed.
fn permitted(identity: &Identity, query: &VerifyQuery) -> Option<bool> {
    let class_ok = match query.require.as_deref() {
        None | Some("") => true,
        Some("mfa") => identity.authentication.acr == latchkey_domain::identity::Acr::Mfa,
        Some(_) => return None,
    };
    let listed = match query.allow.as_deref() {
        None => true,
        Some(list) => list.split(',').map(str::trim).any(|entry| {
            entry == identity.session.account_id.as_str()
                || entry.eq_ignore_ascii_case(identity.email.as_str())
        }),
    };
    Some(class_ok && listed)
}

/// The URL the browser asked the proxy for: nginx sends `X-Original-URL` (the configuration
/// in the README sets it); Caddy and Traefik send `X-Forwarded-Proto`, `-Host` and `-Uri`.
fn original_url(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(url) = header("x-original-url") {
        return Some(url.to_owned());
    }
    let proto = header("x-forwarded-proto")?;
    let host = header("x-forwarded-host")?;
    let uri = header("x-forwarded-uri").unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

#[utoipa::path(get, path = "/auth/verify", tag = "forward-auth", operation_id = "forward_auth_verify",
    summary = "Forward-auth check for reverse proxies",
    description = "Asked by nginx `auth_request`, Caddy `forward_auth` or Traefik `ForwardAuth` before each request to a protected application, with the browser's cookies and the original URL in `X-Original-URL` (or `X-Forwarded-Proto`, `-Host`, `-Uri`). Any method is answered alike. Never cached.",
    params(
        ("redirect" = Option<String>, Query, description = "`true`: answer an unauthenticated request with the 302 itself"),
        ("allow" = Option<String>, Query, description = "Only these accounts (ids or email addresses, comma-separated); others get 403"),
        ("require" = Option<String>, Query, description = "`mfa`: only sessions signed in with an MFA device; others get 403"),
    ),
    responses(
        (status = 200, description = "Signed in: `Remote-User` (account id), `Remote-Email`, `Remote-Name`, `Remote-Authentication-Methods` (RFC 8176, space-separated), `Remote-Authentication-Class` (acr)"),
        (status = 302, description = "With `?redirect=true`: to latchkey's sign-in, which returns to the original URL"),
        (status = 401, description = "Not signed in; `Location` names the sign-in page when the original URL may be returned to"),
        (status = 403, description = "Signed in, but not allowed here: a session earned with alternative factors, an account not in `allow`, or no MFA where `require=mfa`"),
    ))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let identity = match presented(&state, &headers) {
        Some(hash) => match state.service.session_identity(&hash, true).await {
            Ok(identity) => identity,
            Err(e) => return PageError::from(e).into_response(),
        },
        None => None,
    };
    let mut response = match identity {
        Some(identity) if identity.is_recovery() => StatusCode::FORBIDDEN.into_response(),
        Some(identity) => match permitted(&identity, &query) {
            Some(true) => signed_in(&identity),
            Some(false) => StatusCode::FORBIDDEN.into_response(),
            None => {
                tracing::error!(
                    "/auth/verify: the proxy asks for a rule latchkey does not know (require=…)"
                );
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
        None => unauthenticated(&state, &headers, query.redirect.as_deref() == Some("true")),
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 200 with who is signed in and how, for the proxy to hand to the application.
fn signed_in(identity: &Identity) -> Response {
    let mut headers = HeaderMap::new();
    let values = [
        (
            "remote-user",
            identity.session.account_id.as_str().to_owned(),
        ),
        ("remote-email", identity.email.as_str().to_owned()),
        ("remote-name", identity.name.clone()),
        (
            "remote-authentication-methods",
            identity.authentication.amr.join(" "),
        ),
        (
            "remote-authentication-class",
            identity.authentication.acr.as_str().to_owned(),
        ),
    ];
    for (name, value) in values {
        // A value a header cannot carry (a control character) is left out, never mangled.
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    (StatusCode::OK, headers).into_response()
}

/// 401, with the way to the sign-in page when the original URL may be returned to.
fn unauthenticated(state: &AppState, headers: &HeaderMap, redirect: bool) -> Response {
    let destination = original_url(headers)
        .and_then(|raw| ReturnTo::parse_for(&raw, &state.web))
        .map(|to| {
            let mut url = state.web.public_url.clone();
            url.set_path(crate::links::paths::SIGN_IN);
            url.query_pairs_mut().append_pair("return_to", to.as_str());
            url.to_string()
        });
    match (destination, redirect) {
        (Some(location), true) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        (Some(location), false) => {
            (StatusCode::UNAUTHORIZED, [(LOCATION, location)]).into_response()
        }
        (None, _) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_domain_must_hold_latchkey_and_be_a_domain() {
        let public = url::Url::parse("https://login.example.com").unwrap();
        let cases: &[(&str, Option<&str>)] = &[
            ("example.com", Some("example.com")),
            (".Example.COM", Some("example.com")),
            ("login.example.com", Some("login.example.com")),
            ("com", None),
            ("other.com", None),
            ("ample.com", None),
            ("app.example.com", None),
            ("exa mple.com", None),
            ("-x.example.com", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_cookie_domain(text, &public).ok().as_deref(),
                *expected,
                "{text:?}"
            );
        }
        let by_address = url::Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(parse_cookie_domain("0.0.1", &by_address).is_err());
    }

    #[test]
    fn the_original_url_comes_from_nginx_or_the_forwarded_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(original_url(&headers), None);
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("app.example.com"),
        );
        assert_eq!(
            original_url(&headers).as_deref(),
            Some("https://app.example.com/")
        );
        headers.insert("x-forwarded-uri", HeaderValue::from_static("/a?b=1"));
        assert_eq!(
            original_url(&headers).as_deref(),
            Some("https://app.example.com/a?b=1")
        );
        headers.insert(
            "x-original-url",
            HeaderValue::from_static("https://b.example.com/c"),
        );
        assert_eq!(
            original_url(&headers).as_deref(),
            Some("https://b.example.com/c")
        );
    }
}
