//! `cargo xtask bench`: latchkey measured against the physical limit of the machine it runs
//! on. Every figure is a ratio of two things measured in the same run, so a noisy or slow
//! machine changes the raw numbers but not the verdict. BENCHMARKS.md says what each ratio
//! means and why its target is what it is.

mod client;
pub(crate) mod flood;
mod hashing;
mod phases;
mod proc;
mod report;
mod seed;
mod server;
mod setup;
mod stats;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use latchkey_service::secrets::random_below;
use latchkey_service::{Clock, HashParams, ServerKey, SystemClock};

use flood::{Flood, FloodKind};
use phases::{Meter, Returning, clients};
use proc::CpuTime;
use report::{BackendReport, Ratio, Report};
use seed::{Database, Seeder};
use server::Server;
use setup::{Scratch, build_latchkey, machine, postgres_admin_url, write_key};
use stats::ratio;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendChoice {
    Sqlite,
    Postgres,
    All,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A few samples of everything with the debug build: proves the benchmark still runs (the
    /// test suite does this). Figures from it mean nothing and nothing in the repository is
    /// written.
    #[arg(long)]
    smoke: bool,
    /// Which database(s) to run latchkey on.
    #[arg(long, value_enum, default_value = "all")]
    backend: BackendChoice,
    /// Accounts in the large database.
    #[arg(long, default_value_t = 1_000_000)]
    accounts: u64,
    /// Samples behind each latency figure.
    #[arg(long, default_value_t = 1_000)]
    samples: usize,
    /// Measure this latchkey binary instead of building one.
    #[arg(long)]
    latchkey: Option<PathBuf>,
    /// Where the JSON results go [default: bench/results; with --smoke, a temporary
    /// directory]. BENCHMARKS.md is updated only by a full run with the default.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// How much of everything a run does.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    small: u64,
    large: u64,
    samples: usize,
    efficiency_sign_ins: usize,
    hash_for: Duration,
    requests_for: Duration,
}

impl Sizes {
    fn of(args: &BenchArgs) -> Self {
        if args.smoke {
            Self {
                small: 60,
                large: 600,
                samples: 20,
                efficiency_sign_ins: 60,
                hash_for: Duration::from_millis(300),
                requests_for: Duration::from_millis(300),
            }
        } else {
            Self {
                small: 1_000,
                large: args.accounts.max(10_000),
                samples: args.samples.max(1),
                efficiency_sign_ins: (args.samples * 3).max(1),
                hash_for: Duration::from_secs(5),
                requests_for: Duration::from_secs(4),
            }
        }
    }
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let sizes = Sizes::of(&args);
    let binary = match &args.latchkey {
        Some(path) => path.clone(),
        None => build_latchkey(&root, args.smoke)?,
    };
    let postgres = match args.backend {
        BackendChoice::Sqlite => None,
        _ => Some(postgres_admin_url(&root)?),
    };
    let load_at_start = proc::load_average();
    let mut reports = Vec::new();
    if args.backend != BackendChoice::Postgres {
        reports.push(measure_backend("SQLite", &binary, None, sizes).await?);
    }
    if let Some(admin) = &postgres {
        reports.push(measure_backend("PostgreSQL", &binary, Some(admin), sizes).await?);
    }
    let params = HashParams::default();
    let report = Report {
        date: time::OffsetDateTime::from_unix_timestamp(SystemClock.now().0)?
            .format(&time::format_description::well_known::Rfc3339)?,
        smoke: args.smoke,
        machine: machine(load_at_start),
        argon2: report::Argon2Info {
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            lanes: params.lanes,
            slots: proc::cores(),
        },
        backends: reports,
    };
    println!("\n{}{}", report.table(), report.details());
    let out = match (&args.out, args.smoke) {
        (Some(dir), _) => dir.clone(),
        (None, true) => {
            std::env::temp_dir().join(format!("latchkey-bench-smoke-{}", std::process::id()))
        }
        (None, false) => root.join("bench/results"),
    };
    for path in report.write_json(&out)? {
        println!("wrote {}", path.display());
    }
    if !args.smoke && args.out.is_none() {
        report.update_markdown(&root.join("BENCHMARKS.md"))?;
        println!("updated BENCHMARKS.md");
    }
    Ok(())
}

/// Accounts not used yet: each complete sign-in spends the device's current code, so an
/// account signs in once per run.
struct Unused {
    range: std::ops::Range<u64>,
    used: HashSet<u64>,
}

impl Unused {
    fn take(&mut self, n: usize) -> anyhow::Result<Vec<u64>> {
        let span = self.range.end - self.range.start;
        if (self.used.len() + n) as u64 > span / 2 {
            bail!("not enough seeded accounts for this many samples; raise --accounts");
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let i = self.range.start + random_below(span);
            if self.used.insert(i) {
                out.push(i);
            }
        }
        Ok(out)
    }
}

async fn measure_backend(
    name: &'static str,
    binary: &Path,
    postgres_admin: Option<&str>,
    sizes: Sizes,
) -> anyhow::Result<BackendReport> {
    eprintln!("\n== {name}");
    let (scratch, database_url) = Scratch::new(postgres_admin).await?;
    let result = measure_on(name, binary, &scratch.dir, database_url.as_deref(), sizes).await;
    scratch.remove().await?;
    result
}

async fn measure_on(
    name: &'static str,
    binary: &Path,
    dir: &Path,
    database_url: Option<&str>,
    sizes: Sizes,
) -> anyhow::Result<BackendReport> {
    let key = ServerKey::generate();
    write_key(&dir.join("secret.key"), &key)?;
    let server = Server::start(binary, dir, database_url).await?;
    let base = server.base.clone();
    let database = match database_url {
        Some(url) => Database::Postgres(sqlx::PgPool::connect(url).await?),
        None => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.join("latchkey.sqlite3"))
                .busy_timeout(Duration::from_secs(30));
            Database::Sqlite(sqlx::SqlitePool::connect_with(options).await?)
        }
    };
    let seeder = Seeder::new(database, &key).await?;
    let step = |what: &str| eprintln!("{name}: {what}…");

    step(&format!("seeding {} accounts", sizes.small));
    let seed_started = Instant::now();
    seeder.seed(0..sizes.small).await?;
    seeder.settle().await?;
    let mut seed_seconds = seed_started.elapsed().as_secs_f64();

    // Warm up with failed attempts, which touch every layer but spend no account.
    let warm = clients(&base, 9, 8)?;
    for (n, client) in warm.iter().enumerate() {
        client
            .password_attempt(&format!("warm-up-{n}@bench.example"), "warming up")
            .await?;
    }
    let idle_rss = server.rss();

    step("sign-in latency on the small database");
    let legit = clients(&base, 1, 128)?;
    // A tenth of the accounts sign in first, unmeasured, so that the small database is not
    // measured cold (connections, statement caches, hashing threads) and the large one warm.
    let mut warmed = HashMap::new();
    for i in 0..(sizes.small / 10).max(1) {
        let client = &legit[i as usize % legit.len()];
        let signed_in = client
            .sign_in(&seed::BenchAccount::new(i), None, None)
            .await?;
        warmed.insert(i, signed_in.step);
    }
    let small_accounts = (0..sizes.small).map(|i| Returning {
        used_step: warmed.get(&i).copied(),
        ..Returning::first_time(i)
    });
    let meter = Meter::start(server.pid());
    let small_run = phases::sequential_sign_ins(&legit, small_accounts).await;
    let load_small = meter.finish(CpuTime(0.0));
    if let Some(e) = &small_run.first_failure {
        bail!("{name}: a sign-in failed on the small database: {e}");
    }

    step(&format!("seeding up to {} accounts", sizes.large));
    let seed_started = Instant::now();
    seeder.seed(sizes.small..sizes.large).await?;
    seeder.settle().await?;
    seed_seconds += seed_started.elapsed().as_secs_f64();
    let mut unused = Unused {
        range: sizes.small..sizes.large,
        used: HashSet::new(),
    };

    step("sign-in latency on the large database");
    let meter = Meter::start(server.pid());
    let large_run = phases::sequential_sign_ins(
        &legit,
        unused
            .take(sizes.samples)?
            .into_iter()
            .map(Returning::first_time),
    )
    .await;
    let load_large = meter.finish(CpuTime(0.0));
    if let Some(e) = &large_run.first_failure {
        bail!("{name}: a sign-in failed on the large database: {e}");
    }

    step("unknown email against wrong password");
    let prober = clients(&base, 2, 128)?;
    let known = unused.take(sizes.samples)?;
    let meter = Meter::start(server.pid());
    let (unknown, wrong) = phases::failed_attempts(&prober, &known, sizes.samples).await?;
    let timing_load = meter.finish(CpuTime(0.0));

    step("raw Argon2id hashes per second");
    let cores = proc::cores();
    let hashes_before =
        tokio::task::block_in_place(|| hashing::raw_hashes_per_second(cores, sizes.hash_for));
    step("complete sign-ins per second");
    // Enough addresses that no one address's admission bucket runs dry (two attempts per
    // sign-in, 30 at once).
    let busy = clients(
        &base,
        3,
        (sizes.efficiency_sign_ins / 8).clamp(8, 512) as u32,
    )?;
    let concurrency = cores * 4;
    let accounts = unused.take(sizes.efficiency_sign_ins)?;
    let meter = Meter::start(server.pid());
    let (returning, elapsed) = phases::sign_in_throughput(&busy, accounts, concurrency).await?;
    let signed_in = returning.len();
    // The users of the flood measurements: they signed in just now, so they come back as
    // known devices.
    let mut returning = returning.into_iter();
    let efficiency_load = meter.finish(CpuTime(0.0));
    let hashes_after =
        tokio::task::block_in_place(|| hashing::raw_hashes_per_second(cores, sizes.hash_for));
    let sign_ins_per_s = signed_in as f64 / elapsed.as_secs_f64();

    step("session-checked page against a trivial handler");
    let browsers = clients(&base, 7, 8)?;
    let session = browsers[0]
        .sign_in(&seed::BenchAccount::new(unused.take(1)?[0]), None, None)
        .await?
        .session_token;
    let csrf = browsers[0].cookie_from("/signin", "latchkey_csrf").await?;
    let cookie = format!("latchkey_session={session}; latchkey_csrf={csrf}");
    // The sign-in page hands a signed-in browser the cookie forward-auth checks.
    let proxy = browsers[0]
        .cookie_from_with(
            "/signin?return_to=%2Fconsole%2Fsecurity-credentials",
            Some(&cookie),
            "latchkey_proxy",
        )
        .await?;
    let proxy_cookie = format!("latchkey_proxy={proxy}");
    const PAGE: &str = "/console/security-credentials";
    const VERIFY: &str = "/auth/verify";
    const TRIVIAL: &str = "/livez";
    let in_flight = 32;
    let meter = Meter::start(server.pid());
    let mut page_rps = 0.0;
    let mut verify_rps = 0.0;
    let mut trivial_rps = 0.0;
    // Interleaved twice, so a drift in the machine's speed touches both alike.
    for _ in 0..2 {
        trivial_rps +=
            phases::requests_per_second(&browsers, TRIVIAL, None, in_flight, sizes.requests_for)
                .await?
                / 2.0;
        page_rps += phases::requests_per_second(
            &browsers,
            PAGE,
            Some(&cookie),
            in_flight,
            sizes.requests_for,
        )
        .await?
            / 2.0;
        verify_rps += phases::requests_per_second(
            &browsers,
            VERIFY,
            Some(&proxy_cookie),
            in_flight,
            sizes.requests_for,
        )
        .await?
            / 2.0;
    }
    let cheap_load = meter.finish(CpuTime(0.0));

    step("legitimate sign-ins without a flood");
    let mut next_users = || returning.by_ref().take(sizes.samples).collect::<Vec<_>>();
    let baseline = legit_run(&server, 4, next_users(), None).await?;
    let mut floods = Vec::new();
    for (group, kind, label, connections) in [
        (5, FloodKind::OneAddress, "one-address", 64),
        (6, FloodKind::Spread, "256-address unknown-email", 256),
    ] {
        step(&format!("legitimate sign-ins during the {label} flood"));
        let flood = Flood::start(&base, kind, connections)?;
        let (legit, flood_report) = {
            let result = legit_run(&server, group, next_users(), Some(&flood)).await;
            let report = flood.stop()?;
            (result?, report)
        };
        floods.push(report::FloodResult {
            kind: label,
            flood_requests_per_s: ratio(flood_report.sent as f64, flood_report.seconds),
            flood: flood_report,
            legit,
        });
    }
    let peak_rss = server.peak_rss();
    server.stop().await?;

    let params = HashParams::default();
    let argon2_bytes = u64::from(params.memory_kib) * 1024;
    let hash_rate = (hashes_before + hashes_after) / 2.0;
    let efficiency = ratio(sign_ins_per_s, hash_rate);
    let mut ratios = vec![Ratio {
        name: "sign-in efficiency (sign-ins/s ÷ raw Argon2id hashes/s)".to_owned(),
        value: efficiency,
        target: "≥ 0.90",
        met: efficiency >= 0.90,
    }];
    for f in &floods {
        let value = ratio(f.legit.latency.p99_ms, baseline.latency.p99_ms);
        ratios.push(Ratio {
            name: format!(
                "flood isolation, {} (legit p99 ÷ without flood; ≥ 99 % succeed)",
                if f.kind == "one-address" {
                    "one address"
                } else {
                    "256 addresses"
                }
            ),
            value,
            target: "≤ 3",
            met: value <= 3.0 && f.legit.success_rate >= 0.99,
        });
    }
    let bound = idle_rss + cores as u64 * argon2_bytes;
    let memory = ratio(peak_rss as f64, bound as f64);
    ratios.push(Ratio {
        name: "memory bound (peak RSS ÷ (idle + slots × Argon2 memory))".to_owned(),
        value: memory,
        target: "≤ 1.25",
        met: memory <= 1.25,
    });
    let cheap = ratio(page_rps, trivial_rps);
    ratios.push(Ratio {
        name: "cheap path (session-checked page rps ÷ trivial handler rps)".to_owned(),
        value: cheap,
        target: "≥ 0.5",
        met: cheap >= 0.5,
    });
    let forward_auth = ratio(verify_rps, trivial_rps);
    ratios.push(Ratio {
        name: "forward-auth check (/auth/verify rps ÷ trivial handler rps)".to_owned(),
        value: forward_auth,
        target: "≥ 0.5",
        met: forward_auth >= 0.5,
    });
    let uniform = ratio(unknown.summary().p50_ms, wrong.summary().p50_ms);
    ratios.push(Ratio {
        name: "timing uniformity (unknown email ÷ wrong password, median)".to_owned(),
        value: uniform,
        target: "0.95 – 1.05",
        met: (0.95..=1.05).contains(&uniform),
    });
    let scale = ratio(
        large_run.latencies.summary().p50_ms,
        small_run.latencies.summary().p50_ms,
    );
    ratios.push(Ratio {
        name: format!(
            "scale (median sign-in latency, {} accounts ÷ {})",
            report::thousands(sizes.large),
            report::thousands(sizes.small)
        ),
        value: scale,
        target: "≤ 1.2",
        met: scale <= 1.2,
    });

    Ok(BackendReport {
        backend: name,
        ratios,
        efficiency: report::Efficiency {
            sign_ins: signed_in,
            concurrency,
            sign_ins_per_s,
            raw_hashes_per_s_before: hashes_before,
            raw_hashes_per_s_after: hashes_after,
            server_cpu_ms_per_sign_in: ratio(
                (efficiency_load.latchkey_cpu_s + efficiency_load.postgres_cpu_s) * 1000.0,
                signed_in as f64,
            ),
            load: efficiency_load,
        },
        flood_baseline: baseline,
        floods,
        memory: report::Memory {
            idle_bytes: idle_rss,
            peak_bytes: peak_rss,
            slots: cores,
            argon2_bytes_per_slot: argon2_bytes,
        },
        cheap_path: report::CheapPath {
            page: PAGE,
            trivial: TRIVIAL,
            page_requests_per_s: page_rps,
            verify: VERIFY,
            verify_requests_per_s: verify_rps,
            trivial_requests_per_s: trivial_rps,
            concurrency: in_flight,
            load: cheap_load,
        },
        timing: report::Timing {
            unknown_email: unknown.summary(),
            wrong_password: wrong.summary(),
            load: timing_load,
        },
        scale: report::Scale {
            small_accounts: sizes.small,
            large_accounts: sizes.large,
            small: small_run.latencies.summary(),
            large: large_run.latencies.summary(),
            seed_seconds,
            load_small,
            load_large,
        },
    })
}

/// Returning users (known devices) signing in one after another, from addresses of `group`.
async fn legit_run(
    server: &Server,
    group: u8,
    accounts: Vec<Returning>,
    flood: Option<&Flood>,
) -> anyhow::Result<report::Legit> {
    let users = clients(&server.base, group, 128)?;
    let flood_cpu = || {
        flood
            .and_then(|f| proc::cpu_of(f.pid()))
            .unwrap_or_default()
    };
    let flood_before = flood_cpu();
    let meter = Meter::start(server.pid());
    let run = phases::sequential_sign_ins(&users, accounts).await;
    let load = meter.finish(flood_cpu() - flood_before);
    if flood.is_none()
        && let Some(e) = &run.first_failure
    {
        bail!("a sign-in failed without any flood: {e}");
    }
    Ok(report::Legit {
        latency: run.latencies.summary(),
        success_rate: run.success_rate(),
        load,
    })
}
