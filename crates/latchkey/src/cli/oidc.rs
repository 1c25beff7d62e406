//! `latchkey oidc …`: the applications that sign people in with latchkey (OpenID Connect
//! clients) and the keys ID tokens are signed with.

use clap::Subcommand;
use serde_json::json;

use super::wiring::Parts;
use crate::config::Config;
use latchkey_service::oidc::NewClient;
use latchkey_service::password_reset::format_time;

#[derive(Debug, Subcommand)]
pub(crate) enum OidcCommand {
    /// Applications (OpenID Connect clients).
    Client {
        #[command(subcommand)]
        action: ClientCommand,
    },
    /// The keys ID tokens are signed with.
    Key {
        #[command(subcommand)]
        action: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register an application. Prints its client id and, once, its secret (kept only as a
    /// hash): store it in the application's configuration now.
    Add {
        /// What the consent page calls it.
        #[arg(long)]
        name: String,
        /// Where latchkey may send the browser back with a code, matched exactly; https, or
        /// http on localhost. Repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where latchkey may send the browser after RP-initiated logout. Repeatable.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a single-page or native application): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// The operator's own application: people are never asked to allow it.
        #[arg(long)]
        first_party: bool,
        /// May receive refresh tokens (scope offline_access), rotated on every use.
        #[arg(long)]
        refresh_tokens: bool,
        /// Accept sessions from `Sign in using alternative factors` (refused by default; the
        /// ID token's acr says urn:latchkey:acr:alternative-factors).
        #[arg(long)]
        allow_recovery: bool,
        /// RS256 (default) or ES256.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered applications.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an application: every token it holds stops working at once.
    Remove { client_id: String },
    /// Replace a confidential application's secret; the old one stops working at once.
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// List the published signing keys and which of them signs now.
    List,
    /// Create new signing keys: published at once, signing from 24 hours later, so relying
    /// parties fetch them before any token needs them. Retire the old ones after that.
    Rotate,
    /// Stop publishing a key (refused for a key that signs now).
    Retire { kid: String },
}

pub(crate) async fn run(action: OidcCommand, config: &Config) -> anyhow::Result<()> {
    let parts = Parts::open(config).await?;
    let service = &parts.service;
    match action {
        OidcCommand::Client { action } => match action {
            ClientCommand::Add {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                refresh_tokens,
                allow_recovery,
                id_token_alg,
                json,
            } => {
                let registered = service
                    .register_oidc_client(NewClient {
                        name,
                        redirect_uris,
                        post_logout_redirect_uris,
                        public,
                        first_party,
                        refresh_tokens,
                        allow_recovery,
                        id_token_alg,
                    })
                    .await?;
                if json {
                    println!(
                        "{}",
                        json!({"client_id": registered.client.id, "client_secret": registered.secret})
                    );
                } else {
                    println!("client id:     {}", registered.client.id);
                    match &registered.secret {
                        Some(secret) => {
                            println!("client secret: {secret}");
                            println!("(shown once: latchkey keeps only its hash)");
                        }
                        None => println!("public client: no secret; PKCE (S256) is required"),
                    }
                }
            }
            ClientCommand::List { json } => {
                let clients = service.oidc_clients().await?;
                if json {
                    let list: Vec<_> = clients
                        .iter()
                        .map(|c| {
                            json!({
                                "client_id": c.id, "name": c.name, "public": c.secret_hash.is_none(),
                                "redirect_uris": c.redirect_uris,
                                "post_logout_redirect_uris": c.post_logout_redirect_uris,
                                "first_party": c.first_party, "refresh_tokens": c.refresh_tokens,
                                "allow_recovery": c.allow_recovery, "id_token_alg": c.id_token_alg,
                                "created_at": c.created_at.0,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::Value::from(list));
                } else {
                    for c in &clients {
                        let mut traits = vec![if c.secret_hash.is_none() {
                            "public"
                        } else {
                            "confidential"
                        }];
                        if c.first_party {
                            traits.push("first-party");
                        }
                        if c.refresh_tokens {
                            traits.push("refresh tokens");
                        }
                        if c.allow_recovery {
                            traits.push("takes recovery sessions");
                        }
                        println!(
                            "{}  {}  ({}; {}; added {})",
                            c.id,
                            c.name,
                            traits.join(", "),
                            c.id_token_alg,
                            format_time(c.created_at)
                        );
                        for uri in &c.redirect_uris {
                            println!("    redirect {uri}");
                        }
                    }
                    println!("{} applications", clients.len());
                }
            }
            ClientCommand::Remove { client_id } => {
                service.remove_oidc_client(&client_id).await?;
                println!("removed {client_id}; its tokens no longer work");
            }
            ClientCommand::RotateSecret { client_id, json } => {
                let secret = service.rotate_oidc_client_secret(&client_id).await?;
                if json {
                    println!(
                        "{}",
                        json!({"client_id": client_id, "client_secret": secret})
                    );
                } else {
                    println!("client secret: {secret}");
                    println!("(shown once; the old secret no longer works)");
                }
            }
        },
        OidcCommand::Key { action } => match action {
            KeyCommand::List => {
                service.ensure_oidc_signing_keys().await?;
                for key in service.oidc_signing_keys().await? {
                    println!(
                        "{}  {}  created {}  signs from {}",
                        key.kid,
                        key.alg,
                        format_time(key.created_at),
                        format_time(key.active_from)
                    );
                }
            }
            KeyCommand::Rotate => {
                service.ensure_oidc_signing_keys().await?;
                for key in service.rotate_oidc_signing_keys().await? {
                    println!(
                        "{}  {}  published now, signs from {}",
                        key.kid,
                        key.alg,
                        format_time(key.active_from)
                    );
                }
            }
            KeyCommand::Retire { kid } => {
                service.retire_oidc_signing_key(&kid).await?;
                println!("retired {kid}: no longer published");
            }
        },
    }
    Ok(())
}
