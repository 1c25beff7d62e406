//! A test app (real store, fixed clock, built-in mailbox) and a tiny browser that keeps
//! cookies and reads CSRF tokens out of forms.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use latchkey_delivery::OutboxWorker;
use latchkey_domain::lockout::LockoutPolicy;
use latchkey_domain::session::SessionPolicy;
use latchkey_service::accounts::SignUpRequest;
use latchkey_service::store::DevStore;
use latchkey_service::{
    FixedClock, HashParams, PasswordHasher, QueueLimits, Service, ServiceConfig, Store,
};
use latchkey_test_support::Backend;
use tower::ServiceExt;

pub const ORIGIN: &str = "http://latchkey.test";
pub const PASSWORD: &str = "violet-anchor-tundra-42";
/// The number the test apps' Twilio calls come from.
pub const TWILIO_FROM: &str = "+14155550100";

/// What a test may change before the app is built.
pub struct Settings<'a> {
    pub web: &'a mut latchkey_web::WebConfig,
    pub service: &'a mut ServiceConfig,
}

pub struct TestApp {
    pub name: &'static str,
    pub router: Router,
    pub store: Arc<dyn Store>,
    /// The built-in mailbox and phone.
    pub dev: Arc<dyn DevStore>,
    pub clock: Arc<FixedClock>,
    pub service: Service,
    /// The service's hashing pool, for tests that fill it.
    pub hasher: PasswordHasher,
    worker: OutboxWorker,
    /// Follows the database's changes, as `latchkey serve` does, so the tests run on the
    /// fast path; stopped with the app.
    _follower: Follower,
    /// The database (kept alive with the app), for tests that act as another process on it.
    pub backend: Backend,
}

/// The change follower's task, stopped when the app is dropped.
struct Follower(tokio::task::JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_voice(backend, Arc::new(latchkey_delivery::DevPhone), None).await
    }

    /// An app whose calls go through `voice`; with `twilio_auth_token` the Twilio webhook
    /// routes replace the built-in phone.
    pub async fn with_voice(
        backend: Backend,
        voice: Arc<dyn latchkey_service::VoiceCaller>,
        twilio_auth_token: Option<String>,
    ) -> Self {
        // Refusals are answered at once here; `with_refusal_pause` tests the pause.
        Self::build(
            backend,
            voice,
            twilio_auth_token,
            std::time::Duration::ZERO,
            |_| {},
        )
        .await
    }

    /// An SQLite app that holds refused attempts as the server does.
    pub async fn with_refusal_pause(pause: std::time::Duration) -> Self {
        let backend = latchkey_test_support::sqlite_backend().await;
        Self::build(
            backend,
            Arc::new(latchkey_delivery::DevPhone),
            None,
            pause,
            |_| {},
        )
        .await
    }

    /// An SQLite app whose web settings `configure` changes (public URL, trusted proxies…).
    pub async fn with_web_config(configure: impl FnOnce(&mut latchkey_web::WebConfig)) -> Self {
        let backend = latchkey_test_support::sqlite_backend().await;
        let voice = Arc::new(latchkey_delivery::DevPhone);
        Self::build(
            backend,
            voice,
            None,
            std::time::Duration::ZERO,
            |settings| configure(settings.web),
        )
        .await
    }

    /// An app on `backend` whose service settings `configure` changes (call budgets…).
    pub async fn with_service_config(
        backend: Backend,
        configure: impl FnOnce(&mut ServiceConfig),
    ) -> Self {
        let voice = Arc::new(latchkey_delivery::DevPhone);
        Self::build(
            backend,
            voice,
            None,
            std::time::Duration::ZERO,
            |settings| configure(settings.service),
        )
        .await
    }

    /// An SQLite app whose hashing pool has one slot and the given queue bounds, holding
    /// refusals for `refusal_pause`.
    pub async fn with_hash_queue(limits: QueueLimits, refusal_pause: std::time::Duration) -> Self {
        let backend = latchkey_test_support::sqlite_backend().await;
        let voice = Arc::new(latchkey_delivery::DevPhone);
        let hasher = small_hasher(1, limits);
        Self::assemble(backend, voice, None, refusal_pause, |_| {}, hasher).await
    }

    async fn build(
        backend: Backend,
        voice: Arc<dyn latchkey_service::VoiceCaller>,
        twilio_auth_token: Option<String>,
        refusal_pause: std::time::Duration,
        configure: impl FnOnce(Settings<'_>),
    ) -> Self {
        let hasher = small_hasher(2, QueueLimits::default());
        Self::assemble(
            backend,
            voice,
            twilio_auth_token,
            refusal_pause,
            configure,
            hasher,
        )
        .await
    }

    async fn assemble(
        backend: Backend,
        voice: Arc<dyn latchkey_service::VoiceCaller>,
        twilio_auth_token: Option<String>,
        refusal_pause: std::time::Duration,
        configure: impl FnOnce(Settings<'_>),
        hasher: PasswordHasher,
    ) -> Self {
        let (store, dev) = (backend.store.clone(), backend.dev.clone());
        let clock = latchkey_test_support::fixtures::fixed_clock();
        let key = latchkey_test_support::fixtures::server_key();
        let mut config = ServiceConfig {
            public_url: ORIGIN.to_owned(),
            sessions: SessionPolicy::default(),
            lockout: LockoutPolicy::default(),
            recovery: latchkey_domain::recovery::RecoveryPolicy::default(),
            calls: latchkey_domain::calls::CallPolicy::default(),
            admission: latchkey_domain::admission::AdmissionPolicy::default(),
        };
        let mut web = latchkey_web::WebConfig {
            public_url: url::Url::parse(ORIGIN).unwrap(),
            dev_mailbox: true,
            dev_providers_exposed: false,
            twilio_from: twilio_auth_token.as_ref().map(|_| TWILIO_FROM.to_owned()),
            twilio_auth_token,
            canonical_redirect: false,
            refusal_pause,
            trusted_proxies: latchkey_web::TrustedProxies::default(),
            cookie_domain: None,
        };
        configure(Settings {
            web: &mut web,
            service: &mut config,
        });
        let links = Arc::new(latchkey_web::WebLinks::new(&web.public_url));
        let service = Service::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            &key,
            config,
            links,
        )
        .with_dev_store(dev.clone());
        let worker = latchkey_test_support::fixtures::built_in_worker(
            store.clone(),
            dev.clone(),
            clock.clone(),
            service.outbox_reader(),
            voice,
            service.outbox_signal(),
        );
        let router = latchkey_web::app(latchkey_web::AppState::new(service.clone(), web, &key));
        let follower = {
            let service = service.clone();
            Follower(tokio::spawn(async move { service.follow_changes().await }))
        };
        // The follower's first catch-up gives no other signal: wait for it, boundedly, so
        // every test's signed-in requests are answered from memory where they can be.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !service.fast_path_ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "the change follower did not catch up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Self {
            name: backend.name,
            router,
            store,
            dev,
            clock,
            service,
            hasher,
            worker,
            _follower: follower,
            backend,
        }
    }

    pub async fn sqlite() -> Self {
        Self::new(latchkey_test_support::sqlite_backend().await).await
    }

    pub async fn all() -> Vec<Self> {
        let mut apps = Vec::new();
        for backend in latchkey_test_support::backends().await {
            apps.push(Self::new(backend).await);
        }
        apps
    }

    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: BTreeMap::new(),
        }
    }

    /// Delivers queued mail and returns the first link to latchkey in the newest mail to
    /// `to`, as a path and query.
    pub async fn link_in_latest_mail(&self, to: &str) -> String {
        self.worker.deliver_due().await.unwrap();
        let mail = self
            .dev
            .dev_mails(100)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.recipient == to)
            .unwrap_or_else(|| panic!("no mail to {to}"));
        let link = mail
            .text_body
            .split_whitespace()
            .find(|w| w.starts_with(ORIGIN))
            .unwrap_or_else(|| panic!("no link in {:?}", mail.subject));
        link[ORIGIN.len()..].to_owned()
    }

    /// Runs the outbox worker once (delivers mail, places calls).
    pub async fn deliver(&self) {
        self.worker.deliver_due().await.unwrap();
    }

    pub async fn mails_to(&self, to: &str) -> Vec<latchkey_service::store::DevMail> {
        self.worker.deliver_due().await.unwrap();
        self.dev
            .dev_mails(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.recipient == to)
            .collect()
    }

    pub async fn active_account(&self, email: &str) -> latchkey_domain::AccountId {
        self.service
            .create_account_by_operator(&SignUpRequest {
                email: email.to_owned(),
                account_name: "Acme".to_owned(),
                password: PASSWORD.to_owned(),
                phone: "+442079460958".to_owned(),
            })
            .await
            .unwrap()
    }

    pub async fn audit_events(&self) -> Vec<(String, String, String)> {
        self.store
            .recent_audit(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|r| (r.event, r.outcome, r.detail))
            .collect()
    }
}

/// Small Argon2 parameters keep the suite fast; production parameters are tested in the
/// service crate and used by the end-to-end suite.
fn small_hasher(slots: usize, limits: QueueLimits) -> PasswordHasher {
    let params = HashParams {
        memory_kib: 1024,
        iterations: 1,
        lanes: 1,
    };
    PasswordHasher::with_queue_limits(params, slots, limits).unwrap()
}

pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden input `name` (the first one on the page).
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no hidden {name} in page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF token in page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A cookie-keeping client that sends same-origin requests the way a browser does.
#[derive(Clone)]
pub struct Browser {
    router: Router,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub async fn send(&mut self, mut request: Request<Body>) -> Page {
        // As `serve` does: the peer's address, this machine's unless a test says otherwise.
        if request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_none()
        {
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
            ));
        }
        let response: Response<Body> = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for cookie in headers.get_all(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Posts a form as the browser would from one of latchkey's pages.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Loads `page_path`, then posts `fields` plus the page's CSRF token to `action`.
    pub async fn submit(&mut self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        let token = page.csrf();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("latchkey_session").cloned()
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let page = self.get("/signin").await;
        let token = page.csrf();
        let step2 = self
            .post("/signin", &[("email", email), ("csrf_token", &token)])
            .await;
        assert_eq!(step2.status, StatusCode::OK, "{}", step2.body);
        let token = step2.csrf();
        self.post(
            "/signin/password",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ],
        )
        .await
    }

    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Page {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }
}

/// A code for `secret` (base32, as the set-up page shows it) at the current step plus
/// `offset` steps, computed from the RFC 6238 definition.
pub fn totp(secret_base32: &str, clock: &FixedClock, offset: i64) -> String {
    use latchkey_domain::totp::{TotpParams, code_at};
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .unwrap();
    let step = TotpParams::VIRTUAL.step_at(latchkey_service::Clock::now(clock)) + offset;
    format!("{:06}", code_at(&secret, TotpParams::VIRTUAL, step))
}

impl Page {
    /// The text of the element with `id`, e.g. the secret key on the set-up page.
    pub fn element_text(&self, id: &str) -> String {
        let marker = format!("id=\"{id}\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no #{id} in page:\n{}", self.body));
        let open_end = self.body[start..].find('>').unwrap() + start + 1;
        let close = self.body[open_end..].find('<').unwrap() + open_end;
        self.body[open_end..close].trim().to_owned()
    }
}

/// Answers the newest ringing call on the built-in phone and keys `digits`.
pub async fn key_on_dev_phone(app: &TestApp, browser: &mut Browser, digits: &str) -> Page {
    app.deliver().await;
    let phone = browser.get("/dev/phone").await;
    let marker = "action=\"/dev/phone/";
    let start = phone
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no ringing call:\n{}", phone.body))
        + marker.len();
    let call_id = phone.body[start..start + phone.body[start..].find('"').unwrap()].to_owned();
    let answered = browser
        .submit("/password/forgot", &format!("/dev/phone/{call_id}"), &[])
        .await;
    assert!(
        answered
            .body
            .contains("enter the 6 digit code shown on your screen"),
        "{}",
        answered.body
    );
    assert!(
        answered.body.contains(
            "Never read this code to anyone, and enter it only if you are signing in yourself"
        ),
        "{}",
        answered.body
    );
    browser
        .post(
            &format!("/dev/phone/{call_id}/digits"),
            &[
                ("digits", digits),
                ("attempt", &answered.hidden("attempt")),
                ("csrf_token", &answered.csrf()),
            ],
        )
        .await
}
