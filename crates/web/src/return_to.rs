//! Where a browser goes once it has signed in: back to the page of this latchkey that sent it
//! to sign in (`/signin?return_to=/console/mfa/activate`), else `Security credentials`.
//!
//! The destination is an open-redirect risk, so it is only ever a path on latchkey's own
//! public origin: a value that resolves anywhere else — another host, `//host`, a backslash
//! that some browsers read as a slash, a control character, another scheme — is ignored, as
//! are the sign-in pages themselves. It is checked when it arrives and again when it is used
//! (it waits in a cookie while the sign-in goes through its steps, so every way of finishing
//! — password, code, security key — honours it). A recovery session never follows it: it may
//! only replace devices. Features that send browsers to sign in (signing in to other
//! applications) put their continuation here.
//!
//! With `LATCHKEY_COOKIE_DOMAIN` set, forward-auth sends browsers here from the applications
//! it protects: then an absolute URL whose host is that domain or under it (same scheme as
//! latchkey's, or https) is a destination too — never another domain, an address, or a URL
//! with credentials in it.

use crate::links::paths;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

use crate::cookies;
use crate::{AppState, WebSettings};

/// Where a completed sign-in goes when no (valid) continuation was asked for.
pub(crate) const DEFAULT: &str = "/console/security-credentials";

/// Longer than any page of latchkey needs; bounds the cookie.
const MAX_LEN: usize = 2048;

/// How long the continuation waits for the sign-in to finish (as long as a sign-in attempt
/// may take, with room for the email step).
const LIFETIME_SECONDS: i64 = 30 * 60;

/// A path (and query) on latchkey's own origin, or a URL under the cookie domain, safe to
/// redirect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReturnTo(String);

impl ReturnTo {
    /// `raw` as a destination of this latchkey: on its origin, or under its cookie domain.
    pub(crate) fn parse_for(raw: &str, web: &WebSettings) -> Option<Self> {
        Self::parse_within(raw, &web.public_url, web.cookie_domain.as_deref())
    }

    /// `raw` as a destination on `public_url`'s origin or, with a cookie domain, under it;
    /// `None` when it is neither.
    fn parse_within(raw: &str, public_url: &Url, cookie_domain: Option<&str>) -> Option<Self> {
        if raw.is_empty()
            || raw.len() > MAX_LEN
            || raw.contains('\\')
            || raw.chars().any(char::is_control)
            || raw.starts_with("//")
        {
            return None;
        }
        let resolved = if raw.starts_with('/') {
            public_url.join(raw).ok()?
        } else {
            Url::parse(raw).ok()?
        };
        if resolved.username() != "" || resolved.password().is_some() {
            return None;
        }
        if resolved.origin() != public_url.origin() {
            return cookie_domain
                .and_then(|domain| Self::under_domain(resolved, public_url, domain));
        }
        let mut path = resolved.path().to_owned();
        if let Some(query) = resolved.query() {
            path.push('?');
            path.push_str(query);
        }
        // Normalising can lengthen a value (percent-encoding): the bound holds for the result.
        if path.len() > MAX_LEN {
            return None;
        }
        let sign_in_page = path == paths::SIGN_IN
            || path.starts_with("/signin/")
            || path.starts_with("/signin?")
            || path.starts_with("/signout");
        if !path.starts_with('/') || path.starts_with("//") || sign_in_page {
            return None;
        }
        Some(Self(path))
    }

    /// An application's URL under the cookie domain (forward-auth's continuation).
    fn under_domain(mut url: Url, public_url: &Url, domain: &str) -> Option<Self> {
        let scheme_ok =
            url.scheme() == "https" || (url.scheme() == "http" && public_url.scheme() == "http");
        let host_ok = match url.host() {
            Some(url::Host::Domain(host)) => {
                host == domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            _ => false,
        };
        if !scheme_ok || !host_ok {
            return None;
        }
        url.set_fragment(None);
        let text = String::from(url);
        (text.len() <= MAX_LEN).then_some(Self(text))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Set-Cookie` that keeps this continuation while the sign-in goes on.
    pub(crate) fn cookie(&self, state: &AppState) -> String {
        format!(
            "{}; Max-Age={LIFETIME_SECONDS}",
            cookies::set(
                &state.web.cookie_name(cookies::RETURN_TO),
                &URL_SAFE_NO_PAD.encode(self.0.as_bytes()),
                state.web.secure_cookies,
            )
        )
    }

    /// The continuation the browser's cookie holds, checked again.
    pub(crate) fn from_cookie(state: &AppState, headers: &HeaderMap) -> Option<Self> {
        let value = cookies::get(headers, &state.web.cookie_name(cookies::RETURN_TO))?;
        let bytes = URL_SAFE_NO_PAD.decode(value.as_bytes()).ok()?;
        Self::parse_for(std::str::from_utf8(&bytes).ok()?, &state.web)
    }
}

/// The origins other than latchkey's own that a form on the page answering this request may
/// end at through redirects, for the page's `form-action` (browsers apply it to every
/// redirect after a form is posted): the sign-in's continuation when it is an application
/// (forward-auth) or the authorization endpoint (an application's redirect URI), and the
/// redirect URI an OpenID Connect page names in its query. Only origins whose host is plain
/// (letters, digits, dots, hyphens, or an address) are given, so nothing from a query can add
/// a directive to the policy; whether a redirect is then made is for the endpoint to decide.
pub(crate) fn form_targets(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Vec<String> {
    // Only pages have forms: the checks proxies and applications' servers make on every
    // request (forward-auth, the token endpoint, the API) skip the parsing.
    if crate::middleware::serves_no_pages(uri.path()) {
        return Vec::new();
    }
    let mut urls: Vec<String> = Vec::new();
    if let Some(to) = ReturnTo::from_cookie(state, headers) {
        urls.push(to.0);
    }
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "return_to" => urls.extend(ReturnTo::parse_for(&value, &state.web).map(|to| to.0)),
            "redirect_uri" | "post_logout_redirect_uri" if uri.path().starts_with("/oidc/") => {
                urls.push(value.into_owned())
            }
            _ => {}
        }
    }
    let mut origins: Vec<String> = Vec::new();
    for raw in urls {
        let target = if raw.starts_with('/') {
            // A continuation on latchkey's origin leads elsewhere only through authorize.
            let Ok(local) = state.web.public_url.join(&raw) else {
                continue;
            };
            if local.path() != paths::OIDC_AUTHORIZE {
                continue;
            }
            let Some(redirect) = local
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.into_owned())
            else {
                continue;
            };
            redirect
        } else {
            raw
        };
        let Ok(url) = Url::parse(&target) else {
            continue;
        };
        let plain_host = url.host_str().is_some_and(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
        });
        if matches!(url.scheme(), "http" | "https") && plain_host {
            let origin = url.origin().ascii_serialization();
            if origin != state.web.public_origin && !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

/// Where a browser that just signed in with a full session goes: its continuation, or
/// `Security credentials`.
pub(crate) fn after_sign_in(state: &AppState, headers: &HeaderMap) -> String {
    ReturnTo::from_cookie(state, headers)
        .map(|to| to.0)
        .unwrap_or_else(|| DEFAULT.to_owned())
}

/// `/signin`, carrying `path_and_query` as the continuation when it is one.
pub(crate) fn sign_in_link(state: &AppState, path_and_query: &str) -> String {
    match ReturnTo::parse_for(path_and_query, &state.web) {
        Some(to) if to.as_str() != DEFAULT => format!(
            "/signin?return_to={}",
            url::form_urlencoded::byte_serialize(to.as_str().as_bytes()).collect::<String>()
        ),
        _ => paths::SIGN_IN.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Option<String> {
        let public = Url::parse("https://id.example.com").unwrap();
        ReturnTo::parse_within(raw, &public, None).map(|to| to.0)
    }

    #[test]
    fn applications_under_the_cookie_domain_are_destinations_when_one_is_set() {
        let public = Url::parse("https://login.example.com").unwrap();
        let parse = |raw: &str, domain| ReturnTo::parse_within(raw, &public, domain).map(|to| to.0);
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://app.example.com/a?b=1&c=2",
                Some("https://app.example.com/a?b=1&c=2"),
            ),
            ("https://example.com/", Some("https://example.com/")),
            (
                "https://deep.app.example.com:8443/x#frag",
                Some("https://deep.app.example.com:8443/x"),
            ),
            ("https://APP.Example.COM/", Some("https://app.example.com/")),
            // A downgrade, another domain, a look-alike, an address, credentials, a scheme.
            ("http://app.example.com/", None),
            ("https://evilexample.com/", None),
            ("https://example.com.evil.example/", None),
            ("https://app.example.com@evil.example/", None),
            ("https://user:pw@app.example.com/", None),
            ("https://127.0.0.1/", None),
            ("https://[::1]/", None),
            ("javascript://app.example.com/%0aalert(1)", None),
            ("ftp://app.example.com/", None),
            ("//app.example.com/", None),
            ("https:\\\\app.example.com/", None),
            ("https://app.example.com/\t", None),
            // The public origin's own pages still work as before.
            ("/console", Some("/console")),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                parse(raw, Some("example.com")).as_deref(),
                *expected,
                "{raw:?}"
            );
        }
        // Without a cookie domain nothing off the origin is a destination.
        assert_eq!(parse("https://app.example.com/", None), None);
        // http applications only beside an http latchkey (a test set-up).
        let plain = Url::parse("http://login.example.test:8080").unwrap();
        assert_eq!(
            ReturnTo::parse_within(
                "http://app.example.test:9000/x",
                &plain,
                Some("example.test")
            )
            .map(|to| to.0)
            .as_deref(),
            Some("http://app.example.test:9000/x")
        );
    }

    #[test]
    fn only_paths_on_the_public_origin_are_destinations() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/console/mfa/activate", Some("/console/mfa/activate")),
            (
                "/console/mfa/x/manage?tab=1",
                Some("/console/mfa/x/manage?tab=1"),
            ),
            ("https://id.example.com/console", Some("/console")),
            ("/console/../dev/mailbox", Some("/dev/mailbox")),
            ("/%2F%2Fevil.example", Some("/%2F%2Fevil.example")),
            // Elsewhere, or written to look like here.
            ("https://evil.example/", None),
            ("http://id.example.com/console", None),
            ("https://id.example.com:8443/console", None),
            ("https://id.example.com.evil.example/", None),
            ("https://user@id.example.com/console", None),
            ("//evil.example/x", None),
            ("/\\evil.example", None),
            ("\\\\evil.example", None),
            ("/\t/evil.example", None),
            ("javascript:alert(1)", None),
            ("data:text/html,hi", None),
            ("console", None),
            ("", None),
            // The sign-in pages themselves would loop.
            ("/signin", None),
            ("/signin?return_to=/console", None),
            ("/signin/mfa", None),
            ("/signout", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse(raw).as_deref(), *expected, "{raw:?}");
        }
        assert_eq!(
            parse(&format!("/{}", "a".repeat(MAX_LEN))),
            None,
            "too long"
        );
        // Short enough as typed, too long once percent-encoded.
        assert_eq!(
            parse(&format!("/{}", "é".repeat(400))),
            None,
            "too long encoded"
        );
    }
}
