//! Whether the built-in mailbox and phone may serve this deployment.
//!
//! `/dev/mailbox` and `/dev/phone` are web pages that show every email latchkey sends and
//! answer every call it places, for whoever opens them. On a developer's own machine that is
//! the point. On a server other people can reach it hands accounts out: the mailbox gives
//! anyone the reset and recovery links of any email address, and the phone lets whoever has a
//! password key in the code shown on their own screen, so MFA recovery asks for nothing more.
//! The built-in providers therefore serve only a loopback-only set-up, unless the operator
//! says otherwise in a setting named for what it does (`LATCHKEY_DEV_PROVIDERS=1`), and even
//! then every page says that anyone can read them.
//!
//! Pure: the decision is a function of the settings, tested below as a table of every
//! combination. Only `serve` applies it; the other commands deliver nothing.

use std::net::{IpAddr, SocketAddr};

/// How the built-in providers are used, once the server is allowed to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DevProviders {
    /// Real SMTP and Twilio are configured: no built-in provider exists.
    NotUsed,
    /// A loopback-only set-up: the built-in providers stand in for what is not configured.
    Local,
    /// A set-up others can reach, allowed by `LATCHKEY_DEV_PROVIDERS=1`: the server warns at
    /// start and every console page says that anyone can read the built-in providers.
    /// `reason` says why the set-up is not local, for that warning.
    Exposed { reason: String },
}

/// The settings the decision depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deployment<'a> {
    pub listen: SocketAddr,
    /// `LATCHKEY_PUBLIC_URL` as configured; `None` derives it from the listen address, which
    /// for a loopback address is `http://localhost:PORT`.
    pub public_url: Option<&'a url::Url>,
    pub smtp: bool,
    pub twilio: bool,
    /// `LATCHKEY_DEV_PROVIDERS`.
    pub dev_providers: bool,
    /// `LATCHKEY_TRUSTED_PROXIES` is set: a reverse proxy stands in front, so others reach
    /// this server even though it listens on loopback.
    pub behind_proxy: bool,
}

/// Decides whether the server may start, and how the built-in providers are used. The error
/// names the missing settings and says why they are needed.
pub(crate) fn decide(deployment: Deployment<'_>) -> Result<DevProviders, String> {
    if deployment.smtp && deployment.twilio {
        return Ok(DevProviders::NotUsed);
    }
    let mut reasons = not_local_reasons(deployment.listen, deployment.public_url);
    if deployment.behind_proxy {
        reasons.push("LATCHKEY_TRUSTED_PROXIES names a reverse proxy in front of it".to_owned());
    }
    if reasons.is_empty() {
        return Ok(DevProviders::Local);
    }
    let reason = reasons.join("; ");
    if deployment.dev_providers {
        return Ok(DevProviders::Exposed { reason });
    }
    let mut missing = Vec::new();
    let mut harms = Vec::new();
    if !deployment.smtp {
        missing.push("LATCHKEY_SMTP_URL");
        harms.push(
            "the built-in mailbox at /dev/mailbox would show anyone the sign-up, password reset and recovery links of every account, so an email address alone would take an account",
        );
    }
    if !deployment.twilio {
        missing.extend([
            "LATCHKEY_TWILIO_ACCOUNT_SID",
            "LATCHKEY_TWILIO_AUTH_TOKEN",
            "LATCHKEY_TWILIO_FROM",
        ]);
        harms.push(
            "the built-in phone at /dev/phone would let anyone answer the verification call, so whoever has a password could get past MFA by keying the code shown on their own screen",
        );
    }
    Err(format!(
        "this server can be reached by others ({reason}), so it needs real email and voice calls: set {}. Without them {}. (LATCHKEY_DEV_PROVIDERS=1 starts it anyway, for a test server nobody else can reach.)",
        join_names(&missing),
        harms.join(", and ")
    ))
}

/// Why the set-up is not loopback-only; empty when it is.
fn not_local_reasons(listen: SocketAddr, public_url: Option<&url::Url>) -> Vec<String> {
    let mut reasons = Vec::new();
    if !listen.ip().to_canonical().is_loopback() {
        reasons.push(format!(
            "it listens on {listen}, which is not a loopback address"
        ));
    }
    if let Some(url) = public_url {
        let shown = url.as_str().trim_end_matches('/');
        if url.scheme() == "https" {
            reasons.push(format!("its public URL {shown} is https://"));
        }
        if !host_is_loopback(url) {
            reasons.push(format!(
                "its public URL {shown} names a host other than localhost, 127.x.x.x or ::1"
            ));
        }
    }
    reasons
}

fn host_is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a row expects: `Refused` lists the settings the message must name.
    #[derive(Debug)]
    enum Expect {
        NotUsed,
        Local,
        Exposed,
        Refused(&'static [&'static str]),
    }

    const SMTP: &[&str] = &["LATCHKEY_SMTP_URL"];
    const TWILIO: &[&str] = &[
        "LATCHKEY_TWILIO_ACCOUNT_SID",
        "LATCHKEY_TWILIO_AUTH_TOKEN",
        "LATCHKEY_TWILIO_FROM",
    ];
    const BOTH: &[&str] = &[
        "LATCHKEY_SMTP_URL",
        "LATCHKEY_TWILIO_ACCOUNT_SID",
        "LATCHKEY_TWILIO_AUTH_TOKEN",
        "LATCHKEY_TWILIO_FROM",
    ];

    #[test]
    fn built_in_providers_serve_only_a_loopback_only_set_up_unless_allowed() {
        use Expect::*;
        // listen, public URL, smtp, twilio, LATCHKEY_DEV_PROVIDERS, expected.
        // Every combination of: loopback or not (0.0.0.0 is not), http or https, a loopback
        // host name or not, SMTP, Twilio, the override.
        #[rustfmt::skip]
        let table: &[(&str, &str, bool, bool, bool, Expect)] = &[
            ("127.0.0.1:8080", "http://localhost:8080",        false, false, false, Local),
            ("127.0.0.1:8080", "http://localhost:8080",        false, false, true,  Local),
            ("127.0.0.1:8080", "http://localhost:8080",        false, true,  false, Local),
            ("127.0.0.1:8080", "http://localhost:8080",        false, true,  true,  Local),
            ("127.0.0.1:8080", "http://localhost:8080",        true,  false, false, Local),
            ("127.0.0.1:8080", "http://localhost:8080",        true,  false, true,  Local),
            ("127.0.0.1:8080", "http://localhost:8080",        true,  true,  false, NotUsed),
            ("127.0.0.1:8080", "http://localhost:8080",        true,  true,  true,  NotUsed),
            ("127.0.0.1:8080", "http://login.example.com",     false, false, false, Refused(BOTH)),
            ("127.0.0.1:8080", "http://login.example.com",     false, false, true,  Exposed),
            ("127.0.0.1:8080", "http://login.example.com",     false, true,  false, Refused(SMTP)),
            ("127.0.0.1:8080", "http://login.example.com",     false, true,  true,  Exposed),
            ("127.0.0.1:8080", "http://login.example.com",     true,  false, false, Refused(TWILIO)),
            ("127.0.0.1:8080", "http://login.example.com",     true,  false, true,  Exposed),
            ("127.0.0.1:8080", "http://login.example.com",     true,  true,  false, NotUsed),
            ("127.0.0.1:8080", "http://login.example.com",     true,  true,  true,  NotUsed),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       false, false, false, Refused(BOTH)),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       false, false, true,  Exposed),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       false, true,  false, Refused(SMTP)),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       false, true,  true,  Exposed),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       true,  false, false, Refused(TWILIO)),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       true,  false, true,  Exposed),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       true,  true,  false, NotUsed),
            ("127.0.0.1:8080", "https://127.0.0.1:8443",       true,  true,  true,  NotUsed),
            ("127.0.0.1:8080", "https://login.example.com",    false, false, false, Refused(BOTH)),
            ("127.0.0.1:8080", "https://login.example.com",    false, false, true,  Exposed),
            ("127.0.0.1:8080", "https://login.example.com",    false, true,  false, Refused(SMTP)),
            ("127.0.0.1:8080", "https://login.example.com",    false, true,  true,  Exposed),
            ("127.0.0.1:8080", "https://login.example.com",    true,  false, false, Refused(TWILIO)),
            ("127.0.0.1:8080", "https://login.example.com",    true,  false, true,  Exposed),
            ("127.0.0.1:8080", "https://login.example.com",    true,  true,  false, NotUsed),
            ("127.0.0.1:8080", "https://login.example.com",    true,  true,  true,  NotUsed),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        false, false, false, Refused(BOTH)),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        false, false, true,  Exposed),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        false, true,  false, Refused(SMTP)),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        false, true,  true,  Exposed),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        true,  false, false, Refused(TWILIO)),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        true,  false, true,  Exposed),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        true,  true,  false, NotUsed),
            ("0.0.0.0:8080",   "http://127.0.0.1:8080",        true,  true,  true,  NotUsed),
            ("0.0.0.0:8080",   "http://login.example.com",     false, false, false, Refused(BOTH)),
            ("0.0.0.0:8080",   "http://login.example.com",     false, false, true,  Exposed),
            ("0.0.0.0:8080",   "http://login.example.com",     false, true,  false, Refused(SMTP)),
            ("0.0.0.0:8080",   "http://login.example.com",     false, true,  true,  Exposed),
            ("0.0.0.0:8080",   "http://login.example.com",     true,  false, false, Refused(TWILIO)),
            ("0.0.0.0:8080",   "http://login.example.com",     true,  false, true,  Exposed),
            ("0.0.0.0:8080",   "http://login.example.com",     true,  true,  false, NotUsed),
            ("0.0.0.0:8080",   "http://login.example.com",     true,  true,  true,  NotUsed),
            ("[::]:8080",      "https://[::1]:8443",           false, false, false, Refused(BOTH)),
            ("[::]:8080",      "https://[::1]:8443",           false, false, true,  Exposed),
            ("[::]:8080",      "https://[::1]:8443",           false, true,  false, Refused(SMTP)),
            ("[::]:8080",      "https://[::1]:8443",           false, true,  true,  Exposed),
            ("[::]:8080",      "https://[::1]:8443",           true,  false, false, Refused(TWILIO)),
            ("[::]:8080",      "https://[::1]:8443",           true,  false, true,  Exposed),
            ("[::]:8080",      "https://[::1]:8443",           true,  true,  false, NotUsed),
            ("[::]:8080",      "https://[::1]:8443",           true,  true,  true,  NotUsed),
            ("192.0.2.7:8080", "https://login.example.com",    false, false, false, Refused(BOTH)),
            ("192.0.2.7:8080", "https://login.example.com",    false, false, true,  Exposed),
            ("192.0.2.7:8080", "https://login.example.com",    false, true,  false, Refused(SMTP)),
            ("192.0.2.7:8080", "https://login.example.com",    false, true,  true,  Exposed),
            ("192.0.2.7:8080", "https://login.example.com",    true,  false, false, Refused(TWILIO)),
            ("192.0.2.7:8080", "https://login.example.com",    true,  false, true,  Exposed),
            ("192.0.2.7:8080", "https://login.example.com",    true,  true,  false, NotUsed),
            ("192.0.2.7:8080", "https://login.example.com",    true,  true,  true,  NotUsed),
        ];
        assert_eq!(
            table.len(),
            64,
            "2 listen × 2 schemes × 2 hosts × 2³ settings"
        );
        for (listen, public_url, smtp, twilio, dev_providers, expected) in table {
            let url = url::Url::parse(public_url).unwrap();
            let got = decide(Deployment {
                listen: listen.parse().unwrap(),
                public_url: Some(&url),
                smtp: *smtp,
                twilio: *twilio,
                dev_providers: *dev_providers,
                behind_proxy: false,
            });
            let row =
                format!("{listen} {public_url} smtp={smtp} twilio={twilio} dev={dev_providers}");
            match (expected, &got) {
                (NotUsed, Ok(DevProviders::NotUsed))
                | (Local, Ok(DevProviders::Local))
                | (Exposed, Ok(DevProviders::Exposed { .. })) => {}
                (Refused(names), Err(message)) => {
                    for name in BOTH {
                        assert_eq!(
                            message.contains(name),
                            names.contains(name),
                            "{row}: {name} in {message:?}"
                        );
                    }
                }
                _ => panic!("{row}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn the_embedded_defaults_are_local_and_names_for_loopback_count_as_local() {
        let decide_for = |listen: &str, public_url: Option<&str>| {
            let url = public_url.map(|u| url::Url::parse(u).unwrap());
            decide(Deployment {
                listen: listen.parse().unwrap(),
                public_url: url.as_ref(),
                smtp: false,
                twilio: false,
                dev_providers: false,
                behind_proxy: false,
            })
        };
        assert_eq!(decide_for("127.0.0.1:8080", None), Ok(DevProviders::Local));
        // Loopback, but with a reverse proxy named in front: others reach it.
        let proxied = decide(Deployment {
            listen: "127.0.0.1:8080".parse().unwrap(),
            public_url: None,
            smtp: false,
            twilio: false,
            dev_providers: false,
            behind_proxy: true,
        });
        assert!(
            proxied
                .as_ref()
                .is_err_and(|e| e.contains("LATCHKEY_TRUSTED_PROXIES")),
            "{proxied:?}"
        );
        assert_eq!(decide_for("[::1]:8080", None), Ok(DevProviders::Local));
        for local in [
            "http://localhost:9000",
            "http://LOCALHOST:9000",
            "http://127.0.0.1:9000",
            "http://127.8.9.10:9000",
            "http://[::1]:9000",
        ] {
            assert_eq!(
                decide_for("127.0.0.1:9000", Some(local)),
                Ok(DevProviders::Local),
                "{local}"
            );
        }
        for not_local in [
            "http://localhost.example.com:9000",
            "http://10.0.0.1:9000",
            "https://localhost:9000",
        ] {
            assert!(
                decide_for("127.0.0.1:9000", Some(not_local)).is_err(),
                "{not_local}"
            );
        }
        let everywhere = decide_for("0.0.0.0:8080", None).unwrap_err();
        assert!(
            everywhere.contains("listens on 0.0.0.0:8080")
                && everywhere.contains("not a loopback address"),
            "{everywhere}"
        );
        assert!(decide_for("192.0.2.7:8080", None).is_err());
    }

    #[test]
    fn the_refusal_says_why_each_missing_provider_is_needed() {
        let url = url::Url::parse("https://login.example.com").unwrap();
        let message = decide(Deployment {
            listen: "127.0.0.1:8080".parse().unwrap(),
            public_url: Some(&url),
            smtp: true,
            twilio: false,
            dev_providers: false,
            behind_proxy: false,
        })
        .unwrap_err();
        assert!(
            message.contains("https://login.example.com is https://")
                && message.contains(
                    "set LATCHKEY_TWILIO_ACCOUNT_SID, LATCHKEY_TWILIO_AUTH_TOKEN and LATCHKEY_TWILIO_FROM"
                )
                && message.contains("/dev/phone")
                && !message.contains("/dev/mailbox")
                && message.contains("LATCHKEY_DEV_PROVIDERS=1"),
            "{message}"
        );
    }
}
