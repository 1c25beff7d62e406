//! The OpenAPI document, generated from the handlers' annotations so it cannot drift from
//! the routes (a test checks every route is in it).

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "latchkey", description = "Root-user sign-in with MFA and a safe way back in."),
    paths(
        super::accounts::sign_up, super::accounts::verify_email, super::sessions::sign_in,
        super::sessions::sign_out, super::sessions::me, super::password::forgot_password,
        super::password::reset_password, super::password::change_password,
        super::mfa::sign_in_with_code, super::mfa::resync_during_sign_in, super::mfa::list,
        super::mfa::begin_virtual, super::mfa::assign_virtual, super::mfa::resync, super::mfa::remove, super::mfa::assign_hardware,
        super::security_keys::registration_options, super::security_keys::register,
        super::security_keys::sign_in_options, super::security_keys::sign_in,
        super::recovery::start, super::recovery::status, super::recovery::send_email,
        super::recovery::verify_email, super::recovery::call, super::recovery::complete,
        super::recovery::cancel, super::sign_up_phone::status, super::sign_up_phone::call, super::events::list,
        super::session_list::list, super::session_list::sign_out_one,
        super::session_list::sign_out_everywhere,
        crate::oidc::discovery, crate::oidc::jwks, crate::oidc::token::token,
        crate::oidc::token::userinfo, crate::forward_auth::verify,
    ),
    modifiers(&BearerSession),
    tags(
        (name = "accounts", description = "Sign-up and email verification"),
        (name = "sessions", description = "Sign-in, sign-out and who am I"),
        (name = "password", description = "Forgot password"),
        (name = "mfa", description = "MFA devices"),
        (name = "recovery", description = "Sign in using alternative factors"),
        (name = "events", description = "The account's event history"),
        (name = "oidc", description = "OpenID Connect provider: for applications' servers"),
        (name = "forward-auth", description = "For reverse proxies in front of applications"),
    )
)]
struct ApiDoc;

struct BearerSession;

impl Modify for BearerSession {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(super) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(serve))
}
