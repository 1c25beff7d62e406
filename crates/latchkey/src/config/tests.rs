//! The configuration's parsing, precedence, validation and key file.

use super::*;

#[test]
fn defaults_serve_on_loopback_8080_with_sqlite_and_the_built_in_mailbox() {
    let config = Config::merge(&ConfigArgs::default(), FileConfig::default()).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.public_url_for(config.listen).as_str(),
        "http://localhost:8080/"
    );
    let everywhere: SocketAddr = "0.0.0.0:9000".parse().unwrap();
    assert_eq!(
        config.public_url_for(everywhere).as_str(),
        "http://localhost:9000/"
    );
    let lan: SocketAddr = "192.0.2.7:9000".parse().unwrap();
    assert_eq!(
        config.public_url_for(lan).as_str(),
        "http://192.0.2.7:9000/"
    );
    assert_eq!(config.data_dir, PathBuf::from("latchkey-data"));
    assert!(config.database_url.is_none() && config.smtp_url.is_none() && config.twilio.is_none());
    assert_eq!(
        config.secret_key_file,
        PathBuf::from("latchkey-data/secret.key")
    );
    assert!(
        config.trusted_proxies.is_empty(),
        "forwarding headers are never believed by default"
    );
}

#[test]
fn calls_go_to_the_twilio_numbers_country_unless_told_otherwise() {
    let twilio = |from: &str| ConfigArgs {
        twilio_account_sid: Some(format!("AC{}", "0".repeat(32))),
        twilio_auth_token: Some("token".into()),
        twilio_from: Some(from.into()),
        ..Default::default()
    };
    let regions = |args: ConfigArgs| {
        Config::merge(&args, FileConfig::default())
            .unwrap()
            .call_regions
    };
    assert_eq!(
        regions(ConfigArgs::default()),
        None,
        "the built-in phone costs nothing"
    );
    assert_eq!(
        regions(twilio("+442079460958")),
        Some(vec!["GB".to_owned()])
    );
    let both = ConfigArgs {
        call_countries: Some("gb, us".into()),
        ..twilio("+442079460958")
    };
    assert_eq!(regions(both), Some(vec!["GB".to_owned(), "US".to_owned()]));
    let any = ConfigArgs {
        call_countries: Some("*".into()),
        ..twilio("+442079460958")
    };
    assert_eq!(regions(any), None);
    // A Twilio number of no country does not quietly allow every country.
    let message = Config::merge(&twilio("+80012345678"), FileConfig::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("LATCHKEY_CALL_COUNTRIES"), "{message}");
    let told = ConfigArgs {
        call_countries: Some("IE".into()),
        ..twilio("+80012345678")
    };
    assert_eq!(regions(told), Some(vec!["IE".to_owned()]));
    let bad = ConfigArgs {
        call_countries: Some("Britain".into()),
        ..Default::default()
    };
    let message = Config::merge(&bad, FileConfig::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("LATCHKEY_CALL_COUNTRIES"), "{message}");
}

#[test]
fn the_contact_cooling_off_is_whole_hours_from_1_to_720_and_24_by_default() {
    let hours = |text: Option<&str>, file: &str| {
        let args = ConfigArgs {
            contact_cooling_off_hours: text.map(str::to_owned),
            ..Default::default()
        };
        Config::merge(&args, parse_file(file).unwrap()).map(|c| c.contact_cooling_off)
    };
    assert_eq!(
        hours(None, "").unwrap(),
        latchkey_domain::Duration::hours(24)
    );
    assert_eq!(
        hours(Some("48"), "contact_cooling_off_hours = 2").unwrap(),
        latchkey_domain::Duration::hours(48)
    );
    assert_eq!(
        hours(None, "contact_cooling_off_hours = 2").unwrap(),
        latchkey_domain::Duration::hours(2)
    );
    for bad in ["0", "721", "-1", "a day"] {
        let message = hours(Some(bad), "").unwrap_err().to_string();
        assert!(
            message.contains("LATCHKEY_CONTACT_COOLING_OFF_HOURS"),
            "{bad}: {message}"
        );
    }
    let message = hours(None, "contact_cooling_off_hours = 0")
        .unwrap_err()
        .to_string();
    assert!(message.contains("contact_cooling_off_hours"), "{message}");
}

#[test]
fn flags_and_env_win_over_the_file() {
    let file =
        parse_file("listen = \"127.0.0.1:9000\"\nmail_from = \"ops@example.com\"\n").unwrap();
    let args = ConfigArgs {
        listen: Some("127.0.0.1:9100".into()),
        ..Default::default()
    };
    let config = Config::merge(&args, file).unwrap();
    assert_eq!(config.listen.port(), 9100);
    assert_eq!(config.mail_from, "ops@example.com");

    let file = || parse_file("dev_providers = true\n").unwrap();
    assert!(
        Config::merge(&ConfigArgs::default(), file())
            .unwrap()
            .allow_dev_providers
    );
    let args = ConfigArgs {
        dev_providers: Some(false),
        ..Default::default()
    };
    assert!(!Config::merge(&args, file()).unwrap().allow_dev_providers);
    assert!(
        !Config::merge(&ConfigArgs::default(), FileConfig::default())
            .unwrap()
            .allow_dev_providers,
        "never by default"
    );
}

#[test]
fn the_example_file_lists_every_key_and_parses() {
    let text = include_str!("../../../../docs/config.example.toml");
    let uncommented: String = text
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .filter(|l| l.contains(" = "))
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = parse_file(&uncommented).unwrap();
    // Every field by name, without `..`: a new setting does not compile here until the
    // example file shows it (and `deny_unknown_fields` refuses a key that is not a field).
    let FileConfig {
        listen,
        public_url,
        data_dir,
        database_url,
        smtp_url,
        mail_from,
        twilio_account_sid,
        twilio_auth_token,
        twilio_from,
        twilio_api_base,
        secret_key_file,
        trusted_proxies,
        call_countries,
        contact_cooling_off_hours,
        cookie_domain,
        dev_providers,
    } = &file;
    let missing: Vec<&str> = [
        ("listen", listen.is_none()),
        ("public_url", public_url.is_none()),
        ("data_dir", data_dir.is_none()),
        ("database_url", database_url.is_none()),
        ("smtp_url", smtp_url.is_none()),
        ("mail_from", mail_from.is_none()),
        ("twilio_account_sid", twilio_account_sid.is_none()),
        ("twilio_auth_token", twilio_auth_token.is_none()),
        ("twilio_from", twilio_from.is_none()),
        ("twilio_api_base", twilio_api_base.is_none()),
        ("secret_key_file", secret_key_file.is_none()),
        ("trusted_proxies", trusted_proxies.is_none()),
        ("call_countries", call_countries.is_none()),
        (
            "contact_cooling_off_hours",
            contact_cooling_off_hours.is_none(),
        ),
        ("cookie_domain", cookie_domain.is_none()),
        ("dev_providers", dev_providers.is_none()),
    ]
    .into_iter()
    .filter_map(|(key, absent)| absent.then_some(key))
    .collect();
    assert!(
        missing.is_empty(),
        "docs/config.example.toml lacks {missing:?}"
    );
    let config = Config::merge(&ConfigArgs::default(), file).unwrap();
    assert!(!config.trusted_proxies.is_empty());
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_the_setting_named() {
    assert!(
        parse_file("lisen = \"x\"")
            .unwrap_err()
            .to_string()
            .contains("lisen")
    );
    let bad = |args: ConfigArgs| {
        Config::merge(&args, FileConfig::default())
            .unwrap_err()
            .to_string()
    };
    assert!(
        bad(ConfigArgs {
            listen: Some("8080".into()),
            ..Default::default()
        })
        .contains("LATCHKEY_LISTEN")
    );
    assert!(
        bad(ConfigArgs {
            public_url: Some("ftp://x".into()),
            ..Default::default()
        })
        .contains("LATCHKEY_PUBLIC_URL")
    );
    assert!(
        bad(ConfigArgs {
            public_url: Some("https://x.example/login".into()),
            ..Default::default()
        })
        .contains("sub-path")
    );
    assert!(
        bad(ConfigArgs {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        })
        .contains("LATCHKEY_DATABASE_URL")
    );
    assert!(
        bad(ConfigArgs {
            smtp_url: Some("http://mail".into()),
            ..Default::default()
        })
        .contains("LATCHKEY_SMTP_URL")
    );
    assert!(
        bad(ConfigArgs {
            twilio_account_sid: Some("AC".into()),
            ..Default::default()
        })
        .contains("half configured")
    );
    let bad_proxies = bad(ConfigArgs {
        trusted_proxies: Some("127.0.0.1,10.0.0.0/33".into()),
        ..Default::default()
    });
    assert!(
        bad_proxies.contains("LATCHKEY_TRUSTED_PROXIES") && bad_proxies.contains("10.0.0.0/33"),
        "{bad_proxies}"
    );
}

#[test]
fn passwords_in_urls_never_reach_messages() {
    let args = ConfigArgs {
        database_url: Some("mysql://u:hunter2@db/x".into()),
        ..Default::default()
    };
    let message = Config::merge(&args, FileConfig::default())
        .unwrap_err()
        .to_string();
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn the_key_file_is_created_private_and_read_back() {
    let dir = std::env::temp_dir().join(format!("latchkey-key-{}", std::process::id()));
    let path = dir.join("secret.key");
    let _ = std::fs::remove_dir_all(&dir);
    let (key, created) = load_or_create_key(&path).unwrap();
    assert!(created);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (again, created) = load_or_create_key(&path).unwrap();
    assert!(!created);
    assert_eq!(key.to_bytes(), again.to_bytes());
    std::fs::write(&path, "short").unwrap();
    assert!(load_or_create_key(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
