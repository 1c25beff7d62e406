//! `Event history`: what happened to the account, newest first, with a filter by event and
//! by date and a link to older events.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use latchkey_domain::{AuditEvent, AuditOutcome, Duration, Timestamp};
use latchkey_service::event_history::{Event, EventQuery};
use latchkey_service::password_reset::format_time;
use latchkey_service::{FieldError, Problem};

use crate::AppState;
use crate::api::values::{event_from_type, event_type};
use crate::error::PageError;
use crate::links::paths;
use crate::page::{Page, render};
use crate::session::SignedIn;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(paths::EVENT_HISTORY, get(page))
}

/// Events per page.
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub(super) struct Filter {
    /// One event type, by its API name; all when empty.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    kind: String,
    /// First day shown (`2026-11-30`, UTC).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    since: String,
    /// Last day shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    until: String,
    /// Older than this event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    before: String,
}

struct Row {
    at: String,
    what: &'static str,
    refused: bool,
    detail: String,
    from: String,
    browser: String,
}

impl From<&Event> for Row {
    fn from(e: &Event) -> Self {
        Self {
            at: format_time(e.at),
            what: e.event.map(event_words).unwrap_or("Other event"),
            refused: e.outcome == Some(AuditOutcome::Failure),
            detail: e.detail.clone(),
            from: e.client_addr.clone(),
            browser: e.user_agent.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    page: Page,
    /// (type, words, selected) for the filter's list.
    types: Vec<(&'static str, &'static str, bool)>,
    since: String,
    until: String,
    filtered: bool,
    rows: Vec<Row>,
    older: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    mut page: Page,
    filter: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Some(account) = state.service.account(&session.account_id).await? else {
        return Ok(Redirect::to(paths::SIGN_IN).into_response());
    };
    page.signed_in_as = Some(account.email.to_string());
    let filter = match filter {
        Ok(Query(filter)) => filter,
        Err(_) => {
            page = page.with_error("This filter could not be read; showing every event.");
            Filter::default()
        }
    };
    let (rows, older) = match query(&filter) {
        Ok(query) => {
            let found = state.service.account_events(&session, &query).await?;
            let older = found.older.map(|before| {
                let next = Filter {
                    before: before.to_string(),
                    ..filter.clone()
                };
                format!(
                    "{}?{}",
                    paths::EVENT_HISTORY,
                    serde_urlencoded::to_string(&next).unwrap_or_default()
                )
            });
            (found.events.iter().map(Row::from).collect(), older)
        }
        Err(problems) => {
            page = page.with_error(crate::wording::fields(&problems));
            (Vec::new(), None)
        }
    };
    let selected = event_from_type(&filter.kind);
    Ok(render(&EventsPage {
        page,
        types: AuditEvent::ALL
            .iter()
            .map(|e| (event_type(*e), event_words(*e), Some(*e) == selected))
            .collect(),
        filtered: !(filter.kind.is_empty() && filter.since.is_empty() && filter.until.is_empty()),
        since: filter.since,
        until: filter.until,
        rows,
        older,
    })
    .into_response())
}

/// The filter as the service takes it: days are whole UTC days, `until` included.
fn query(filter: &Filter) -> Result<EventQuery, Vec<FieldError>> {
    let mut problems = Vec::new();
    let events = match filter.kind.trim() {
        "" => Vec::new(),
        name => match event_from_type(name) {
            Some(event) => vec![event],
            None => {
                problems.push(FieldError::new("type", Problem::UnknownEventType));
                Vec::new()
            }
        },
    };
    let mut day = |field: &'static str, text: &str| {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match time::Date::parse(text, &format) {
            Ok(date) => Some(Timestamp(date.midnight().assume_utc().unix_timestamp())),
            Err(_) => {
                problems.push(FieldError::new(
                    field,
                    Problem::TimeMalformed { date: true },
                ));
                None
            }
        }
    };
    let since = day("since", &filter.since);
    let until = day("until", &filter.until).map(|start| start + Duration::hours(24));
    let before = match filter.before.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                problems.push(FieldError::new(
                    "before",
                    Problem::NumberOutOfRange { max: i64::MAX },
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(EventQuery {
        events,
        since,
        until,
        before,
        limit: PAGE_SIZE,
    })
}

/// What the page calls each event.
fn event_words(event: AuditEvent) -> &'static str {
    match event {
        AuditEvent::SignUp => "Account signed up",
        AuditEvent::VerificationEmailSent => "Verification email sent",
        AuditEvent::EmailVerified => "Email address verified",
        AuditEvent::AccountCreatedByOperator => "Account created by the operator",
        AuditEvent::SignIn => "Signed in",
        AuditEvent::SignOut => "Signed out",
        AuditEvent::PasswordResetRequested => "Password reset requested",
        AuditEvent::PasswordReset => "Password reset",
        AuditEvent::SignInPasswordVerified => "Password accepted, MFA code asked",
        AuditEvent::MfaActivated => "MFA device added",
        AuditEvent::MfaResynced => "MFA device resynchronised",
        AuditEvent::MfaRemoved => "MFA device removed",
        AuditEvent::MfaCode => "MFA code",
        AuditEvent::RecoveryStarted => "Sign-in with alternative factors started",
        AuditEvent::RecoveryEmailSent => "Alternative factors: email sent",
        AuditEvent::RecoveryEmailVerified => "Alternative factors: email verified",
        AuditEvent::RecoveryCallPlaced => "Alternative factors: call placed",
        AuditEvent::PhoneCode => "Code keyed on a verification call",
        AuditEvent::RecoveryCompleted => "Signed in with alternative factors",
        AuditEvent::RecoveryCancelled => "Sign-in with alternative factors stopped",
        AuditEvent::SignUpCallPlaced => "Sign-up verification call placed",
        AuditEvent::PasswordChanged => "Password changed",
        AuditEvent::TokensImported => "Hardware tokens imported",
        AuditEvent::Reauthentication => "Password confirmed for a change",
        AuditEvent::OperatorUnblockedRecovery => "Operator lifted the recovery block",
        AuditEvent::OperatorResetMfa => "Operator removed every MFA device",
        AuditEvent::ContactChangeRequested => "Contact change asked for",
        AuditEvent::ContactChangeCallPlaced => "Contact change: call placed",
        AuditEvent::ContactChanged => "Email address or phone number changed",
        AuditEvent::ContactChangeReverted => "Contact change undone (This wasn't me)",
        AuditEvent::OperatorDisabledAccount => "Operator disabled the account",
        AuditEvent::OperatorEnabledAccount => "Operator enabled the account",
        AuditEvent::AccountThrottled => "Sign-in attempts slowed down or locked after failures",
        AuditEvent::ServerKeyRotated => "Server key rotated",
        AuditEvent::SealedDataResealed => "Secrets re-sealed under the current server key",
        AuditEvent::ServerKeyRetired => "Older server key retired",
        AuditEvent::OidcClientRegistered => "Application registered",
        AuditEvent::OidcClientRemoved => "Application removed",
        AuditEvent::OidcClientSecretRotated => "Application secret replaced",
        AuditEvent::OidcConsentGranted => "Application allowed to sign you in",
        AuditEvent::OidcCodeIssued => "Signed in to an application",
        AuditEvent::OidcTokensIssued => "Application received tokens",
        AuditEvent::OidcCodeReplayed => "Reused application code refused; its tokens revoked",
        AuditEvent::OidcTokensRefreshed => "Application tokens refreshed",
        AuditEvent::OidcRefreshReused => "Reused application refresh token; its tokens revoked",
        AuditEvent::OidcTokenRefused => "Application token request refused",
        AuditEvent::OidcSigningKeysCreated => "Signing keys created",
        AuditEvent::OidcSigningKeyRetired => "Signing key retired",
    }
}
