//! The configuration of SPEC §4: flags win over environment variables, which win over the
//! TOML file. Everything is validated here, once, before anything starts; a bad value stops
//! start-up with a message naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

use crate::dev_providers::DevProviders;

/// Settings shared by every command that opens the database or serves.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConfigArgs {
    /// TOML file with any of the settings below (keys in lower case without the prefix,
    /// e.g. `listen = "127.0.0.1:8080"`).
    #[arg(long, env = "LATCHKEY_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "LATCHKEY_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Where people reach latchkey, e.g. https://login.example.com [default: http://LISTEN].
    #[arg(long, env = "LATCHKEY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Directory for the SQLite database and the generated secret key [default: ./latchkey-data].
    #[arg(long, env = "LATCHKEY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: SQLite in the data directory].
    #[arg(long, env = "LATCHKEY_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// smtp://host:port, smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465
    /// [default: the built-in mailbox at /dev/mailbox].
    #[arg(long, env = "LATCHKEY_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,
    /// Sender of latchkey's emails [default: latchkey@HOST of the public URL].
    #[arg(long, env = "LATCHKEY_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Twilio account SID (voice calls; set all three Twilio settings or none).
    #[arg(long, env = "LATCHKEY_TWILIO_ACCOUNT_SID", global = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(
        long,
        env = "LATCHKEY_TWILIO_AUTH_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub twilio_auth_token: Option<String>,
    /// Twilio number calls come from, in E.164.
    #[arg(long, env = "LATCHKEY_TWILIO_FROM", global = true)]
    pub twilio_from: Option<String>,
    /// Base URL of Twilio's REST API [default: https://api.twilio.com].
    #[arg(long, env = "LATCHKEY_TWILIO_API_BASE", global = true)]
    pub twilio_api_base: Option<String>,
    /// File holding the 256-bit server key (created with mode 0600 when missing)
    /// [default: DATA_DIR/secret.key].
    #[arg(long, env = "LATCHKEY_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// Reverse proxies whose X-Forwarded-For / Forwarded headers name the client: IP addresses
    /// and CIDR ranges, comma-separated, e.g. 127.0.0.1,10.0.0.0/8 [default: none; the
    /// headers are ignored].
    #[arg(
        long,
        env = "LATCHKEY_TRUSTED_PROXIES",
        global = true,
        value_name = "LIST"
    )]
    pub trusted_proxies: Option<String>,
    /// Countries verification calls may go to: ISO codes such as GB,US, or * for any (toll
    /// fraud aims at the countries you do not serve) [default: the country of
    /// LATCHKEY_TWILIO_FROM; any with the built-in phone].
    #[arg(
        long,
        env = "LATCHKEY_CALL_COUNTRIES",
        global = true,
        value_name = "LIST"
    )]
    pub call_countries: Option<String>,
    /// Hours a changed email address or phone number waits before sign-in with alternative
    /// factors may use it, 1 to 720 [default: 24].
    #[arg(
        long,
        env = "LATCHKEY_CONTACT_COOLING_OFF_HOURS",
        global = true,
        value_name = "HOURS"
    )]
    pub contact_cooling_off_hours: Option<String>,
    /// The domain the forward-auth cookie is scoped to, so that reverse proxies in front of
    /// applications on its subdomains recognise a latchkey sign-in: latchkey's own host must
    /// be that domain or under it, e.g. example.com for login.example.com [default: none;
    /// only applications on latchkey's own host].
    #[arg(
        long,
        env = "LATCHKEY_COOKIE_DOMAIN",
        global = true,
        value_name = "DOMAIN"
    )]
    pub cookie_domain: Option<String>,
    /// DANGEROUS: let the built-in mailbox and phone serve a deployment others can reach.
    /// Anyone who opens /dev/mailbox or /dev/phone can then take over accounts; only for a
    /// test server nobody else can reach [default: false].
    #[arg(
        long,
        env = "LATCHKEY_DEV_PROVIDERS",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub dev_providers: Option<bool>,
}

/// The TOML file: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_from: Option<String>,
    pub twilio_api_base: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub trusted_proxies: Option<String>,
    pub call_countries: Option<String>,
    pub contact_cooling_off_hours: Option<u32>,
    pub cookie_domain: Option<String>,
    pub dev_providers: Option<bool>,
}

/// Validated now so that a bad value stops start-up; the voice caller that uses them arrives
/// with phone verification.
#[derive(Clone)]
#[allow(
    dead_code,
    reason = "read by the voice caller, which arrives with phone verification"
)]
pub(crate) struct Twilio {
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    pub api_base: url::Url,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("api_base", &self.api_base.as_str())
            .finish()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub listen: SocketAddr,
    /// As configured; see [`Config::public_url_for`] for the URL in effect.
    pub public_url: Option<url::Url>,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub twilio: Option<Twilio>,
    pub secret_key_file: PathBuf,
    pub trusted_proxies: latchkey_web::TrustedProxies,
    /// `LATCHKEY_CALL_COUNTRIES`: the regions calls may go to; `None` for any.
    pub call_regions: Option<Vec<String>>,
    /// `LATCHKEY_CONTACT_COOLING_OFF_HOURS`: how long a changed contact waits before
    /// alternative factors use it.
    pub contact_cooling_off: latchkey_domain::Duration,
    /// `LATCHKEY_COOKIE_DOMAIN`, as given: checked against the public URL in effect by
    /// [`Config::cookie_domain_for`].
    pub cookie_domain: Option<String>,
    /// `LATCHKEY_DEV_PROVIDERS`: see [`Config::dev_providers`].
    pub allow_dev_providers: bool,
}

impl Config {
    pub(crate) fn load(args: &ConfigArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                parse_file(&text)
                    .with_context(|| format!("in the configuration file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Self::merge(args, file)
    }

    fn merge(args: &ConfigArgs, file: FileConfig) -> anyhow::Result<Self> {
        let pick = |flag: &Option<String>, from_file: Option<String>| {
            flag.clone().or(from_file).filter(|v| !v.trim().is_empty())
        };
        let listen_text =
            pick(&args.listen, file.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("LATCHKEY_LISTEN={listen_text:?} is not an address like 127.0.0.1:8080")
        })?;

        let public_url = pick(&args.public_url, file.public_url)
            .map(|text| parse_public_url(&text))
            .transpose()?;

        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("latchkey-data"));

        let database_url = pick(&args.database_url, file.database_url);
        if let Some(url) = &database_url
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| url.starts_with(p))
        {
            bail!(
                "LATCHKEY_DATABASE_URL must start with sqlite:// or postgres:// (got {:?})",
                redact_url(url)
            );
        }

        let smtp_url = pick(&args.smtp_url, file.smtp_url);
        if let Some(url) = &smtp_url {
            let parsed = url::Url::parse(url)
                .with_context(|| format!("LATCHKEY_SMTP_URL={:?} is not a URL", redact_url(url)))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                bail!(
                    "LATCHKEY_SMTP_URL must look like smtp://host:port or smtps://user:pass@host:465 (got {:?})",
                    redact_url(url)
                );
            }
        }
        let mail_from = pick(&args.mail_from, file.mail_from).unwrap_or_else(|| {
            format!(
                "latchkey <latchkey@{}>",
                public_url
                    .as_ref()
                    .and_then(|u| u.host_str())
                    .unwrap_or("localhost")
            )
        });

        let twilio = twilio(
            pick(&args.twilio_account_sid, file.twilio_account_sid),
            pick(&args.twilio_auth_token, file.twilio_auth_token),
            pick(&args.twilio_from, file.twilio_from),
            pick(&args.twilio_api_base, file.twilio_api_base),
        )?;

        let trusted_proxies = match pick(&args.trusted_proxies, file.trusted_proxies) {
            Some(list) => latchkey_web::TrustedProxies::parse(&list)
                .map_err(|e| anyhow::anyhow!("LATCHKEY_TRUSTED_PROXIES: {e}"))?,
            None => latchkey_web::TrustedProxies::default(),
        };

        let call_regions = match pick(&args.call_countries, file.call_countries) {
            Some(list) => latchkey_domain::calls::CallPolicy::parse_regions(&list)
                .map_err(|e| anyhow::anyhow!("LATCHKEY_CALL_COUNTRIES: {e}"))?,
            // Calls cost money only through Twilio: its number's country, unless told more.
            // A number of no country (+800, +882…) must not quietly mean every country.
            None => match &twilio {
                Some(t) => Some(vec![
                    latchkey_domain::PhoneNumber::parse(&t.from)
                        .ok()
                        .and_then(|from| from.region())
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "LATCHKEY_CALL_COUNTRIES must be set: the Twilio number \
                                 (LATCHKEY_TWILIO_FROM) belongs to no country, so latchkey \
                                 cannot tell where calls may go (ISO codes such as GB,IE, or *)"
                            )
                        })?,
                ]),
                None => None,
            },
        };

        let cooling_hours = match (&args.contact_cooling_off_hours, file.contact_cooling_off_hours) {
            (Some(text), _) => Some(text.trim().parse::<u32>().ok().filter(|h| (1..=720).contains(h)).with_context(|| {
                format!("LATCHKEY_CONTACT_COOLING_OFF_HOURS={text:?} is not a whole number of hours from 1 to 720")
            })?),
            (None, Some(hours)) if (1..=720).contains(&hours) => Some(hours),
            (None, Some(hours)) => bail!("contact_cooling_off_hours = {hours} is not a whole number of hours from 1 to 720"),
            (None, None) => None,
        };
        let contact_cooling_off = cooling_hours
            .map(|h| latchkey_domain::Duration::hours(i64::from(h)))
            .unwrap_or(latchkey_domain::contact_change::DEFAULT_COOLING_OFF);

        let secret_key_file = args
            .secret_key_file
            .clone()
            .or(file.secret_key_file)
            .unwrap_or_else(|| data_dir.join("secret.key"));

        Ok(Self {
            listen,
            public_url,
            data_dir,
            database_url,
            smtp_url,
            mail_from,
            twilio,
            secret_key_file,
            trusted_proxies,
            call_regions,
            contact_cooling_off,
            cookie_domain: pick(&args.cookie_domain, file.cookie_domain),
            allow_dev_providers: args.dev_providers.or(file.dev_providers).unwrap_or(false),
        })
    }

    /// Whether `serve` may start with these providers, and how the built-in ones are used
    /// (see [`crate::dev_providers`]). Only `serve` asks: the other commands deliver nothing.
    pub(crate) fn dev_providers(&self) -> anyhow::Result<DevProviders> {
        crate::dev_providers::decide(crate::dev_providers::Deployment {
            listen: self.listen,
            public_url: self.public_url.as_ref(),
            smtp: self.smtp_url.is_some(),
            twilio: self.twilio.is_some(),
            dev_providers: self.allow_dev_providers,
            behind_proxy: !self.trusted_proxies.is_empty(),
        })
        .map_err(anyhow::Error::msg)
    }

    /// `LATCHKEY_COOKIE_DOMAIN` checked against the public URL in effect.
    pub(crate) fn cookie_domain_for(
        &self,
        public_url: &url::Url,
    ) -> anyhow::Result<Option<String>> {
        self.cookie_domain
            .as_deref()
            .map(|text| {
                latchkey_web::parse_cookie_domain(text, public_url)
                    .map_err(|e| anyhow::anyhow!("LATCHKEY_COOKIE_DOMAIN: {e}"))
            })
            .transpose()
    }

    /// The public URL in effect once the server is bound to `bound`: the configured one, or
    /// `http://localhost:PORT` for a loopback address (WebAuthn needs a domain name, and
    /// `localhost` is one), else `http://` and the bound address.
    #[expect(clippy::expect_used, reason = "a host and port make a valid URL")]
    pub(crate) fn public_url_for(&self, bound: SocketAddr) -> url::Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = if bound.ip().is_loopback() || bound.ip().is_unspecified() {
            "localhost".to_owned()
        } else {
            match bound.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            }
        };
        url::Url::parse(&format!("http://{host}:{}", bound.port()))
            .expect("a host and port make a valid URL")
    }
}

pub(crate) fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
}

fn parse_public_url(text: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(text).with_context(|| {
        format!("LATCHKEY_PUBLIC_URL={text:?} is not a URL like https://login.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("LATCHKEY_PUBLIC_URL must be an http:// or https:// URL with a host (got {text:?})");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!(
            "LATCHKEY_PUBLIC_URL must be an origin without a path, such as https://login.example.com (got {text:?}); serving under a sub-path is not supported"
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("LATCHKEY_PUBLIC_URL must not contain credentials");
    }
    Ok(url)
}

fn twilio(
    sid: Option<String>,
    token: Option<String>,
    from: Option<String>,
    api_base: Option<String>,
) -> anyhow::Result<Option<Twilio>> {
    match (sid, token, from) {
        (None, None, None) => Ok(None),
        (Some(account_sid), Some(auth_token), Some(from)) => {
            if !(account_sid.starts_with("AC") && account_sid.len() == 34) {
                bail!(
                    "LATCHKEY_TWILIO_ACCOUNT_SID must be a Twilio account SID (AC followed by 32 characters)"
                );
            }
            latchkey_domain::PhoneNumber::parse(&from).map_err(|e| {
                let words = latchkey_web::wording::problem(&e.into());
                anyhow::anyhow!("LATCHKEY_TWILIO_FROM: {words}")
            })?;
            let base = api_base.unwrap_or_else(|| "https://api.twilio.com".to_owned());
            let api_base = url::Url::parse(&base)
                .with_context(|| format!("LATCHKEY_TWILIO_API_BASE={base:?} is not a URL"))?;
            Ok(Some(Twilio {
                account_sid,
                auth_token,
                from,
                api_base,
            }))
        }
        _ => bail!(
            "Twilio is half configured: set LATCHKEY_TWILIO_ACCOUNT_SID, LATCHKEY_TWILIO_AUTH_TOKEN and LATCHKEY_TWILIO_FROM together, or none of them"
        ),
    }
}

/// A URL with its password replaced, for error messages and logs.
pub(crate) fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

/// Reads the server key, or creates it (mode 0600) on first start.
pub(crate) fn load_or_create_key(
    path: &Path,
) -> anyhow::Result<(latchkey_service::ServerKey, bool)> {
    use std::io::Write;
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret key file {}", path.display()))?;
        let key = latchkey_service::ServerKey::from_hex(&text).with_context(|| {
            format!(
                "the secret key file {} must hold 64 hexadecimal characters (256 bits)",
                path.display()
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(file = %path.display(), mode = format!("{:o}", mode & 0o777), "the secret key file is readable by other users; run chmod 600 on it");
            }
        }
        return Ok((key, false));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    let key = latchkey_service::ServerKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
    file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
    file.sync_all()?;
    Ok((key, true))
}

/// Replaces the key file with `key`'s keys, atomically: a new file beside it (mode 0600),
/// synced, then renamed over the old one, so a crash leaves either the old file or the new
/// one, never half of either.
pub(crate) fn write_key_file(path: &Path, key: &latchkey_service::ServerKey) -> anyhow::Result<()> {
    use std::io::Write;
    // A key file that is a link (a mounted secret) is replaced where it points.
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = resolved.as_path();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret.key".to_owned());
    let temporary = dir.join(format!(
        ".{name}.{}",
        latchkey_service::secrets::new_id("new")
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| -> anyhow::Result<()> {
        let mut file = options.open(&temporary)?;
        file.write_all(key.to_file_text().as_bytes())?;
        file.sync_all()?;
        // Run as root for a service that runs as another user: the new file keeps the old
        // one's owner, or the service could no longer read its key.
        #[cfg(unix)]
        if let Ok(old) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::chown(&temporary, Some(old.uid()), Some(old.gid()));
        }
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("cannot write the secret key file {}", path.display()))
}

#[cfg(test)]
mod tests;
