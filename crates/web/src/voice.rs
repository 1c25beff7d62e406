//! The telephone side of verification calls: Twilio's webhooks, and the built-in phone.
//!
//! Every `/twilio/*` request must carry a valid `X-Twilio-Signature`: HMAC-SHA1, keyed with
//! the auth token, over the URL as configured by `LATCHKEY_PUBLIC_URL` (never rebuilt from
//! `Host` or `X-Forwarded-*`) followed by the POST parameters sorted by name, each name
//! immediately followed by its value; base64; compared in constant time. A missing or wrong
//! signature is refused (403) before anything is read or changed. The built-in phone at
//! `/dev/phone` exists only when Twilio is not configured, and calls the same service methods.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use latchkey_domain::CallId;
use latchkey_service::password_reset::format_time;
use latchkey_service::{CallScript, DigitsReport};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::page::{Page, render};

pub(crate) fn twilio_routes() -> Router<AppState> {
    Router::new()
        .route("/twilio/voice/{call_id}", post(twilio_voice))
        .route("/twilio/gather/{call_id}", post(twilio_gather))
        .route("/twilio/status/{call_id}", post(twilio_status))
}

pub(crate) fn dev_phone_routes() -> Router<AppState> {
    Router::new()
        .route("/dev/phone", get(dev_phone))
        .route("/dev/phone/{call_id}", post(dev_answer))
        .route("/dev/phone/{call_id}/digits", post(dev_digits))
}

/// Twilio's request signature for `url` and the POST parameters.
#[expect(clippy::expect_used, reason = "HMAC takes any key")]
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The parameters of a Twilio webhook whose signature checked out.
struct Webhook {
    params: Vec<(String, String)>,
}

/// `?attempt=N` on a gather action: the prompt the digits answer.
#[derive(serde::Deserialize)]
struct GatherQuery {
    attempt: Option<u32>,
}

impl Webhook {
    fn get(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// A webhook refused before anything was read or changed.
struct Refused;

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, "invalid signature\n").into_response()
    }
}

/// The one way a handler gets a Twilio webhook: the signature is checked (and the call's
/// `From` number) before the handler runs, so no handler can forget to. It reads the body,
/// so it comes last among a handler's arguments.
impl FromRequest<AppState> for Webhook {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The URL Twilio signed is the one it was given: the path before any nesting.
        let uri = request
            .extensions()
            .get::<OriginalUri>()
            .map(|original| original.0.clone())
            .unwrap_or_else(|| request.uri().clone());
        let headers = request.headers().clone();
        // A body over the limit, or one that cannot be read, is answered as such (413, 400)
        // before anything is checked or changed.
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                tracing::warn!(path = %uri.path(), "refused a Twilio webhook: {rejection}");
                rejection.into_response()
            })?;
        verify(state, &uri, &headers, &body).map_err(IntoResponse::into_response)
    }
}

fn verify(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Webhook, Refused> {
    let refuse = |why: &str| {
        tracing::warn!(reason = why, path = %uri.path(), "refused a Twilio webhook");
        Refused
    };
    let Some(token) = state
        .web
        .twilio_auth_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return Err(refuse("no auth token configured"));
    };
    let Some(presented) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(refuse("missing signature"));
    };
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| refuse("malformed body"))?;
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let url = format!("{}{}", state.service.config().public_url, path_and_query);
    let expected = twilio_signature(token, &url, &params);
    if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(refuse("signature mismatch"));
    }
    let hook = Webhook { params };
    // Signed by Twilio, but about a call from another number (an inbound call, another
    // application on the account): not one of ours.
    if let Some(from) = &state.web.twilio_from
        && !hook.get("From").is_empty()
        && !same_number(hook.get("From"), from)
    {
        return Err(refuse("call from another number"));
    }
    Ok(hook)
}

fn same_number(a: &str, b: &str) -> bool {
    match (
        latchkey_domain::PhoneNumber::parse(a),
        latchkey_domain::PhoneNumber::parse(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The words a call speaks, shared by Twilio's `<Say>` and the built-in phone's screen.
fn words(script: CallScript) -> &'static str {
    match script {
        CallScript::Prompt { retry: false, .. } => {
            "Hello, this is latchkey. To verify your phone number, enter the 6 digit code shown on your screen. Never read this code to anyone, and enter it only if you are signing in yourself."
        }
        CallScript::Prompt { retry: true, .. } => {
            "That code is not correct. Enter the 6 digit code shown on your screen, only if you are signing in yourself."
        }
        CallScript::Verified => {
            "Thank you. Your phone number is verified. You can return to your screen. Goodbye."
        }
        CallScript::TooManyAttempts => {
            "That code is not correct, and there are no attempts left on this call. Use Try again on your screen for a new call. Goodbye."
        }
        CallScript::NotValid => "This call is no longer valid. Goodbye.",
    }
}

/// TwiML for a script: a prompt gathers six digits and posts them to our gather action.
fn twiml(state: &AppState, call_id: &str, script: CallScript) -> Response {
    let words = xml_escape(words(script));
    let body = if let CallScript::Prompt { attempt, .. } = script {
        // The prompt's number is in the signed URL: Twilio's answer carries it back, so a
        // duplicated or replayed answer is recognised and never counted twice.
        let action = xml_escape(&format!(
            "{}/twilio/gather/{call_id}?attempt={attempt}",
            state.service.config().public_url
        ));
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Gather input=\"dtmf\" numDigits=\"6\" timeout=\"15\" action=\"{action}\" method=\"POST\"><Say>{words}</Say></Gather><Say>We did not receive any digits. Goodbye.</Say><Hangup/></Response>\n"
        )
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Say>{words}</Say><Hangup/></Response>\n"
        )
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

async fn twilio_voice(
    State(state): State<AppState>,
    Path(call_id): Path<String>,
    hook: Webhook,
) -> Response {
    let to = Some(hook.get("To")).filter(|to| !to.is_empty());
    match state
        .service
        .answer_call(&CallId::new(call_id.as_str()), hook.get("CallSid"), to)
        .await
    {
        Ok(script) => twiml(&state, &call_id, script),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn twilio_gather(
    State(state): State<AppState>,
    Path(call_id): Path<String>,
    Query(query): Query<GatherQuery>,
    Client(ctx): Client,
    hook: Webhook,
) -> Response {
    let report = DigitsReport {
        call_id: &CallId::new(call_id.as_str()),
        provider_call_id: hook.get("CallSid"),
        digits: hook.get("Digits"),
        prompt: query.attempt,
        to: Some(hook.get("To")).filter(|to| !to.is_empty()),
    };
    match state.service.receive_digits(&report, &ctx).await {
        Ok(script) => twiml(&state, &call_id, script),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn twilio_status(
    State(state): State<AppState>,
    Path(call_id): Path<String>,
    hook: Webhook,
) -> Response {
    match state
        .service
        .call_status(
            &CallId::new(call_id),
            hook.get("CallSid"),
            hook.get("CallStatus"),
        )
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

pub(crate) struct CallRow {
    pub id: String,
    pub to: String,
    pub placed: String,
    pub status: &'static str,
    pub ringing: bool,
}

#[derive(Template)]
#[template(path = "dev/phone.html")]
struct PhonePage {
    page: Page,
    calls: Vec<CallRow>,
}

#[derive(Template)]
#[template(path = "dev/call.html")]
struct CallPage {
    page: Page,
    call_id: String,
    to: String,
    words: &'static str,
    /// The prompt being answered, when the call asks for digits.
    prompt: Option<u32>,
}

fn prompt_of(script: CallScript) -> Option<u32> {
    match script {
        CallScript::Prompt { attempt, .. } => Some(attempt),
        _ => None,
    }
}

async fn dev_phone(State(state): State<AppState>, page: Page) -> Result<Response, PageError> {
    let calls = state
        .service
        .dev_calls()
        .await?
        .into_iter()
        .map(|c| CallRow {
            ringing: c.status == latchkey_domain::calls::CallStatus::Placed,
            id: c.id.to_string(),
            to: c.to_number,
            placed: format_time(c.created_at),
            status: crate::api::values::call_status(c.status),
        })
        .collect();
    Ok(render(&PhonePage { page, calls }).into_response())
}

async fn dev_call(
    state: &AppState,
    call_id: &str,
) -> Result<(latchkey_service::store::CallRecord, String), PageError> {
    let call = state
        .service
        .dev_calls()
        .await?
        .into_iter()
        .find(|c| c.id == call_id)
        .ok_or_else(PageError::not_found)?;
    let provider = call.provider_call_id.clone().unwrap_or_default();
    Ok((call, provider))
}

/// Answering shows what the caller hears, and the keypad. A POST with the page's CSRF token,
/// as answering may bind the call: no link or prefetch answers a call.
async fn dev_answer(
    State(state): State<AppState>,
    page: Page,
    Path(call_id): Path<String>,
    ConsoleForm(_): ConsoleForm<crate::csrf::EmptyForm>,
) -> Result<Response, PageError> {
    let (call, provider) = dev_call(&state, &call_id).await?;
    let script = state.service.answer_call(&call.id, &provider, None).await?;
    Ok(render(&CallPage {
        page,
        call_id: call.id.to_string(),
        to: call.to_number,
        words: words(script),
        prompt: prompt_of(script),
    })
    .into_response())
}

#[derive(serde::Deserialize)]
struct DigitsForm {
    #[serde(default)]
    digits: String,
    /// The prompt the keypad answers (a hidden field of the call page).
    attempt: Option<u32>,
}

async fn dev_digits(
    State(state): State<AppState>,
    page: Page,
    Client(ctx): Client,
    Path(call_id): Path<String>,
    ConsoleForm(form): ConsoleForm<DigitsForm>,
) -> Result<Response, PageError> {
    let (call, provider) = dev_call(&state, &call_id).await?;
    let digits: String = form.digits.chars().filter(|c| !c.is_whitespace()).collect();
    let report = DigitsReport {
        call_id: &call.id,
        provider_call_id: &provider,
        digits: &digits,
        prompt: form.attempt,
        to: None,
    };
    let script = state.service.receive_digits(&report, &ctx).await?;
    Ok(render(&CallPage {
        page,
        call_id: call.id.to_string(),
        to: call.to_number,
        words: words(script),
        prompt: prompt_of(script),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from Twilio's webhook security documentation.
    #[test]
    fn matches_twilios_published_example_signature() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }
}
