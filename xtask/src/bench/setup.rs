//! What a run stands on: the latchkey binary it builds, the PostgreSQL server and the scratch
//! database it uses, the machine it describes, the server key it writes.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use latchkey_service::ServerKey;
use latchkey_service::secrets::random_below;

use super::{proc, report};

pub(super) fn build_latchkey(root: &Path, smoke: bool) -> anyhow::Result<PathBuf> {
    let mut command = std::process::Command::new(env!("CARGO"));
    command.current_dir(root).args([
        "build",
        "--locked",
        "--quiet",
        "--package",
        "latchkey",
        "--bin",
        "latchkey",
    ]);
    if !smoke {
        command.arg("--release");
    }
    eprintln!(
        "building latchkey ({})…",
        if smoke { "debug" } else { "release" }
    );
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target
        .join(if smoke { "debug" } else { "release" })
        .join("latchkey"))
}

/// PostgreSQL to run on: `LATCHKEY_BENCH_POSTGRES_URL` or the test suite's server, else the
/// local cluster that `scripts/ensure-postgres` installs and starts.
pub(super) fn postgres_admin_url(root: &Path) -> anyhow::Result<String> {
    for var in ["LATCHKEY_BENCH_POSTGRES_URL", "LATCHKEY_TEST_POSTGRES_URL"] {
        if let Ok(url) = std::env::var(var)
            && !url.is_empty()
        {
            return Ok(url);
        }
    }
    let output = std::process::Command::new(root.join("scripts/ensure-postgres"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run scripts/ensure-postgres")?;
    if !output.status.success() {
        bail!("scripts/ensure-postgres failed: PostgreSQL is needed for the benchmark");
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

pub(super) fn machine(load_average_at_start: f64) -> report::Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    report::Machine {
        cpu,
        cores: proc::cores(),
        memory_gib: memory_kib / (1024.0 * 1024.0),
        kernel,
        load_average_at_start,
    }
}

/// A database for one backend's run, removed afterwards.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl Scratch {
    pub(super) async fn new(admin: Option<&str>) -> anyhow::Result<(Self, Option<String>)> {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-bench-{}-{}",
            std::process::id(),
            random_below(1 << 32)
        ));
        std::fs::create_dir_all(&dir)?;
        let Some(admin) = admin else {
            return Ok((
                Self {
                    dir,
                    postgres: None,
                },
                None,
            ));
        };
        use sqlx::Connection;
        let name = format!("latchkey_bench_{}", random_below(1 << 40));
        let mut connection = sqlx::PgConnection::connect(admin)
            .await
            .context("cannot reach PostgreSQL")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await?;
        let mut url = url::Url::parse(admin)?;
        url.set_path(&name);
        Ok((
            Self {
                dir,
                postgres: Some((admin.to_owned(), name)),
            },
            Some(url.to_string()),
        ))
    }

    pub(super) async fn remove(self) -> anyhow::Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.postgres {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&admin).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut connection)
            .await?;
        }
        Ok(())
    }
}

pub(super) fn write_key(path: &Path, key: &ServerKey) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let hex = key.to_hex();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{hex}")?;
    Ok(())
}
