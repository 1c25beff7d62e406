//! Developer tasks that are programs rather than shell scripts.
//!
//! `cargo xtask bench` measures latchkey against the one cost it cannot avoid, Argon2id
//! hashing, on the same machine in the same run (see `BENCHMARKS.md`). `cargo xtask tidy`
//! checks rules about the tree that no compiler checks.

#![allow(
    clippy::expect_used,
    reason = "a developer tool: a broken invariant should stop the run with its message"
)]

mod bench;
mod tidy;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "latchkey's developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build latchkey in release mode, run it on SQLite and PostgreSQL, and measure it.
    Bench(bench::BenchArgs),
    /// One flood client, run as its own process by `bench`; stops when its standard input
    /// closes and prints what it sent and got back.
    #[command(hide = true)]
    Flood(bench::flood::FloodArgs),
    /// Check rules about the tree no compiler checks (paired migrations, used templates,
    /// documents that name what exists); the test suite runs the same check.
    Tidy,
}

/// The workspace's root folder (xtask lives one below it).
fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // reqwest is built without a default TLS provider (see TOOLING.md); the benchmark speaks
    // plain HTTP over loopback, but the client builder still wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.task {
        Task::Bench(args) => bench::run(args),
        Task::Flood(args) => bench::flood::run(args),
        Task::Tidy => tidy::run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
