//! Who is asking: the peer address of the TCP connection and the user agent, for the audit
//! log, and the browser's known-device cookie. `X-Forwarded-For` is deliberately ignored:
//! without a configured trusted proxy, any client could write any address into it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use latchkey_service::RequestContext;

use crate::{AppState, cookies};

pub struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            // Canonical, so that an IPv4 client on a dual-stack socket (`::ffff:192.0.2.1`)
            // is recorded and throttled as the IPv4 address it is.
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let device = cookies::get(&parts.headers, &state.web.cookie_name(cookies::DEVICE));
        Ok(Client(
            RequestContext::new(&addr, agent).with_device_token(device.as_deref()),
        ))
    }
}
