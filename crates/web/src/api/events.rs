//! The event history in JSON: the account's audit records, newest first, filtered by type
//! and time and read a page at a time.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use latchkey_domain::Timestamp;
use latchkey_service::event_history::{Event, EventQuery, OWNER_PAGE_LIMIT};
use latchkey_service::{FieldError, Problem, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::values;
use crate::AppState;
use crate::error::{ApiError, ApiErrorBody};
use crate::session::Bearer;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/events", get(list))
}

/// Events per page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsParams {
    /// Only events of these types, comma-separated (for example
    /// `sign_in,alternative_factors_sign_in`). All types when absent.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    types: Option<String>,
    /// Only events at or after this time, in Unix seconds.
    #[param(value_type = Option<i64>)]
    since: Option<String>,
    /// Only events before this time, in Unix seconds.
    #[param(value_type = Option<i64>)]
    until: Option<String>,
    /// Only events older than this event `id`: the previous page's `older_before`.
    #[param(value_type = Option<i64>)]
    before: Option<String>,
    /// Events per page, 1 to 100 (50 when absent).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventJson {
    /// The event's place in the log; pages continue from it.
    id: i64,
    /// Unix seconds.
    at: i64,
    /// What happened: `sign_in`, `sign_out`, `sign_in_password_verified`, `mfa_code`,
    /// `mfa_device_added`, `mfa_device_removed`, `mfa_device_resynced`, `password_changed`,
    /// `password_reset_requested`, `password_reset`, `password_confirmed`,
    /// `alternative_factors_started`, `alternative_factors_email_sent`,
    /// `alternative_factors_email_verified`, `alternative_factors_call_placed`,
    /// `phone_code`, `alternative_factors_sign_in`, `alternative_factors_cancelled`,
    /// `sign_up`, `verification_email_sent`, `email_verified`, `sign_up_call_placed`,
    /// `account_created_by_operator`, `hardware_tokens_imported`,
    /// `operator_unblocked_recovery`, `operator_reset_mfa`, `contact_change_requested`,
    /// `contact_change_call_placed`, `contact_changed`, `contact_change_reverted`,
    /// `operator_disabled_account`, `operator_enabled_account`, `account_throttled`,
    /// `server_key_rotated`, `sealed_data_resealed`, `server_key_retired`, `oidc_client_registered`, `oidc_client_removed`, `oidc_client_secret_rotated`, `oidc_consent_granted`, `oidc_code_issued`, `oidc_tokens_issued`, `oidc_code_replayed`, `oidc_tokens_refreshed`, `oidc_refresh_reused`, `oidc_token_refused`, `oidc_signing_keys_created`, `oidc_signing_key_retired`; `other` for a record
    /// this version does not write.
    #[serde(rename = "type")]
    kind: &'static str,
    /// `success` or `failure` (a refused attempt).
    outcome: &'static str,
    /// A short reason code (for example `wrong_password`), empty, or for an operator's
    /// command (`operator_reset_mfa`, `operator_unblocked_recovery`,
    /// `operator_disabled_account`, `operator_enabled_account`) the reason the operator gave.
    detail: String,
    /// The address the request came from.
    client_address: String,
    user_agent: String,
}

impl From<&Event> for EventJson {
    fn from(e: &Event) -> Self {
        Self {
            id: e.id,
            at: e.at.0,
            kind: e.event.map(values::event_type).unwrap_or("other"),
            outcome: e.outcome.map(values::outcome).unwrap_or("other"),
            detail: e.detail.clone(),
            client_address: e.client_addr.clone(),
            user_agent: e.user_agent.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventList {
    /// Newest first.
    events: Vec<EventJson>,
    /// Pass as `before` for the next, older page; null on the last page.
    older_before: Option<i64>,
}

/// The query as the service takes it, or every field that is wrong.
fn event_query(params: &EventsParams) -> Result<EventQuery, ServiceError> {
    let mut problems = Vec::new();
    let mut events = Vec::new();
    let mut unknown = false;
    for name in params
        .types
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match values::event_from_type(name) {
            Some(event) if !events.contains(&event) => events.push(event),
            Some(_) => {}
            None => unknown = true,
        }
    }
    // Once, however many names are unknown: the answer stays small.
    if unknown {
        problems.push(FieldError::new("type", Problem::UnknownEventType));
    }
    let mut number = |field: &'static str, text: &Option<String>, max: i64, problem: Problem| {
        let text = text.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
        match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                problems.push(FieldError::new(field, problem));
                None
            }
        }
    };
    let seconds = Problem::TimeMalformed { date: false };
    let since = number("since", &params.since, i64::MAX, seconds.clone());
    let until = number("until", &params.until, i64::MAX, seconds);
    let before = number(
        "before",
        &params.before,
        i64::MAX,
        Problem::NumberOutOfRange { max: i64::MAX },
    );
    let limit = number(
        "limit",
        &params.limit,
        OWNER_PAGE_LIMIT,
        Problem::NumberOutOfRange {
            max: OWNER_PAGE_LIMIT,
        },
    );
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems));
    }
    Ok(EventQuery {
        events,
        since: since.map(Timestamp),
        until: until.map(Timestamp),
        before,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", operation_id = "events",
    summary = "The account's event history, newest first",
    description = "Sign-ins and refused attempts, sign-ins with alternative factors, and every change of MFA devices and password, with where each came from. Not available to a session earned with alternative factors.",
    params(EventsParams),
    security(("session" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 422, description = "A filter is malformed (`invalid_request`, with `fields`)", body = ApiErrorBody),
        (status = 401, description = "No valid session token (`unauthenticated`)", body = ApiErrorBody),
        (status = 403, description = "A session earned with alternative factors (`recovery_session_scope`)", body = ApiErrorBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    Bearer(session): Bearer,
    params: Result<Query<EventsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(rejection.status(), "invalid_request", rejection.body_text())
    })?;
    let query = event_query(&params)?;
    let page = state.service.account_events(&session, &query).await?;
    Ok(Json(EventList {
        events: page.events.iter().map(EventJson::from).collect(),
        older_before: page.older,
    }))
}
