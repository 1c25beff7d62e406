//! `latchkey serve`: the console, the JSON API and the delivery worker, until SIGTERM or
//! Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use latchkey_delivery::{
    DevMailbox, DevPhone, OutboxWorker, SmtpSender, TwilioCaller, TwilioConfig,
};
use latchkey_service::{EmailSender, VoiceCaller};

use super::wiring::Parts;
use crate::config::Config;
use crate::dev_providers;

pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    let dev_providers = config.dev_providers()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (LATCHKEY_LISTEN)", config.listen))?;
    let local = listener.local_addr()?;
    let public_url = config.public_url_for(local);
    let cookie_domain = config.cookie_domain_for(&public_url)?;
    let parts = Parts::open_at(&config, &public_url).await?;
    // The OpenID Connect provider's first signing keys (an RSA key takes a moment).
    if parts.service.ensure_oidc_signing_keys().await? {
        tracing::info!("generated the OpenID Connect ID-token signing keys (RS256, ES256)");
    }
    let service = if config.smtp_url.is_none() || config.twilio.is_none() {
        parts.service.clone().with_dev_store(parts.database.clone())
    } else {
        parts.service.clone()
    };
    let voice: Arc<dyn VoiceCaller> = match &config.twilio {
        Some(t) => Arc::new(
            TwilioCaller::new(TwilioConfig {
                account_sid: t.account_sid.clone(),
                auth_token: t.auth_token.clone(),
                from: t.from.clone(),
                api_base: t.api_base.clone(),
                public_url: service.config().public_url.clone(),
            })
            .map_err(anyhow::Error::msg)?,
        ),
        None => Arc::new(DevPhone),
    };
    let email: Arc<dyn EmailSender> = match &config.smtp_url {
        Some(url) => Arc::new(SmtpSender::new(url, &config.mail_from)?),
        None => Arc::new(DevMailbox::new(
            parts.database.clone(),
            service.clock().clone(),
        )),
    };

    let base = service.config().public_url.clone();
    if config.public_url.is_none() && config.listen.ip().is_unspecified() {
        tracing::warn!(
            "LATCHKEY_PUBLIC_URL is not set: forms are accepted only from {base}; set it to the address people use"
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "latchkey listening on {local}; open {base}/ for the console"
    );
    tracing::info!(
        backend = parts.store_info.backend,
        location = %parts.store_info.location,
        settings = %parts.store_info.durability,
        "storage ready (migrations applied)"
    );
    if parts.key_created {
        tracing::info!(file = %config.secret_key_file.display(), "created a new server key (mode 0600); back it up with the database");
    }
    if let dev_providers::DevProviders::Exposed { reason } = &dev_providers {
        tracing::warn!(
            "LATCHKEY_DEV_PROVIDERS is set on a deployment that is not local-only ({reason}): anyone who can reach {base}/dev/mailbox or {base}/dev/phone can read them and take over accounts; configure LATCHKEY_SMTP_URL and Twilio before anyone else can reach this server"
        );
    }
    match &config.smtp_url {
        Some(_) => {
            tracing::info!(sender = %email.describe(), from = %config.mail_from, "email: SMTP")
        }
        None => tracing::info!(
            "email: built-in mailbox (embedded default), read mail at {base}/dev/mailbox"
        ),
    }
    match &config.twilio {
        Some(_) => tracing::info!(caller = %voice.describe(), "voice: Twilio"),
        None => tracing::info!(
            "voice: built-in phone (embedded default), answer calls at {base}/dev/phone"
        ),
    }

    if config.trusted_proxies.is_empty() {
        tracing::info!(
            "client addresses: the TCP peer (X-Forwarded-For and Forwarded are ignored; set LATCHKEY_TRUSTED_PROXIES behind a reverse proxy)"
        );
    } else {
        tracing::info!(
            proxies = %config.trusted_proxies,
            "client addresses: forwarded by trusted proxies"
        );
    }
    match service.security_keys_unavailable_reason() {
        None => tracing::info!("security keys: available (WebAuthn relying party {base})"),
        Some(why) => tracing::warn!("security keys: unavailable: {why}"),
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = OutboxWorker::new(
        service.store().clone(),
        service.clock().clone(),
        service.outbox_reader(),
        email,
        voice,
        service.outbox_signal(),
    );
    let worker = tokio::spawn(worker.run(Duration::from_secs(2), stop_rx));
    // What this instance keeps in memory is used only while this follows every change any
    // process commits (docs/design/fast-path.md).
    let follower = {
        let service = service.clone();
        tokio::spawn(async move { service.follow_changes().await })
    };
    let housekeeping = {
        let service = service.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                match service.purge_throttles().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(counters = n, "purged spent failure counters"),
                    Err(e) => tracing::warn!(
                        error = %latchkey_service::error::error_chain(&e),
                        "could not purge failure counters"
                    ),
                }
                // After a rotation the key file holds older keys: what they sealed is
                // re-sealed under the current one, a little at a time, in the background.
                if service.key_ids().len() > 1 {
                    match service.reseal_all().await {
                        Ok(report) if report.resealed > 0 || report.unreadable > 0 => {
                            tracing::info!(
                                resealed = report.resealed,
                                unreadable = report.unreadable,
                                "re-sealed secrets under the current server key"
                            );
                        }
                        Ok(report) if report.not_current => tracing::warn!(
                            "the database's current server key is not this instance's: restart \
                             it with the rotated key file"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(
                            error = %latchkey_service::error::error_chain(&e),
                            "could not re-seal secrets under the current server key"
                        ),
                    }
                }
            }
        })
    };

    let web = latchkey_web::WebConfig {
        canonical_redirect: config.public_url.is_none(),
        public_url,
        dev_mailbox: config.smtp_url.is_none(),
        dev_providers_exposed: matches!(dev_providers, dev_providers::DevProviders::Exposed { .. }),
        twilio_auth_token: config.twilio.as_ref().map(|t| t.auth_token.clone()),
        twilio_from: config.twilio.as_ref().map(|t| t.from.clone()),
        refusal_pause: latchkey_web::REFUSAL_PAUSE,
        trusted_proxies: config.trusted_proxies.clone(),
        cookie_domain,
    };
    let state = latchkey_web::AppState::new(service, web, &parts.key);
    latchkey_web::serve(
        listener,
        latchkey_web::app(state),
        latchkey_web::ServeOptions::default(),
        shutdown_signal(),
    )
    .await
    .context("the HTTP server failed")?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    housekeeping.abort();
    follower.abort();
    tracing::info!("latchkey stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
