//! MFA devices on Security credentials: `Activate MFA` → `Virtual MFA device` → set-up page
//! → `Assign MFA`; `Manage` → `Resync` / `Remove` (journey steps 9–11).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_service::ServiceError;
use latchkey_service::mfa::{AssignRequest, DeviceView};
use latchkey_service::password_reset::format_time;
use latchkey_service::sessions::CurrentSession;

use crate::AppState;
use crate::client::Client;
use crate::csrf::ConsoleForm;
use crate::error::PageError;
use crate::page::{Page, render};
use crate::session::{SignedIn, SignedInAllowingRecovery};
use axum::Router;
use axum::routing::{get, post};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/mfa/activate",
            get(activate_page).post(activate_submit),
        )
        .route(
            "/console/mfa/hardware",
            get(hardware_page).post(hardware_submit),
        )
        .route(
            "/console/mfa/virtual/{id}",
            get(virtual_page).post(virtual_submit),
        )
        .route("/console/mfa/{id}/manage", get(manage_page))
        .route("/console/mfa/{id}/resync", post(resync_submit))
        .route("/console/mfa/{id}/remove", post(remove_submit))
}

/// A device row, formatted for a page.
pub(super) struct DeviceRow {
    pub id: String,
    /// What the owner recognises: the serial number of a hardware token, else the device id.
    pub identifier: String,
    pub kind: &'static str,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

impl From<&DeviceView> for DeviceRow {
    fn from(d: &DeviceView) -> Self {
        Self {
            identifier: match &d.serial {
                Some(serial) => format!("serial {serial}"),
                None => d.id.to_string(),
            },
            id: d.id.to_string(),
            kind: d.kind.label(),
            name: d.name.clone(),
            created: format_time(d.created_at),
            last_used: d
                .last_used_at
                .map(format_time)
                .unwrap_or_else(|| "Never".to_owned()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/activate_mfa.html")]
struct ActivatePage {
    page: Page,
    security_keys: bool,
    security_keys_why: &'static str,
}

pub(super) async fn activate_page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(_): SignedInAllowingRecovery,
    page: Page,
) -> Response {
    render(&ActivatePage {
        page,
        security_keys: state.service.security_keys_available(),
        security_keys_why: "they need LATCHKEY_PUBLIC_URL with a domain name (for example http://localhost:8080).",
    })
    .into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct ActivateForm {
    #[serde(default)]
    device_type: String,
}

pub(super) async fn activate_submit(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    ConsoleForm(form): ConsoleForm<ActivateForm>,
) -> Result<Response, PageError> {
    match form.device_type.as_str() {
        "virtual" => {}
        "hardware" => return Ok(Redirect::to("/console/mfa/hardware").into_response()),
        "security_key" => return Ok(Redirect::to("/console/mfa/security-key").into_response()),
        _ => {
            return Err(PageError::bad_request(
                "Choose Virtual MFA device or Other hardware MFA device.",
            ));
        }
    }
    let enrollment = state.service.begin_virtual_enrollment(&session).await?;
    Ok(Redirect::to(&format!("/console/mfa/virtual/{}", enrollment.id)).into_response())
}

pub(super) struct SetupField {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub hint: &'static str,
    pub numeric: bool,
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/virtual_setup.html")]
struct SetupPage {
    page: Page,
    enrollment_id: String,
    qr_data_uri: String,
    secret_base32: String,
    fields: Vec<SetupField>,
}

fn setup_fields(
    name: &str,
    needs_password: bool,
    errors: &[latchkey_service::FieldError],
) -> Vec<SetupField> {
    let error = |field: &str| super::field_error(errors, field);
    let mut fields = vec![
        SetupField {
            name: "name",
            label: "Device name",
            kind: "text",
            autocomplete: "off",
            hint: "For example “Ann's phone”.",
            numeric: false,
            value: name.to_owned(),
            error: error("name"),
        },
        SetupField {
            name: "code1",
            label: "MFA code 1",
            kind: "text",
            autocomplete: "one-time-code",
            hint: "",
            numeric: true,
            value: String::new(),
            error: error("code1"),
        },
        SetupField {
            name: "code2",
            label: "MFA code 2",
            kind: "text",
            autocomplete: "one-time-code",
            hint: "Wait for the app to show the next code.",
            numeric: true,
            value: String::new(),
            error: error("code2"),
        },
    ];
    if needs_password {
        fields.push(SetupField {
            name: "password",
            label: "Password",
            kind: "password",
            autocomplete: "current-password",
            hint: "You signed in more than 15 minutes ago; confirm it is you.",
            numeric: false,
            value: String::new(),
            error: error("password"),
        });
    }
    fields
}

fn stale_setup() -> PageError {
    PageError {
        retry_after: None,
        status: StatusCode::GONE,
        heading: "This set-up page has expired",
        message: "The page was open too long or the device was already assigned from it. Nothing was changed. Start again from Activate MFA on Security credentials.".into(),
    }
}

async fn setup_page(
    state: &AppState,
    session: &CurrentSession,
    page: Page,
    id: &str,
    name: &str,
    errors: &[latchkey_service::FieldError],
) -> Result<Response, PageError> {
    let Some(enrollment) = state
        .service
        .virtual_enrollment(session, &latchkey_domain::EnrollmentId::new(id))
        .await?
    else {
        return Err(stale_setup());
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        render(&SetupPage {
            page,
            qr_data_uri: crate::qr::svg_data_uri(&enrollment.key_uri),
            secret_base32: enrollment.secret_base32,
            enrollment_id: enrollment.id.to_string(),
            fields: setup_fields(name, state.service.needs_reauthentication(session), errors),
        }),
    )
        .into_response())
}

pub(super) async fn virtual_page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    setup_page(&state, &session, page, &id, "", &[]).await
}

#[derive(serde::Deserialize)]
pub(super) struct AssignForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    code1: String,
    #[serde(default)]
    code2: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn virtual_submit(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Client(ctx): Client,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<AssignForm>,
) -> Result<Response, PageError> {
    let password = (!form.password.is_empty()).then_some(form.password.as_str());
    let request = AssignRequest {
        name: &form.name,
        code1: &form.code1,
        code2: &form.code2,
        password,
    };
    match state
        .service
        .assign_virtual_device(
            &session,
            &latchkey_domain::EnrollmentId::new(id.as_str()),
            &request,
            &ctx,
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/security-credentials?done=mfa-added").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            setup_page(
                &state,
                &session,
                page.with_error(
                    "The device was not assigned. Please correct the fields marked below.",
                ),
                &id,
                &form.name,
                &errors,
            )
            .await
        }
        Err(ServiceError::LinkInvalid) => Err(stale_setup()),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "console/manage_device.html")]
struct ManagePage {
    page: Page,
    device: DeviceRow,
    last: bool,
    needs_password: bool,
    uses_codes: bool,
    resync_error: Option<String>,
    remove_error: Option<String>,
}

async fn manage(
    state: &AppState,
    session: &CurrentSession,
    page: Page,
    id: &str,
    resync_error: Option<String>,
    remove_error: Option<String>,
) -> Result<Response, PageError> {
    let devices = state.service.devices(&session.account_id).await?;
    let Some(device) = devices.iter().find(|d| d.id == id) else {
        return Err(PageError::not_found());
    };
    let status = if resync_error.is_some() || remove_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        render(&ManagePage {
            page,
            device: DeviceRow::from(device),
            last: devices.len() == 1,
            needs_password: state.service.needs_reauthentication(session),
            // Resync is offered only where it can be used: a code device, in a session that
            // may resync (not one earned with alternative factors: its device is lost).
            uses_codes: device.kind.uses_codes()
                && session
                    .kind
                    .permits(latchkey_domain::session::SessionAction::ResyncDevice),
            resync_error,
            remove_error,
        }),
    )
        .into_response())
}

pub(super) async fn manage_page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    manage(&state, &session, page, &id, None, None).await
}

#[derive(serde::Deserialize)]
pub(super) struct ResyncForm {
    #[serde(default)]
    code1: String,
    #[serde(default)]
    code2: String,
}

fn joined(errors: Vec<latchkey_service::FieldError>) -> String {
    crate::wording::fields(&errors)
}

pub(super) async fn resync_submit(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    page: Page,
    Client(ctx): Client,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<ResyncForm>,
) -> Result<Response, PageError> {
    match state
        .service
        .resync_device(&session, &id, &form.code1, &form.code2, &ctx)
        .await
    {
        Ok(()) => {
            Ok(Redirect::to("/console/security-credentials?done=mfa-resynced").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            manage(&state, &session, page, &id, Some(joined(errors)), None).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    password: String,
}

pub(super) async fn remove_submit(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Client(ctx): Client,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<RemoveForm>,
) -> Result<Response, PageError> {
    let password = (!form.password.is_empty()).then_some(form.password.as_str());
    match state
        .service
        .remove_device(&session, &id, password, &ctx)
        .await
    {
        Ok(removal) if removal.signed_out => {
            Ok(Redirect::to("/signin?signed_out=device-removed").into_response())
        }
        Ok(removal) if removal.remaining == 0 => {
            Ok(Redirect::to("/console/security-credentials?done=mfa-removed-last").into_response())
        }
        Ok(_) => Ok(Redirect::to("/console/security-credentials?done=mfa-removed").into_response()),
        Err(ServiceError::Invalid(errors)) => {
            manage(&state, &session, page, &id, None, Some(joined(errors))).await
        }
        Err(ServiceError::LinkInvalid) => Err(PageError::not_found()),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "console/hardware_setup.html")]
struct HardwarePage {
    page: Page,
    fields: Vec<SetupField>,
}

fn hardware_fields(
    serial: &str,
    name: &str,
    needs_password: bool,
    errors: &[latchkey_service::FieldError],
) -> Vec<SetupField> {
    let error = |field: &str| super::field_error(errors, field);
    let mut fields = vec![
        SetupField {
            name: "serial",
            label: "Serial number",
            kind: "text",
            autocomplete: "off",
            hint: "As printed on the token.",
            numeric: false,
            value: serial.to_owned(),
            error: error("serial"),
        },
        SetupField {
            name: "name",
            label: "Device name",
            kind: "text",
            autocomplete: "off",
            hint: "Optional, for example “Office token”.",
            numeric: false,
            value: name.to_owned(),
            error: error("name"),
        },
    ];
    fields.extend(
        setup_fields("", needs_password, errors)
            .into_iter()
            .filter(|f| f.name != "name"),
    );
    fields
}

pub(super) async fn hardware_page(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
) -> Response {
    render(&HardwarePage {
        page,
        fields: hardware_fields("", "", state.service.needs_reauthentication(&session), &[]),
    })
    .into_response()
}

#[derive(serde::Deserialize)]
pub(super) struct HardwareForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code1: String,
    #[serde(default)]
    code2: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn hardware_submit(
    State(state): State<AppState>,
    SignedInAllowingRecovery(session): SignedInAllowingRecovery,
    page: Page,
    Client(ctx): Client,
    ConsoleForm(form): ConsoleForm<HardwareForm>,
) -> Result<Response, PageError> {
    let password = (!form.password.is_empty()).then_some(form.password.as_str());
    let request = AssignRequest {
        name: &form.name,
        code1: &form.code1,
        code2: &form.code2,
        password,
    };
    match state
        .service
        .assign_hardware_device(&session, &form.serial, &request, &ctx)
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/security-credentials?done=mfa-added").into_response()),
        Err(ServiceError::Invalid(errors)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&HardwarePage {
                page: page.with_error(
                    "The device was not assigned. Please correct the fields marked below.",
                ),
                fields: hardware_fields(
                    &form.serial,
                    &form.name,
                    state.service.needs_reauthentication(&session),
                    &errors,
                ),
            }),
        )
            .into_response()),
        Err(other) => Err(other.into()),
    }
}
