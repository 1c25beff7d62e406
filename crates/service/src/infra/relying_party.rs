//! The WebAuthn relying party (webauthn-rs) for latchkey's public URL.

use std::sync::Arc;

use webauthn_rs::prelude::Url;
use webauthn_rs::prelude::{Webauthn, WebauthnBuilder};

/// The relying party for `public_url`, or why there cannot be one.
pub(crate) fn relying_party(public_url: &str) -> Result<Arc<Webauthn>, String> {
    let origin = Url::parse(public_url).map_err(|e| e.to_string())?;
    let host = origin.host_str().ok_or("no host")?.to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "security keys need LATCHKEY_PUBLIC_URL with a domain name, not the address {host} (for example http://localhost:8080)"
        ));
    }
    // A security key is the second factor after the password, so user presence (a touch)
    // is what is asked of it, as AWS does; requiring on-key user verification (a PIN) would
    // refuse most U2F keys. Chromium also rejects the credProtect policy webauthn-rs adds
    // otherwise when UV is only preferred.
    let webauthn = WebauthnBuilder::new(&host, &origin)
        .map_err(|e| e.to_string())?
        .rp_name("latchkey")
        .danger_set_user_presence_only_security_keys(true)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(webauthn))
}
