//! `latchkey key …`: the server key's rotation. `rotate` puts a new key in front of the old
//! ones in the key file and re-seals what they sealed; `status` says what each key still
//! seals; `reseal` re-seals now (the server also does it in the background); `retire` takes
//! a key out of use once nothing is sealed under it. The rules live in
//! `latchkey_service::key_rotation`.

use anyhow::{Context, bail};
use clap::Subcommand;
use latchkey_service::KeyId;
use latchkey_service::key_rotation::ResealReport;

use super::wiring::Parts;
use crate::config::{self, Config};

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Make a new key current: written in front of the old ones in the key file (which stay,
    /// to open what they sealed), recorded in the database, and everything sealed re-sealed
    /// under it. Then give every other instance the new key file and restart it.
    Rotate,
    /// The keys in the key file and how many sealed values each still opens.
    Status,
    /// Re-seal under the current key everything an older key sealed (the server does this in
    /// the background too).
    Reseal,
    /// Retire an older key once nothing is sealed under it: it then opens and verifies
    /// nothing but the audit records chained under it.
    Retire {
        /// The key's id, as `latchkey key status` prints it.
        id: String,
    },
}

pub(crate) async fn run(action: KeyCommand, config: &Config) -> anyhow::Result<()> {
    match action {
        KeyCommand::Rotate => rotate(config).await,
        KeyCommand::Status => status(config).await,
        KeyCommand::Reseal => {
            let parts = Parts::open(config).await?;
            let report = parts.service.reseal_all().await?;
            print_reseal(&report);
            Ok(())
        }
        KeyCommand::Retire { id } => retire(config, &id).await,
    }
}

fn print_reseal(report: &ResealReport) {
    println!(
        "Re-sealed {} values under the current key ({} were already, {} changed meanwhile and are taken by the next pass).",
        report.resealed, report.current, report.changed_meanwhile
    );
    if report.unreadable > 0 {
        println!(
            "{} values open under no key of the file (sealed under a key no longer in it, or damaged); they were left as they are.",
            report.unreadable
        );
    }
}

async fn rotate(config: &Config) -> anyhow::Result<()> {
    let path = &config.secret_key_file;
    if !path.exists() {
        bail!(
            "there is no key file at {} to rotate (LATCHKEY_SECRET_KEY_FILE)",
            path.display()
        );
    }
    // The key file must be the one this database uses before anything is written.
    let previous = Parts::open(config).await?.key;
    let rotated = previous.rotated();
    config::write_key_file(path, &rotated)?;
    // Opening again records the new current key (and audits the rotation).
    let parts = match Parts::open(config).await {
        Ok(parts) => parts,
        Err(error) => {
            // Nothing was sealed under the new key: the old file goes back.
            config::write_key_file(path, &previous)?;
            return Err(error.context(
                "the database did not take the new key; the key file is as it was before",
            ));
        }
    };
    let ids = parts.service.key_ids();
    println!(
        "The current server key is now {} (in {}); the older keys stay in the file to open what they sealed: {}.",
        ids[0],
        path.display(),
        ids[1..]
            .iter()
            .map(|id| id.to_hex())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let report = parts.service.reseal_all().await?;
    print_reseal(&report);
    println!(
        "Give every other instance this key file and restart it: until then they cannot open what the new key seals, and an instance started with the old file is refused."
    );
    println!(
        "Keep the new file in your backups. Once `latchkey key status` shows an old key seals nothing, `latchkey key retire ID` takes it out of use."
    );
    Ok(())
}

async fn status(config: &Config) -> anyhow::Result<()> {
    let parts = Parts::open(config).await?;
    let usage = parts.service.key_usage().await?;
    for (n, id) in parts.service.key_ids().iter().enumerate() {
        let role = if n == 0 { "current" } else { "older" };
        println!("{id}  {role:<8} seals {} values", usage.of_key(*id));
        for ((kind, key), count) in &usage.counts {
            if *key == Some(*id) {
                println!("    {:<20} {count}", kind.as_str());
            }
        }
    }
    for id in parts.key.retired_ids() {
        println!("{id}  retired  verifies old audit records only");
    }
    if usage.unreadable() > 0 {
        println!(
            "{} values open under no key of the file (sealed under a key no longer in it, or damaged).",
            usage.unreadable()
        );
    }
    Ok(())
}

async fn retire(config: &Config, id: &str) -> anyhow::Result<()> {
    let id = KeyId::parse(id).with_context(|| {
        format!(
            "{id:?} is not a key id: use the 16 hexadecimal characters `latchkey key status` prints"
        )
    })?;
    let parts = Parts::open(config).await?;
    if parts.service.key_ids().first() == Some(&id) {
        bail!("{id} is the current key; rotate first (latchkey key rotate), then retire it");
    }
    let Some(retired) = parts.key.without(id) else {
        bail!(
            "{id} is not one of the keys in use in {}",
            config.secret_key_file.display()
        );
    };
    // Whatever is still sealed under it is re-sealed first; anything left keeps it in use.
    let report = parts.service.reseal_all().await?;
    let usage = parts.service.key_usage().await?;
    let left = usage.of_key(id);
    if left > 0 {
        print_reseal(&report);
        bail!(
            "{left} values are still sealed under {id} (changed while they were re-sealed); run `latchkey key retire {id}` again"
        );
    }
    config::write_key_file(&config.secret_key_file, &retired)?;
    parts.service.record_key_retired(id).await?;
    println!(
        "Retired {id}: it no longer opens or verifies anything but the audit records chained under it (it stays in the file, marked retired, for `latchkey audit verify`). Give every other instance the new key file."
    );
    Ok(())
}
