//! What every command needs, wired from the configuration: the server key, the database, the
//! hashing pool and the service.

use std::sync::Arc;

use anyhow::Context;
use latchkey_domain::lockout::LockoutPolicy;
use latchkey_domain::session::SessionPolicy;
use latchkey_service::{Clock, HashParams, PasswordHasher, Service, ServiceConfig, SystemClock};

use crate::config::{self, Config};

/// The pieces every command needs: configuration, key, store and service.
pub(crate) struct Parts {
    pub(crate) service: Service,
    /// The opened database, for the built-in providers (the service holds its production port).
    pub(crate) database: Arc<dyn latchkey_store::Database>,
    pub(crate) store_info: latchkey_store::StoreInfo,
    pub(crate) key_created: bool,
    pub(crate) key: latchkey_service::ServerKey,
}

impl Parts {
    /// Opens everything at the public URL the configuration names (or derives from the
    /// listen address): what every command but `serve` uses.
    pub(crate) async fn open(config: &Config) -> anyhow::Result<Self> {
        Self::open_at(config, &config.public_url_for(config.listen)).await
    }

    pub(crate) async fn open_at(config: &Config, public_url: &url::Url) -> anyhow::Result<Self> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
        }
        let (key, key_created) = config::load_or_create_key(&config.secret_key_file)?;
        let (store, store_info) = latchkey_store::open(
            config.database_url.as_deref(),
            &config.data_dir,
            key.audit_chain_key(),
        )
        .await
        .with_context(|| match &config.database_url {
            Some(url) => format!("cannot open the database {}", config::redact_url(url)),
            None => format!("cannot open the database in {}", config.data_dir.display()),
        })?;
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hasher = PasswordHasher::new(HashParams::default(), slots)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let service = Service::new(
            store.clone(),
            clock,
            hasher,
            &key,
            ServiceConfig {
                public_url: public_url.as_str().trim_end_matches('/').to_owned(),
                sessions: SessionPolicy::default(),
                lockout: LockoutPolicy::default(),
                recovery: latchkey_domain::recovery::RecoveryPolicy {
                    contact_cooling_off: config.contact_cooling_off,
                    ..Default::default()
                },
                calls: latchkey_domain::calls::CallPolicy {
                    allowed_regions: config.call_regions.clone(),
                    ..Default::default()
                },
                admission: latchkey_domain::admission::AdmissionPolicy::default(),
            },
            Arc::new(latchkey_web::WebLinks::new(public_url)),
        );
        if let Err(error) = service.check_server_key(key_created).await {
            let file = config.secret_key_file.display();
            let recorded_at = match error {
                latchkey_service::ServiceError::ServerKeyMismatch { recorded_at } => recorded_at,
                latchkey_service::ServiceError::ServerKeySuperseded { recorded_at } => {
                    anyhow::bail!(
                        "the current key in {file} was replaced by a rotation (the database has \
                         used the new key since {} UTC), so latchkey does not start: the key \
                         file is from before the rotation (the new key still staged as `next`), \
                         or its lines are out of order. Give this instance the key file of the \
                         instances already rotated.",
                        latchkey_service::password_reset::format_time(recorded_at)
                    );
                }
                latchkey_service::ServiceError::ServerKeyUnproven => {
                    let _ = std::fs::remove_file(&config.secret_key_file);
                    anyhow::bail!(
                        "no key file was found at {file}, so a new server key was generated, but \
                         this database already has accounts: their MFA seeds and queued mail \
                         were sealed with another key, so latchkey does not start (the new key \
                         has been removed again). Give this instance the key file the database \
                         was used with (LATCHKEY_SECRET_KEY_FILE), or restore it from your \
                         backup."
                    );
                }
                other => {
                    return Err(other).context("cannot check the server key against the database");
                }
            };
            let mut message = format!(
                "the server key in {file} is not the one this database was used with (that key \
                 was first used on {} UTC): with another key the MFA seeds and queued mail \
                 cannot be opened and the audit chain cannot be verified, so latchkey does not \
                 start. Give this instance the same key file as the others \
                 (LATCHKEY_SECRET_KEY_FILE), or restore it from your backup.",
                latchkey_service::password_reset::format_time(recorded_at)
            );
            if key_created {
                // Nothing was sealed with it: leave no stray key to be mistaken for the real one.
                let _ = std::fs::remove_file(&config.secret_key_file);
                message.push_str(&format!(
                    " No key file was found at {file}, so a new key was generated; it has been \
                     removed again."
                ));
            }
            anyhow::bail!(message);
        }
        Ok(Self {
            service,
            database: store,
            store_info,
            key_created,
            key,
        })
    }
}
