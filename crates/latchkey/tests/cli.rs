//! The `latchkey` binary as an operator uses it: `account create`, `audit`, `serve` and its
//! configuration errors; the break-glass commands are in `cli/break_glass.rs`,
//! the operator's account views and `disable`/`enable` in `cli/accounts.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "a test crate: a panic is a failed test, and its helpers are shared between its modules"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use latchkey_test_support::TempDir;

#[path = "cli/accounts.rs"]
mod accounts;
#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/break_glass.rs"]
mod break_glass;
#[path = "cli/key_rotation.rs"]
mod key_rotation;
#[path = "cli/oidc.rs"]
mod oidc;
#[path = "cli/server_key.rs"]
mod server_key;

fn latchkey(dir: &TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LATCHKEY_DATA_DIR", dir.path())
        .env("RUST_LOG", "info");
    command
}

/// The key the binary keeps in the data directory.
fn server_key(dir: &TempDir) -> latchkey_service::ServerKey {
    let hex = std::fs::read_to_string(dir.path().join("secret.key")).unwrap();
    latchkey_service::ServerKey::from_hex(&hex).expect("the key file holds a key")
}

fn create(dir: &TempDir, email: &str, password: &str) -> std::process::Output {
    let mut child = latchkey(dir)
        .args([
            "account",
            "create",
            "--email",
            email,
            "--phone",
            "+44 20 7946 0958",
            "--name",
            "Acme",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn account_create_prints_the_id_and_stores_an_owasp_strength_hash() {
    let dir = TempDir::new();
    let output = create(&dir, "ops@example.com", "violet-anchor-tundra-42");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(
        id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let account = runtime.block_on(async {
        let (store, _) = latchkey_store::open(None, dir.path(), server_key(&dir).audit_chain_key())
            .await
            .unwrap();
        store
            .account_by_email(&latchkey_domain::EmailAddress::parse("ops@example.com").unwrap())
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(account.id.as_str(), id);
    assert!(
        account
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        account.password_hash
    );
    assert!(account.email_verified_at.is_some() && account.phone_verified_at.is_some());
    assert_eq!(account.phone.as_str(), "+442079460958");

    let audit = latchkey(&dir)
        .args(["audit", "--limit", "5"])
        .output()
        .unwrap();
    assert!(audit.status.success());
    let audit = String::from_utf8(audit.stdout).unwrap();
    assert!(
        audit.contains("account_created_by_operator") && audit.contains(&id),
        "{audit}"
    );
    assert!(
        !audit.contains("violet-anchor"),
        "no password in the audit log"
    );
}

#[test]
fn account_create_explains_what_is_wrong_and_creates_nothing() {
    let dir = TempDir::new();
    let output = create(&dir, "not-an-email", "short");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--email")
            && stderr.contains("--password-stdin: Use at least 12 characters"),
        "{stderr}"
    );
    assert!(
        create(&dir, "dup@example.com", "violet-anchor-tundra-42")
            .status
            .success()
    );
    let again = create(&dir, "DUP@example.com", "violet-anchor-tundra-42");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn every_command_has_help() {
    let dir = TempDir::new();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["account", "create", "--help"],
        vec!["audit", "--help"],
        vec!["audit", "verify", "--help"],
    ] {
        let output = latchkey(&dir).args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    let serve_help = String::from_utf8(
        latchkey(&dir)
            .args(["serve", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for variable in [
        "LATCHKEY_LISTEN",
        "LATCHKEY_PUBLIC_URL",
        "LATCHKEY_DATABASE_URL",
        "LATCHKEY_SMTP_URL",
        "LATCHKEY_SECRET_KEY_FILE",
        "LATCHKEY_TWILIO_API_BASE",
    ] {
        assert!(
            serve_help.contains(variable),
            "{variable} missing from --help"
        );
    }
}

#[test]
fn bad_configuration_stops_start_up_with_the_setting_named() {
    let dir = TempDir::new();
    let output = latchkey(&dir)
        .args(["serve"])
        .env("LATCHKEY_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("LATCHKEY_LISTEN"));

    let child = latchkey(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1,proxy.example.com")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log, status) = start_up_log(child, |line| line.contains("latchkey listening"));
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("LATCHKEY_TRUSTED_PROXIES") && log.contains("proxy.example.com"),
        "{log}"
    );

    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nsmtp_host = \"x\"\n").unwrap();
    let output = latchkey(&dir)
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("smtp_host"));
}

#[test]
fn serve_starts_on_its_embedded_defaults_and_says_what_it_uses() {
    let dir = TempDir::new();
    let mut child = latchkey(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Read the start-up lines as they are written; the last one names the mailbox.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("voice:");
        seen.push(line);
        if done {
            break;
        }
    }
    let log = seen.join("\n");
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("latchkey listening on 127.0.0.1:"), "{log}");
    assert!(log.contains("backend=\"sqlite\""), "{log}");
    assert!(log.contains("synchronous=FULL"), "{log}");
    assert!(log.contains("built-in mailbox"), "{log}");
    assert!(log.contains("created a new server key"), "{log}");
    let key = dir.path().join("secret.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64);
}

/// Reads the standard error of `child` line by line until a line satisfies `stop` or the
/// stream ends (the process exited), then stops the process; returns the lines read and the
/// exit status.
fn start_up_log(
    mut child: std::process::Child,
    stop: impl Fn(&str) -> bool,
) -> (String, std::process::ExitStatus) {
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = stop(&line);
        seen.push(line);
        if done {
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().unwrap();
    (seen.join("\n"), status)
}

#[test]
fn a_public_server_refuses_to_start_without_twilio_and_names_the_missing_settings() {
    let dir = TempDir::new();
    let child = latchkey(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LATCHKEY_PUBLIC_URL", "https://login.example.com")
        .env("LATCHKEY_SMTP_URL", "smtp://127.0.0.1:2525")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts says so; one that refuses ends its standard error by exiting.
    let (log, status) = start_up_log(child, |line| line.contains("latchkey listening"));
    assert!(!status.success(), "{log}");
    assert!(!log.contains("latchkey listening"), "{log}");
    for setting in [
        "LATCHKEY_TWILIO_ACCOUNT_SID",
        "LATCHKEY_TWILIO_AUTH_TOKEN",
        "LATCHKEY_TWILIO_FROM",
    ] {
        assert!(log.contains(setting), "{setting} not named:\n{log}");
    }
    assert!(
        log.contains("https://login.example.com is https://") && log.contains("/dev/phone"),
        "the message says why:\n{log}"
    );
    assert!(
        !log.contains("LATCHKEY_SMTP_URL"),
        "SMTP is configured:\n{log}"
    );
}

#[test]
fn dev_providers_on_a_public_server_warn_in_the_log_and_on_every_page() {
    let dir = TempDir::new();
    let mut child = latchkey(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LATCHKEY_PUBLIC_URL", "https://login.example.com")
        .env("LATCHKEY_DEV_PROVIDERS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep the server running while its page is fetched: read up to the last start-up line
    // by hand, then fetch, then stop it.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("voice:");
        seen.push(line);
        if done {
            break;
        }
    }
    let log = seen.join("\n");
    let port = log
        .split("latchkey listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no listening line:\n{log}"))
        .to_owned();
    let page = http_get(&format!("127.0.0.1:{port}"), "/signin", "login.example.com");
    let _ = child.kill();
    let _ = child.wait();
    let warning = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains("LATCHKEY_DEV_PROVIDERS"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(
        warning.contains("anyone") && warning.contains("https://login.example.com is https://"),
        "{warning}"
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("not a local-only deployment")
            && page.contains("anyone who can reach this server can read"),
        "{page}"
    );
}

/// One HTTP/1.1 GET over a plain socket, read to the end (`Connection: close`).
fn http_get(addr: &str, path: &str, host: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_answers_health_probes_and_stops_cleanly_on_sigterm() {
    let dir = TempDir::new();
    let mut child = latchkey(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("security keys:");
        seen.push(line);
        if done {
            break;
        }
    }
    let log = seen.join("\n");
    let port = log
        .split("latchkey listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no listening line:\n{log}"))
        .to_owned();
    let addr = format!("127.0.0.1:{port}");
    for probe in ["/healthz", "/livez"] {
        let answer = http_get(&addr, probe, &format!("localhost:{port}"));
        assert!(answer.starts_with("HTTP/1.1 200"), "{probe}: {answer}");
        assert!(answer.ends_with("ok\n"), "{probe}: {answer}");
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The rest of the log, up to the process closing its standard error as it exits.
    let rest: Vec<String> = lines.map(|line| line.unwrap()).collect();
    let exit = child.wait().unwrap();
    let rest = rest.join("\n");
    assert!(exit.success(), "{exit:?}\n{rest}");
    assert!(
        rest.contains("shutting down") && rest.contains("latchkey stopped"),
        "{rest}"
    );
}
