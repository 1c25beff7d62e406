//! `cargo xtask tidy`: rules about the tree that no compiler checks, run by the test suite
//! (`the_tree_is_tidy` below) so that a change breaking one fails like any other test.
//!
//! - Every migration exists for both backends, under the same name.
//! - Every template is used: named by a `#[template(path = …)]`, or extended or included by
//!   a template that is.
//! - Every relative link in the Markdown documents, and every path they quote that starts at
//!   a top-level folder (`crates/…`, `docs/…`), names a file or folder that exists.
//!
//! (That the example configuration lists exactly the configuration's keys is checked where the
//! keys are known: `crates/latchkey/src/config/tests.rs`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level folders whose paths the documents quote.
const QUOTED_ROOTS: &[&str] = &["crates/", "docs/", "scripts/", "tests/", "xtask/", "bench/"];

/// Checks the tree at `root`; every problem found, worded for the developer.
pub(crate) fn problems(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    migrations_are_paired(root, &mut out);
    templates_are_used(root, &mut out);
    documents_name_what_exists(root, &mut out);
    out
}

pub(crate) fn run() -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let found = problems(&root);
    for problem in &found {
        eprintln!("tidy: {problem}");
    }
    anyhow::ensure!(found.is_empty(), "{} problem(s) in the tree", found.len());
    println!("tidy: nothing to report");
    Ok(())
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn migrations_are_paired(root: &Path, out: &mut Vec<String>) {
    let dir = root.join("crates/store/migrations");
    let sqlite = names_in(&dir.join("sqlite"));
    let postgres = names_in(&dir.join("postgres"));
    if sqlite.is_empty() {
        out.push(format!("no migrations found in {}", dir.display()));
    }
    for name in sqlite.symmetric_difference(&postgres) {
        let (has, lacks) = if sqlite.contains(name) {
            ("sqlite", "postgres")
        } else {
            ("postgres", "sqlite")
        };
        out.push(format!(
            "migration {name} exists for {has} but not for {lacks} (crates/store/migrations/{lacks}/)"
        ));
    }
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The strings quoted after `marker` up to the next `"`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

fn templates_are_used(root: &Path, out: &mut Vec<String>) {
    for krate in ["crates/web", "crates/service"] {
        let templates = root.join(krate).join("templates");
        let all = files_under(&templates);
        let sources = files_under(&root.join(krate).join("src"))
            .into_iter()
            .filter(|f| f.ends_with(".rs"))
            .filter_map(|f| std::fs::read_to_string(root.join(krate).join("src").join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let mut used: BTreeSet<String> = quoted_after(&sources, "#[template(path = \"")
            .into_iter()
            .map(str::to_owned)
            .collect();
        // Templates reached from a used one (`extends`, `include`, `import`) are used too.
        let mut frontier: Vec<String> = used.iter().cloned().collect();
        while let Some(name) = frontier.pop() {
            let Ok(text) = std::fs::read_to_string(templates.join(&name)) else {
                out.push(format!(
                    "{krate}: a source names the template {name}, which does not exist"
                ));
                continue;
            };
            for keyword in ["extends \"", "include \"", "import \""] {
                for reached in quoted_after(&text, keyword) {
                    if used.insert(reached.to_owned()) {
                        frontier.push(reached.to_owned());
                    }
                }
            }
        }
        for file in all.iter().filter(|f| !used.contains(*f)) {
            out.push(format!(
                "{krate}/templates/{file} is not used by any source or template"
            ));
        }
    }
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = names_in(root)
        .into_iter()
        .filter(|n| n.ends_with(".md"))
        .map(|n| root.join(n))
        .collect();
    found.extend(
        files_under(&root.join("docs"))
            .into_iter()
            .filter(|f| f.ends_with(".md"))
            .map(|f| root.join("docs").join(f)),
    );
    found
}

fn documents_name_what_exists(root: &Path, out: &mut Vec<String>) {
    for document in markdown_files(root) {
        let Ok(text) = std::fs::read_to_string(&document) else {
            continue;
        };
        let shown = document
            .strip_prefix(root)
            .unwrap_or(&document)
            .display()
            .to_string();
        let base = document.parent().unwrap_or(root);
        // Relative Markdown links: [text](path) and [text](path#anchor).
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !base.join(target).exists() {
                out.push(format!("{shown}: the link to {target} names nothing"));
            }
        }
        // Paths quoted in backticks (outside fenced code) that start at a top-level folder.
        for quoted in inline_code(&text) {
            if quoted.contains(char::is_whitespace)
                || !QUOTED_ROOTS.iter().any(|r| quoted.starts_with(r))
            {
                continue;
            }
            // `templates/*.html`, `migrations/{sqlite,postgres}/`, `src/<feature>.rs`: patterns,
            // whose literal part before the first wildcard must exist.
            let literal = quoted
                .split(['*', '{', '<', '…'])
                .next()
                .unwrap_or_default();
            let literal = if literal.len() < quoted.len() {
                literal.rsplit_once('/').map_or(literal, |(dir, _)| dir)
            } else {
                literal
            };
            // A path inside a crate may be quoted from the crate (`tests/cli.rs` where the
            // text is about `crates/latchkey`).
            let exists = root.join(literal).exists()
                || names_in(&root.join("crates"))
                    .iter()
                    .any(|krate| root.join("crates").join(krate).join(literal).exists());
            if !exists {
                out.push(format!("{shown}: `{quoted}` names nothing"));
            }
        }
    }
}

/// The inline code spans of a Markdown text, outside fenced code blocks.
fn inline_code(text: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code);
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_tidy() {
        let found = problems(&crate::workspace_root());
        assert!(found.is_empty(), "tidy found:\n{}", found.join("\n"));
    }

    #[test]
    fn each_rule_catches_what_it_is_for() {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-tidy-{}",
            latchkey_service::secrets::hex(&latchkey_service::secrets::random_bytes::<8>())
        ));
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("crates/store/migrations/sqlite/0001_a.sql", "");
        write("crates/store/migrations/sqlite/0002_b.sql", "");
        write("crates/store/migrations/postgres/0001_a.sql", "");
        write("crates/web/src/lib.rs", "#[template(path = \"page.html\")]");
        write(
            "crates/web/templates/page.html",
            "{% extends \"layout.html\" %}",
        );
        write("crates/web/templates/layout.html", "");
        write("crates/web/templates/orphan.html", "");
        write(
            "README.md",
            "[ok](docs/a.md) [gone](docs/gone.md) `crates/web/src/lib.rs` `crates/nope.rs`",
        );
        write("docs/a.md", "`docs/`");
        let found = problems(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let expected = [
            "migration 0002_b.sql exists for sqlite but not for postgres",
            "crates/web/templates/orphan.html is not used",
            "README.md: the link to docs/gone.md names nothing",
            "README.md: `crates/nope.rs` names nothing",
        ];
        for wanted in expected {
            assert!(
                found.iter().any(|f| f.contains(wanted)),
                "expected {wanted:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }
}
