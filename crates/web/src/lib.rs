//! HTTP for latchkey: the HTML console, the JSON API under `/api/v1/`, and the pieces both
//! need (cookies, CSRF, sessions, client identity, security headers).
//!
//! This is the only crate that knows HTTP. Handlers translate a request into a call on
//! [`Service`](latchkey_service::Service) and its result into a page or JSON; they hold no
//! business rule. [`app`] builds the whole router from an [`AppState`], so tests run it in
//! process.

mod api;
mod client;
mod console;
mod cookies;
mod csrf;
mod error;
mod forward_auth;
mod forwarded;
mod links;
mod middleware;
mod oidc;
mod page;
mod qr;
mod return_to;
mod serve;
mod session;
mod voice;
pub mod wording;

pub use forward_auth::parse_cookie_domain;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use latchkey_service::{Service, Signer};

pub use api::openapi_document;
pub use forwarded::TrustedProxies;
pub use links::WebLinks;
pub use serve::{ServeOptions, serve};
pub use voice::twilio_signature;

/// The largest request body accepted anywhere. Every form and JSON document latchkey takes is
/// a few fields; 16 KiB leaves room for a maximal password and nothing else.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Settings the HTTP layer needs beyond the service's.
#[derive(Clone)]
pub struct WebConfig {
    /// `LATCHKEY_PUBLIC_URL`: its origin is the only one allowed to post forms, and its
    /// scheme decides whether cookies are `Secure` with the `__Host-` prefix.
    pub public_url: url::Url,
    /// The built-in mailbox is in use: `/dev/mailbox` exists and every page says so.
    pub dev_mailbox: bool,
    /// The built-in providers serve a deployment others can reach, because the operator set
    /// `LATCHKEY_DEV_PROVIDERS`: every page warns that anyone can read them.
    pub dev_providers_exposed: bool,
    /// Twilio's auth token: every `/twilio/*` webhook must carry its signature. Without it
    /// the built-in phone is in use (`/dev/phone`) and the Twilio routes do not exist.
    pub twilio_auth_token: Option<String>,
    /// `LATCHKEY_TWILIO_FROM`: the number our calls come from. A webhook whose `From` is
    /// another number is not about a call latchkey placed.
    pub twilio_from: Option<String>,
    /// The public URL was not configured but derived from the listen address: browsers that
    /// arrive under another name for this server (`127.0.0.1` instead of `localhost`) are
    /// redirected to it, so that forms and security keys work. Never set behind a proxy.
    pub canonical_redirect: bool,
    /// How long a refused attempt (429, or 503 for a full hashing queue) is held before the
    /// answer (see
    /// [`middleware::pause_refusals`]); [`REFUSAL_PAUSE`] in the server.
    pub refusal_pause: std::time::Duration,
    /// `LATCHKEY_TRUSTED_PROXIES`: peers whose forwarding headers say who the client is.
    /// Empty: the client is always the TCP peer.
    pub trusted_proxies: TrustedProxies,
    /// `LATCHKEY_COOKIE_DOMAIN`: the domain the forward-auth cookie is scoped to, and under
    /// which applications may be returned to after a sign-in (see `forward_auth`).
    pub cookie_domain: Option<String>,
}

impl std::fmt::Debug for WebConfig {
    // Twilio's auth token signs webhooks: a log line says whether it is set, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("public_url", &self.public_url.as_str())
            .field("dev_mailbox", &self.dev_mailbox)
            .field("dev_providers_exposed", &self.dev_providers_exposed)
            .field(
                "twilio_auth_token",
                &self.twilio_auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("twilio_from", &self.twilio_from)
            .finish_non_exhaustive()
    }
}

/// The pause before a 429 or an overload 503: long enough that a client retrying at once sends one request a
/// second per connection, short enough to stay under the `Retry-After` it is told.
pub const REFUSAL_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Refusals held at once; past this, refusals are answered without a pause.
const MAX_HELD_REFUSALS: usize = 1024;

pub(crate) struct WebSettings {
    pub public_url: url::Url,
    pub public_origin: String,
    pub secure_cookies: bool,
    pub dev_mailbox: bool,
    pub dev_providers_exposed: bool,
    pub twilio_auth_token: Option<String>,
    pub twilio_from: Option<String>,
    pub canonical_redirect: bool,
    pub public_host: String,
    pub csrf: Signer,
    pub refusal_pause: std::time::Duration,
    pub held_refusals: tokio::sync::Semaphore,
    pub trusted_proxies: TrustedProxies,
    pub cookie_domain: Option<String>,
    /// Seals the forward-auth cookie.
    pub forward_auth: latchkey_service::Sealer,
}

impl WebSettings {
    pub(crate) fn cookie_name(&self, base: &str) -> String {
        if self.secure_cookies {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub(crate) service: Service,
    pub(crate) web: Arc<WebSettings>,
}

impl AppState {
    /// The web layer's state; its CSRF tokens and forward-auth cookies use keys derived from
    /// `key`.
    pub fn new(service: Service, config: WebConfig, key: &latchkey_service::ServerKey) -> Self {
        let origin = config.public_url.origin().ascii_serialization();
        Self {
            service,
            web: Arc::new(WebSettings {
                public_url: config.public_url.clone(),
                public_origin: origin,
                secure_cookies: config.public_url.scheme() == "https",
                dev_mailbox: config.dev_mailbox,
                dev_providers_exposed: config.dev_providers_exposed,
                twilio_auth_token: config.twilio_auth_token,
                twilio_from: config.twilio_from,
                canonical_redirect: config.canonical_redirect,
                public_host: config.public_url[url::Position::BeforeHost..url::Position::AfterPort]
                    .to_owned(),
                csrf: key.signer("csrf"),
                forward_auth: key.sealer("forward-auth"),
                cookie_domain: config.cookie_domain,
                refusal_pause: config.refusal_pause,
                held_refusals: tokio::sync::Semaphore::new(MAX_HELD_REFUSALS),
                trusted_proxies: config.trusted_proxies,
            }),
        }
    }
}

/// The whole HTTP surface of latchkey.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(console::routes())
        .merge(forward_auth::routes())
        .merge(oidc::routes())
        .nest("/api/v1", api::routes())
        .route("/healthz", axum::routing::get(healthz))
        .route("/livez", axum::routing::get(livez))
        .route("/static/style.css", axum::routing::get(style))
        .route("/static/webauthn.js", axum::routing::get(webauthn_script));
    let stay_local =
        axum::middleware::from_fn_with_state(state.clone(), middleware::dev_pages_stay_local);
    if state.web.dev_mailbox {
        router = router.merge(console::dev_routes().route_layer(stay_local.clone()));
    }
    router = match state.web.twilio_auth_token {
        Some(_) => router.merge(voice::twilio_routes()),
        None => router.merge(voice::dev_phone_routes().route_layer(stay_local)),
    };
    router
        .fallback(console::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::ensure_csrf_cookie,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::pause_refusals,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::canonical_host,
        ))
        .layer(axum::middleware::from_fn(middleware::request_priority))
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.service.healthy().await {
        (axum::http::StatusCode::OK, "ok\n").into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n",
        )
            .into_response()
    }
}

/// Liveness: the process answers HTTP. Unlike `/healthz` it asks nothing of the database, so
/// an orchestrator does not restart every instance when the database has a moment's trouble
/// (and the benchmark has a handler that does nothing to compare real pages with).
async fn livez() -> &'static str {
    "ok\n"
}

async fn style() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
}

async fn webauthn_script() -> impl axum::response::IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/webauthn.js"),
    )
}
