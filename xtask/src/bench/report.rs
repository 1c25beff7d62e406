//! What a benchmark run found: the JSON written to `bench/results/` and the table in
//! `BENCHMARKS.md`.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::flood::FloodReport;
use super::phases::Load;
use super::stats::Summary;

#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// UTC, RFC 3339.
    pub date: String,
    pub smoke: bool,
    pub machine: Machine,
    pub argon2: Argon2Info,
    pub backends: Vec<BackendReport>,
}

#[derive(Debug, Serialize)]
pub(super) struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_average_at_start: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Argon2Info {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
    /// latchkey's hashing slots (one per core).
    pub slots: usize,
}

#[derive(Debug, Serialize)]
pub(super) struct Ratio {
    pub name: String,
    pub value: f64,
    pub target: &'static str,
    pub met: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct BackendReport {
    pub backend: &'static str,
    pub ratios: Vec<Ratio>,
    pub efficiency: Efficiency,
    pub flood_baseline: Legit,
    pub floods: Vec<FloodResult>,
    pub memory: Memory,
    pub cheap_path: CheapPath,
    pub timing: Timing,
    pub scale: Scale,
}

#[derive(Debug, Serialize)]
pub(super) struct Efficiency {
    pub sign_ins: usize,
    pub concurrency: usize,
    pub sign_ins_per_s: f64,
    pub raw_hashes_per_s_before: f64,
    pub raw_hashes_per_s_after: f64,
    /// latchkey's (and PostgreSQL's) CPU per complete sign-in.
    pub server_cpu_ms_per_sign_in: f64,
    pub load: Load,
}

#[derive(Debug, Serialize)]
pub(super) struct Legit {
    pub latency: Summary,
    pub success_rate: f64,
    pub load: Load,
}

#[derive(Debug, Serialize)]
pub(super) struct FloodResult {
    pub kind: &'static str,
    pub legit: Legit,
    pub flood: FloodReport,
    pub flood_requests_per_s: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Memory {
    pub idle_bytes: u64,
    pub peak_bytes: u64,
    pub slots: usize,
    pub argon2_bytes_per_slot: u64,
}

#[derive(Debug, Serialize)]
pub(super) struct CheapPath {
    pub page: &'static str,
    pub trivial: &'static str,
    pub page_requests_per_s: f64,
    pub verify: &'static str,
    pub verify_requests_per_s: f64,
    pub trivial_requests_per_s: f64,
    pub concurrency: usize,
    pub load: Load,
}

#[derive(Debug, Serialize)]
pub(super) struct Timing {
    pub unknown_email: Summary,
    pub wrong_password: Summary,
    pub load: Load,
}

#[derive(Debug, Serialize)]
pub(super) struct Scale {
    pub small_accounts: u64,
    pub large_accounts: u64,
    pub small: Summary,
    pub large: Summary,
    pub seed_seconds: f64,
    pub load_small: Load,
    pub load_large: Load,
}

impl Report {
    pub(super) fn write_json(&self, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = serde_json::to_string_pretty(self)? + "\n";
        let stamp: String = self
            .date
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(13)
            .collect();
        let dated = dir.join(format!("{stamp}.json"));
        let latest = dir.join("latest.json");
        for path in [&dated, &latest] {
            std::fs::write(path, &json)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(vec![dated, latest])
    }

    /// The ratio table, one column per backend.
    pub(super) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| Ratio | Target |");
        for b in &self.backends {
            out.push_str(&format!(" {} |", b.backend));
        }
        out.push_str("\n|---|---|");
        for _ in &self.backends {
            out.push_str("---|");
        }
        out.push('\n');
        let Some(first) = self.backends.first() else {
            return out;
        };
        for (i, ratio) in first.ratios.iter().enumerate() {
            out.push_str(&format!("| {} | {} |", ratio.name, ratio.target));
            for b in &self.backends {
                let r = &b.ratios[i];
                let mark = if r.met { "met" } else { "**not met**" };
                out.push_str(&format!(" {:.3} ({mark}) |", r.value));
            }
            out.push('\n');
        }
        out
    }

    /// The figures behind the ratios, for the reader who wants to check them.
    pub(super) fn details(&self) -> String {
        let mut out = String::new();
        for b in &self.backends {
            let e = &b.efficiency;
            out.push_str(&format!("\n#### {}\n\n", b.backend));
            out.push_str(&format!(
                "- Sign-in efficiency: {} complete sign-ins (password + TOTP + session) at \
                 concurrency {} → {:.1}/s; raw Argon2id {:.1}/s before and {:.1}/s after; \
                 server CPU {:.2} ms per sign-in; {}.\n",
                e.sign_ins,
                e.concurrency,
                e.sign_ins_per_s,
                e.raw_hashes_per_s_before,
                e.raw_hashes_per_s_after,
                e.server_cpu_ms_per_sign_in,
                load_text(&e.load),
            ));
            out.push_str(&format!(
                "- Legitimate sign-ins without a flood: {}; {}.\n",
                latency_text(&b.flood_baseline.latency),
                load_text(&b.flood_baseline.load),
            ));
            for f in &b.floods {
                out.push_str(&format!(
                    "- During the {} flood ({:.0} attempts/s: {} refused with 429, {} hashed \
                     and denied, {} other, {} errors): legitimate {}, {:.2} % succeeded; {}.\n",
                    f.kind,
                    f.flood_requests_per_s,
                    f.flood.throttled,
                    f.flood.denied,
                    f.flood.other,
                    f.flood.errors,
                    latency_text(&f.legit.latency),
                    f.legit.success_rate * 100.0,
                    load_text(&f.legit.load),
                ));
            }
            let m = &b.memory;
            out.push_str(&format!(
                "- Memory: idle {:.1} MiB (the Argon2 memory of every slot is allocated at start, \
                 so it is already in here), peak {:.1} MiB ({:.2} × idle), bound idle + {} \
                 slots × {:.0} MiB = {:.1} MiB.\n",
                mib(m.idle_bytes),
                mib(m.peak_bytes),
                m.peak_bytes as f64 / (m.idle_bytes.max(1)) as f64,
                m.slots,
                mib(m.argon2_bytes_per_slot),
                mib(m.idle_bytes + m.slots as u64 * m.argon2_bytes_per_slot),
            ));
            let c = &b.cheap_path;
            out.push_str(&format!(
                "- Cheap path: `{}` {:.0} requests/s, `{}` {:.0} requests/s, `{}` {:.0} requests/s ({} in flight); {}.\n",
                c.page,
                c.page_requests_per_s,
                c.verify,
                c.verify_requests_per_s,
                c.trivial,
                c.trivial_requests_per_s,
                c.concurrency,
                load_text(&c.load),
            ));
            let t = &b.timing;
            out.push_str(&format!(
                "- Timing: unknown email {}; wrong password {}; {}.\n",
                latency_text(&t.unknown_email),
                latency_text(&t.wrong_password),
                load_text(&t.load),
            ));
            let s = &b.scale;
            out.push_str(&format!(
                "- Scale: {} accounts {}; {} accounts {} (seeding took {:.0} s).\n",
                s.small_accounts,
                latency_text(&s.small),
                s.large_accounts,
                latency_text(&s.large),
                s.seed_seconds,
            ));
        }
        out
    }

    /// Replaces the generated part of `BENCHMARKS.md` (between its two markers).
    pub(super) fn update_markdown(&self, path: &Path) -> anyhow::Result<()> {
        const BEGIN: &str = "<!-- bench:begin -->";
        const END: &str = "<!-- bench:end -->";
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            anyhow::bail!("{} lacks the {BEGIN} … {END} markers", path.display());
        };
        let m = &self.machine;
        let generated = format!(
            "{BEGIN}\n_Latest run: {} on {} ({} cores, {:.0} GiB, Linux {}); load average \
             {:.2} at the start; Argon2id m={} KiB, t={}, p={}, {} slots. Written by `cargo \
             xtask bench`; the raw figures are in `bench/results/latest.json`._\n\n{}{}\n",
            self.date,
            m.cpu,
            m.cores,
            m.memory_gib,
            m.kernel,
            m.load_average_at_start,
            self.argon2.memory_kib,
            self.argon2.iterations,
            self.argon2.lanes,
            self.argon2.slots,
            self.table(),
            self.details(),
        );
        let updated = format!("{}{generated}{}", &text[..start], &text[end..]);
        std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// `1000000` as `1,000,000`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn latency_text(s: &Summary) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        s.p50_ms, s.p99_ms, s.max_ms, s.samples
    )
}

fn load_text(l: &Load) -> String {
    format!(
        "{:.1} s wall; CPU: latchkey {:.1} s, PostgreSQL {:.1} s, load generators {:.1} s, \
         other {:.1} s ({:.0} % of the machine)",
        l.wall_s,
        l.latchkey_cpu_s,
        l.postgres_cpu_s,
        l.load_generator_cpu_s,
        l.other_cpu_s,
        l.other_load * 100.0
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands(20_000), "20,000");
        assert_eq!(super::thousands(999), "999");
    }
}
