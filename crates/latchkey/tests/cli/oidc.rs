//! `latchkey oidc client …` and `latchkey oidc key …` on the real binary: what the operator
//! is told, what is refused, and that a secret is shown once and replaced for good.

use latchkey_test_support::TempDir;

fn run(dir: &TempDir, args: &[&str]) -> std::process::Output {
    super::latchkey(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn clients_are_added_listed_given_new_secrets_and_removed() {
    let dir = TempDir::new();
    let added = json(&run(
        &dir,
        &[
            "oidc",
            "client",
            "add",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.com/callback",
            "--redirect-uri",
            "http://localhost:3000/cb",
            "--refresh-tokens",
            "--json",
        ],
    ));
    let id = added["client_id"].as_str().unwrap().to_owned();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert!(id.starts_with("lk-") && secret.len() == 43, "{added}");
    // The secret is kept only as a hash: it appears nowhere in the database file.
    let mut stored = Vec::new();
    for file in ["latchkey.sqlite3", "latchkey.sqlite3-wal"] {
        stored.extend(std::fs::read(dir.path().join(file)).unwrap_or_default());
    }
    assert!(stored.len() > 4096, "the database files were read");
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let public = json(&run(
        &dir,
        &[
            "oidc",
            "client",
            "add",
            "--name",
            "Spa",
            "--redirect-uri",
            "https://spa.example.com/cb",
            "--public",
            "--json",
        ],
    ));
    assert!(public["client_secret"].is_null());

    let listed = json(&run(&dir, &["oidc", "client", "list", "--json"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "Reports");
    assert_eq!(listed[0]["refresh_tokens"], true);
    assert_eq!(listed[1]["public"], true);
    assert!(!text(&run(&dir, &["oidc", "client", "list"]).stdout).contains(&secret));

    let rotated = json(&run(
        &dir,
        &["oidc", "client", "rotate-secret", &id, "--json"],
    ));
    assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);
    let refused = run(
        &dir,
        &[
            "oidc",
            "client",
            "rotate-secret",
            public["client_id"].as_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("public client has no secret"),
        "{}",
        text(&refused.stderr)
    );

    let removed = run(&dir, &["oidc", "client", "remove", &id]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_eq!(
        json(&run(&dir, &["oidc", "client", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let again = run(&dir, &["oidc", "client", "remove", &id]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("no application has this client id"));

    let audit = text(&run(&dir, &["audit"]).stdout);
    for event in [
        "oidc_client_registered",
        "oidc_client_secret_rotated",
        "oidc_client_removed",
    ] {
        assert!(audit.contains(event), "{event} missing from:\n{audit}");
    }
}

#[test]
fn bad_registrations_are_refused_with_the_reason() {
    let dir = TempDir::new();
    for (args, reason) in [
        (
            vec!["--name", "X", "--redirect-uri", "http://app.example.com/cb"],
            "plain http is only for localhost",
        ),
        (
            vec![
                "--name",
                "X",
                "--redirect-uri",
                "https://app.example.com/cb#x",
            ],
            "fragment",
        ),
        (
            vec!["--name", "X", "--redirect-uri", "/callback"],
            "absolute https URL",
        ),
        (
            vec![
                "--name",
                "X",
                "--redirect-uri",
                "https://u:p@app.example.com/cb",
            ],
            "user name or password",
        ),
        (
            vec![
                "--name",
                " ",
                "--redirect-uri",
                "https://app.example.com/cb",
            ],
            "name must be",
        ),
        (
            vec![
                "--name",
                "X",
                "--redirect-uri",
                "https://app.example.com/cb",
                "--id-token-alg",
                "none",
            ],
            "RS256 or ES256",
        ),
    ] {
        let mut all = vec!["oidc", "client", "add"];
        all.extend(args.iter().copied());
        let output = run(&dir, &all);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            text(&output.stderr).contains(reason),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    assert_eq!(
        json(&run(&dir, &["oidc", "client", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn signing_keys_rotate_with_an_overlap_and_the_signing_one_cannot_be_retired() {
    let dir = TempDir::new();
    let listed = text(&run(&dir, &["oidc", "key", "list"]).stdout);
    let kids: Vec<String> = listed
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2, "{listed}");
    let rotated = run(&dir, &["oidc", "key", "rotate"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(text(&rotated.stdout).contains("published now, signs from"));
    assert_eq!(
        text(&run(&dir, &["oidc", "key", "list"]).stdout)
            .lines()
            .count(),
        4
    );
    for kid in &kids {
        let refused = run(&dir, &["oidc", "key", "retire", kid]);
        assert!(!refused.status.success());
        assert!(
            text(&refused.stderr).contains("signs ID tokens now"),
            "{}",
            text(&refused.stderr)
        );
    }
    let unknown = run(&dir, &["oidc", "key", "retire", "rs256-unknown"]);
    assert!(text(&unknown.stderr).contains("no published signing key"));
}
