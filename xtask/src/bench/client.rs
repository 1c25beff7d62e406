//! A sign-in client speaking latchkey's JSON API from one loopback address.
//!
//! latchkey keys its admission control on the client address, so every simulated client has
//! its own address in 127.0.0.0/8 (all of which reach the loopback interface on Linux).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::json;

use super::seed::{BenchAccount, PASSWORD};

#[derive(Clone)]
pub(super) struct Client {
    http: reqwest::Client,
    base: String,
}

/// A complete sign-in.
#[derive(Debug, Clone)]
pub(super) struct SignedIn {
    pub session_token: String,
    pub device_token: String,
    /// The TOTP time step the sign-in used up.
    pub step: i64,
    pub latency: Duration,
}

/// How one attempt ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    SignedIn,
    /// 401: wrong email or password.
    Denied,
    /// 429: refused before hashing.
    Throttled,
    Other(u16),
}

impl Client {
    pub(super) fn new(base: &str, from: Ipv4Addr) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(from))
            .pool_max_idle_per_host(64)
            // Plain HTTP over loopback: no proxy, and no TLS roots to load for each client.
            .no_proxy()
            .tls_certs_only(Vec::<reqwest::Certificate>::new())
            // A redirect (to the sign-in page) is an answer to count, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: base.to_owned(),
        })
    }

    /// The whole sign-in: password, then the device's current code, presenting the
    /// known-device token of an earlier sign-in if there is one.
    pub(super) async fn sign_in(
        &self,
        account: &BenchAccount,
        device_token: Option<&str>,
        used_step: Option<i64>,
    ) -> anyhow::Result<SignedIn> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&json!({
                "email": account.email,
                "password": PASSWORD,
                "device_token": device_token,
            }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status != StatusCode::ACCEPTED {
            bail!("password step for {}: {status} {body}", account.email);
        }
        let attempt = body["attempt_token"]
            .as_str()
            .context("no attempt_token in the password step's answer")?
            .to_owned();
        let (code, step) = account.code(used_step);
        let response = self
            .http
            .post(format!("{}/api/v1/sessions/mfa", self.base))
            .json(&json!({
                "attempt_token": attempt,
                "device_id": account.device_id,
                "code": code,
                "device_token": device_token,
            }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status != StatusCode::CREATED {
            bail!("code step for {}: {status} {body}", account.email);
        }
        let latency = started.elapsed();
        let text = |key: &str| {
            body[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {key} in the code step's answer"))
        };
        Ok(SignedIn {
            session_token: text("session_token")?,
            device_token: text("device_token")?,
            step,
            latency,
        })
    }

    /// One password attempt; the answer's status and how long it took.
    pub(super) async fn password_attempt(
        &self,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(Outcome, Duration)> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        let outcome = match status {
            StatusCode::ACCEPTED | StatusCode::CREATED => Outcome::SignedIn,
            StatusCode::UNAUTHORIZED => Outcome::Denied,
            StatusCode::TOO_MANY_REQUESTS => Outcome::Throttled,
            other => Outcome::Other(other.as_u16()),
        };
        Ok((outcome, started.elapsed()))
    }

    /// A GET with optional cookies; the status.
    pub(super) async fn get(&self, path: &str, cookie: Option<&str>) -> anyhow::Result<u16> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let _ = response.bytes().await?;
        Ok(status)
    }

    /// The value of a cookie the server sets on `path`.
    pub(super) async fn cookie_from(&self, path: &str, name: &str) -> anyhow::Result<String> {
        self.cookie_from_with(path, None, name).await
    }

    /// The value of a cookie the server sets on `path` for a request carrying `cookie`.
    pub(super) async fn cookie_from_with(
        &self,
        path: &str,
        cookie: Option<&str>,
        name: &str,
    ) -> anyhow::Result<String> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let response = request.send().await?;
        response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix(&format!("{name}="))
                    .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            })
            .with_context(|| format!("{path} set no {name} cookie"))
    }
}

/// Address `n` of one group of simulated clients, in `127.<group>.0.0/16`; groups start at 1,
/// so no client shares `127.0.0.1` with the server.
pub(super) fn address(group: u8, n: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, group, (n / 254 % 256) as u8, (n % 254) as u8 + 1)
}
