//! Reading the `Cookie` header and writing `Set-Cookie`, for latchkey's cookies (session,
//! CSRF, known device and the short-lived step cookies). All are HttpOnly and SameSite=Lax;
//! over HTTPS they are also Secure and carry the `__Host-` prefix, which pins them to this
//! exact origin and path `/`.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

pub(crate) const SESSION: &str = "latchkey_session";
pub(crate) const CSRF: &str = "latchkey_csrf";
/// Marks a browser that has completed a sign-in (see `latchkey_service::known_devices`).
pub(crate) const DEVICE: &str = "latchkey_device";
/// The sign-in attempt between the password and the MFA code.
pub(crate) const ATTEMPT: &str = "latchkey_attempt";
/// The recovery flow (`Sign in using alternative factors`).
pub(crate) const RECOVERY: &str = "latchkey_recovery";
/// The 6-digit code of the current verification call, shown on the recovery page.
pub(crate) const CALL_CODE: &str = "latchkey_call_code";
/// A sign-up whose email is verified and whose phone call is next.
pub(crate) const SIGN_UP: &str = "latchkey_sign_up";
/// Where to go once signed in (see `return_to`).
pub(crate) const RETURN_TO: &str = "latchkey_return_to";
/// What reverse proxies check with forward-auth (see `forward_auth`); the only cookie that
/// may be scoped to a parent domain.
pub(crate) const PROXY: &str = "latchkey_proxy";

/// The value of cookie `name`, if the request carries it.
pub(crate) fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// A `Set-Cookie` value that lives as long as the browser session (the server enforces the
/// real expiry).
pub(crate) fn set(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// A `Set-Cookie` value that removes the cookie.
pub(crate) fn clear(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_a_cookie_among_several_headers_and_pairs() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; latchkey_csrf=abc"));
        headers.append(COOKIE, HeaderValue::from_static("latchkey_session=xyz"));
        assert_eq!(get(&headers, CSRF).as_deref(), Some("abc"));
        assert_eq!(get(&headers, SESSION).as_deref(), Some("xyz"));
        assert_eq!(get(&headers, "missing"), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        assert_eq!(set("n", "v", false), "n=v; Path=/; HttpOnly; SameSite=Lax");
        assert!(set("__Host-n", "v", true).ends_with("; Secure"));
        assert!(clear("n", false).contains("Max-Age=0"));
    }
}
