//! Who is asking: the client address (the TCP peer, or, when the peer is a configured trusted
//! proxy, the client its forwarding headers name — see [`crate::forwarded`]) and the user
//! agent, for the audit log and admission, and the browser's known-device cookie. Without
//! trusted proxies, `X-Forwarded-For` and `Forwarded` are ignored: any client could write any
//! address into them.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use latchkey_service::RequestContext;

use crate::{AppState, cookies};

pub(crate) struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            // Canonical (inside `client_addr`), so that an IPv4 client on a dual-stack socket
            // (`::ffff:192.0.2.1`) is recorded and throttled as the IPv4 address it is.
            .map(|ConnectInfo(peer)| {
                state
                    .web
                    .trusted_proxies
                    .client_addr(peer.ip(), &parts.headers)
                    .to_string()
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let device = cookies::get(&parts.headers, &state.web.cookie_name(cookies::DEVICE));
        let session = cookies::get(&parts.headers, &state.web.cookie_name(cookies::SESSION));
        Ok(Client(
            RequestContext::new(&addr, agent)
                .with_device_token(device.as_deref())
                .with_previous_session(session.as_deref()),
        ))
    }
}
