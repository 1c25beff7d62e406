//! What every console page needs: the CSRF token for its forms, whether the built-in
//! providers are in use (every page says so), who is signed in, and one-line notices.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Html;

use crate::AppState;
use crate::csrf::{CsrfCookie, token_for};

#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub csrf_token: String,
    pub dev_mailbox: bool,
    pub dev_phone: bool,
    /// The built-in providers serve a deployment others can reach: the banner warns.
    pub dev_exposed: bool,
    pub signed_in_as: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page {
    pub(crate) fn with_error(mut self, message: impl Into<String>) -> Self {
        self.error = Some(message.into());
        self
    }

    pub(crate) fn with_notice(mut self, message: impl Into<String>) -> Self {
        self.notice = Some(message.into());
        self
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let csrf_token = parts
            .extensions
            .get::<CsrfCookie>()
            .map(|cookie| token_for(&state.web.csrf, &cookie.value))
            .unwrap_or_default();
        Ok(Page {
            csrf_token,
            dev_mailbox: state.web.dev_mailbox,
            dev_phone: state.web.twilio_auth_token.is_none(),
            dev_exposed: state.web.dev_providers_exposed,
            ..Page::default()
        })
    }
}

/// Renders a template that failed to render as a plain error: templates are compiled in, so
/// this only happens on a programming error, which must not take the page down silently.
pub(crate) fn render(template: &impl Template) -> Html<String> {
    match template.render() {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            Html(
                "<!doctype html><title>Error</title><p>This page could not be shown.</p>"
                    .to_owned(),
            )
        }
    }
}

/// A page with a heading, a few paragraphs and at most one button.
#[derive(Template)]
#[template(path = "console/message.html")]
pub(crate) struct MessagePage {
    pub page: Page,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub action: Option<(String, String)>,
}

impl MessagePage {
    pub(crate) fn new(
        page: Page,
        heading: &str,
        paragraphs: Vec<String>,
        action: Option<(&str, &str)>,
    ) -> Self {
        Self {
            page,
            heading: heading.to_owned(),
            paragraphs,
            action: action.map(|(href, label)| (href.to_owned(), label.to_owned())),
        }
    }

    /// For error pages, which are built without the request at hand.
    pub(crate) fn plain(
        heading: &str,
        paragraphs: Vec<String>,
        action: Option<(&str, &str)>,
    ) -> Self {
        Self::new(Page::default(), heading, paragraphs, action)
    }

    pub(crate) fn render_html(&self) -> String {
        render(self).0
    }
}
