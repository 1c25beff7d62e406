//! Layers every response goes through: the CSRF cookie, the same-origin rule for writes,
//! security headers (HSTS over https), the request's priority and the request log.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::csrf::{CsrfCookie, new_cookie_value};
use crate::error::{ApiError, PageError};
use crate::{AppState, cookies};

/// Paths that serve no page and hold no form: the API (bearer tokens), Twilio's webhooks,
/// health checks, static files, forward-auth and the OpenID Connect back channel. They get
/// no CSRF cookie, and no `form-action` is worked out for them.
pub(crate) fn serves_no_pages(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/twilio/")
        || path == "/healthz"
        || path == "/livez"
        || path.starts_with("/static/")
        || path == crate::forward_auth::VERIFY
        || crate::oidc::is_back_channel(path)
}

/// Gives every browser a CSRF cookie, and hands its value to the handlers.
pub(crate) async fn ensure_csrf_cookie(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if serves_no_pages(req.uri().path()) {
        return next.run(req).await;
    }
    let name = state.web.cookie_name(cookies::CSRF);
    let existing = cookies::get(req.headers(), &name)
        .filter(|value| latchkey_service::SecretToken::from_presented(value).is_some());
    let cookie = match existing {
        Some(value) => CsrfCookie {
            value,
            fresh: false,
        },
        None => CsrfCookie {
            value: new_cookie_value(),
            fresh: true,
        },
    };
    req.extensions_mut().insert(cookie.clone());
    let mut response = next.run(req).await;
    let handler_set_it = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&format!("{name}="))));
    if cookie.fresh
        && !handler_set_it
        && let Ok(value) = HeaderValue::from_str(&cookies::set(
            &name,
            &cookie.value,
            state.web.secure_cookies,
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Refuses writes that a browser says come from another site: a present `Origin` must be
/// latchkey's public origin, and `Sec-Fetch-Site` must not be `cross-site` or `same-site`.
/// Clients that send neither header (curl, server-to-server API use) are not browsers
/// acting for someone else, and pass.
pub(crate) async fn same_origin_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    // Forward-auth changes nothing and is asked by proxies with the original request's
    // method and headers.
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path() == crate::forward_auth::VERIFY
        || crate::oidc::is_back_channel(req.uri().path())
        || crate::oidc::is_cross_site_post(req.uri().path())
    {
        return next.run(req).await;
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    let bad_origin = origin.is_some_and(|o| o != state.web.public_origin);
    let cross_site = fetch_site.is_some_and(|s| s == "cross-site" || s == "same-site");
    if bad_origin || cross_site {
        let shown = origin.unwrap_or("another site").to_owned();
        tracing::warn!(origin = %shown, "refused a cross-origin write");
        return if req.uri().path().starts_with("/api/") {
            ApiError::forbidden(
                "cross_origin",
                "Requests from other origins are not accepted.",
            )
            .into_response()
        } else {
            PageError::cross_origin(&shown, &state.web.public_origin).into_response()
        };
    }
    next.run(req).await
}

/// Headers that keep pages from being framed, sniffed, cached or leaking their URL (which
/// may hold a link token) to other sites. The referrer policy is `same-origin`, not
/// `no-referrer`: with `no-referrer` Chromium sends `Origin: null` on form posts, which the
/// same-origin check must refuse.
///
/// With an `https://` public URL, HSTS too: a browser that has been here once never again
/// sends a request (and its cookies) to this host over plain http, where someone on the path
/// could answer instead. A year, the usual value, and without `includeSubDomains`: latchkey
/// cannot know the operator's other hosts under the same domain, and would break any of them
/// still served over http. Never over http: there it would be meaningless at best.
/// The content security policy of every page; `form-action` gains the origins a form's
/// redirects lead to (see `return_to::form_targets`).
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn security_headers(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let targets = crate::return_to::form_targets(&state, req.headers(), req.uri());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if !targets.is_empty() {
        let policy = CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", targets.join(" ")),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.entry("content-security-policy").or_insert(value);
        }
    }
    // `secure_cookies` is exactly "the public URL is https://".
    if state.web.secure_cookies {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let mut set = |name: &'static str, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set("content-security-policy", CSP);
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "same-origin");
    set("x-frame-options", "DENY");
    set("cache-control", "no-store");
    response
}

/// A refused attempt (429, the admission bucket is empty; or 503 with `Retry-After`, the
/// hashing queue is full) is answered after a pause, with at most a fixed number held at
/// once. A client that retries the moment it is refused then costs the server a held
/// connection instead of a stream of requests to parse, refuse and log, so a flood cannot
/// take the processor away from everyone else (the benchmark's floods: from one address,
/// refused by its bucket; from 256, refused by the full queue). Past the cap, refusals are
/// answered at once. A 503 without `Retry-After` (`/healthz`) is not a refusal and is not held.
pub(crate) async fn pause_refusals(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    let refused = match response.status() {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::SERVICE_UNAVAILABLE => response
            .headers()
            .contains_key(axum::http::header::RETRY_AFTER),
        _ => false,
    };
    if refused
        && !state.web.refusal_pause.is_zero()
        && let Ok(_held) = state.web.held_refusals.try_acquire()
    {
        tokio::time::sleep(state.web.refusal_pause).await;
    }
    response
}

/// Runs every request in its own priority scope: `Normal` until the service has verified a
/// known-device token, then ahead of the queue for hashing and the SQLite write turn
/// (`latchkey_service::priority`).
pub(crate) async fn request_priority(req: Request, next: Next) -> Response {
    latchkey_service::priority::scope(next.run(req)).await
}

/// One log line per request. The query string is never logged: it may carry a link token.
pub(crate) async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        path = %latchkey_domain::audit::sanitize_request_text(&path, 200),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// With a derived public URL only: a browser page load under another name for this server
/// is redirected to the public URL (same path and query). The target is always the
/// configured origin, never the request's `Host`.
pub(crate) async fn canonical_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.web.canonical_redirect && matches!(*req.method(), Method::GET | Method::HEAD) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let path = req.uri().path();
        let exempt = path == "/healthz"
            || path.starts_with("/api/")
            || path.starts_with("/twilio/")
            || path.starts_with("/static/");
        if !host.is_empty() && host != state.web.public_host && !exempt {
            let target = format!(
                "{}{}",
                state.web.public_origin,
                req.uri()
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .unwrap_or("/")
            );
            return axum::response::Redirect::temporary(&target).into_response();
        }
    }
    next.run(req).await
}

/// The built-in mailbox and phone show every email and answer every call: they serve only
/// the machine they run on. A request that came through a reverse proxy (it carries a
/// forwarding header) or from a peer that is not loopback is answered as if the pages did not
/// exist — unless the operator allowed them on a reachable deployment with
/// `LATCHKEY_DEV_PROVIDERS`, which every page then warns about. This catches the proxy an
/// operator put in front of a loopback listener and forgot to tell latchkey about.
pub(crate) async fn dev_pages_stay_local(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !state.web.dev_providers_exposed {
        const FORWARDING: [&str; 6] = [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-real-ip",
            "via",
        ];
        let forwarded = FORWARDING
            .iter()
            .any(|name| req.headers().contains_key(*name));
        // A request whose peer is unknown (a server set up without connection info) is
        // treated as remote: these pages open only for a peer known to be this machine.
        let remote = !req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_some_and(|info| info.0.ip().to_canonical().is_loopback());
        if forwarded || remote {
            tracing::warn!(path = %req.uri().path(), "refused a built-in provider page to a client that is not on this machine");
            return PageError::not_found().into_response();
        }
    }
    next.run(req).await
}
