use super::*;

const NOW: Timestamp = Timestamp(1_000_000);

fn session(kind: SessionKind, acr: Acr, age: i64) -> Option<SessionFacts> {
    Some(SessionFacts {
        kind,
        acr,
        authenticated_at: Timestamp(NOW.0 - age),
    })
}

fn facts() -> AuthorizeFacts {
    AuthorizeFacts {
        prompt: Prompt::default(),
        max_age: None,
        signed_in_after: None,
        acr_values: Vec::new(),
        session: session(SessionKind::Full, Acr::Mfa, 60),
        client_allows_recovery: false,
        client_first_party: false,
        consented: true,
        now: NOW,
    }
}

#[test]
fn authorization_requests_are_decided_by_session_prompt_class_and_consent() {
    use AuthorizeDecision::*;
    use AuthorizeRefusal::*;
    let none = Prompt::parse("none").unwrap();
    let login = Prompt::parse("login").unwrap();
    let consent = Prompt::parse("consent").unwrap();
    let recovery = session(SessionKind::AlternativeFactors, Acr::AlternativeFactors, 60);
    let cases: Vec<(&str, AuthorizeFacts, AuthorizeDecision)> = vec![
        ("signed in, consented", facts(), IssueCode),
        (
            "no session",
            AuthorizeFacts {
                session: None,
                ..facts()
            },
            SignIn { fresh_after: None },
        ),
        (
            "no session, prompt=none",
            AuthorizeFacts {
                session: None,
                prompt: none,
                ..facts()
            },
            Refuse(LoginRequired),
        ),
        (
            "prompt=login",
            AuthorizeFacts {
                prompt: login,
                ..facts()
            },
            SignIn {
                fresh_after: Some(NOW),
            },
        ),
        (
            "prompt=login, signed in since it asked",
            AuthorizeFacts {
                prompt: login,
                signed_in_after: Some(Timestamp(NOW.0 - 60)),
                ..facts()
            },
            IssueCode,
        ),
        (
            "prompt=login, the session is older than the ask",
            AuthorizeFacts {
                prompt: login,
                signed_in_after: Some(Timestamp(NOW.0 - 59)),
                ..facts()
            },
            SignIn {
                fresh_after: Some(NOW),
            },
        ),
        (
            "max_age kept",
            AuthorizeFacts {
                max_age: Some(60),
                ..facts()
            },
            IssueCode,
        ),
        (
            "max_age passed",
            AuthorizeFacts {
                max_age: Some(59),
                ..facts()
            },
            SignIn {
                fresh_after: Some(NOW),
            },
        ),
        (
            "max_age=0 after a fresh sign-in",
            AuthorizeFacts {
                max_age: Some(0),
                signed_in_after: Some(Timestamp(NOW.0 - 60)),
                ..facts()
            },
            IssueCode,
        ),
        (
            "max_age passed, prompt=none",
            AuthorizeFacts {
                max_age: Some(10),
                prompt: none,
                ..facts()
            },
            Refuse(LoginRequired),
        ),
        (
            "recovery session, client does not allow it",
            AuthorizeFacts {
                session: recovery,
                ..facts()
            },
            Refuse(RecoverySession),
        ),
        (
            "recovery session, client allows it",
            AuthorizeFacts {
                session: recovery,
                client_allows_recovery: true,
                ..facts()
            },
            IssueCode,
        ),
        (
            "recovery session, client allows it but asks for MFA",
            AuthorizeFacts {
                session: recovery,
                client_allows_recovery: true,
                acr_values: vec![Acr::Mfa],
                ..facts()
            },
            Refuse(UnmetAuthenticationRequirements),
        ),
        (
            "MFA asked for and had",
            AuthorizeFacts {
                acr_values: vec![Acr::Mfa],
                ..facts()
            },
            IssueCode,
        ),
        (
            "MFA asked for, password only",
            AuthorizeFacts {
                acr_values: vec![Acr::Mfa],
                session: session(SessionKind::Full, Acr::Password, 60),
                ..facts()
            },
            Refuse(UnmetAuthenticationRequirements),
        ),
        (
            "either class will do",
            AuthorizeFacts {
                acr_values: vec![Acr::Mfa, Acr::Password],
                session: session(SessionKind::Full, Acr::Password, 60),
                ..facts()
            },
            IssueCode,
        ),
        (
            "no consent yet",
            AuthorizeFacts {
                consented: false,
                ..facts()
            },
            AskConsent,
        ),
        (
            "no consent, prompt=none",
            AuthorizeFacts {
                consented: false,
                prompt: none,
                ..facts()
            },
            Refuse(ConsentRequired),
        ),
        (
            "prompt=consent asks again",
            AuthorizeFacts {
                prompt: consent,
                ..facts()
            },
            AskConsent,
        ),
        (
            "first party: never asked",
            AuthorizeFacts {
                consented: false,
                client_first_party: true,
                ..facts()
            },
            IssueCode,
        ),
    ];
    for (name, facts, expected) in cases {
        assert_eq!(decide_authorize(&facts), expected, "{name}");
    }
}

#[test]
fn prompt_values_parse_and_none_stands_alone() {
    assert_eq!(Prompt::parse(""), Some(Prompt::default()));
    assert_eq!(
        Prompt::parse("login consent"),
        Some(Prompt {
            none: false,
            login: true,
            consent: true
        })
    );
    assert_eq!(Prompt::parse("none login"), None);
    assert_eq!(Prompt::parse("sideways"), None);
}

#[test]
fn scopes_need_openid_and_keep_only_what_latchkey_knows() {
    assert_eq!(
        granted_scope("email openid"),
        Some("openid email".to_owned())
    );
    assert_eq!(
        granted_scope("openid profile offline_access payments"),
        Some("openid profile offline_access".to_owned())
    );
    assert_eq!(granted_scope("email profile"), None);
    assert_eq!(granted_scope(""), None);
    assert!(has_scope("openid email", "email"));
    assert!(!has_scope("openid emails", "email"));
}

#[test]
fn redirect_uris_are_https_or_loopback_http_without_fragments_or_credentials() {
    use RedirectUriProblem::*;
    let cases: &[(&str, Result<(), RedirectUriProblem>)] = &[
        ("https://app.example.com/callback", Ok(())),
        ("https://app.example.com:8443/cb?x=1", Ok(())),
        ("http://localhost:3000/cb", Ok(())),
        ("http://127.0.0.1:3000/cb", Ok(())),
        ("http://[::1]:3000/cb", Ok(())),
        ("http://app.example.com/cb", Err(Insecure)),
        ("http://localhost.evil.example/cb", Err(Insecure)),
        ("https://app.example.com/cb#frag", Err(Fragment)),
        ("https://user@app.example.com/cb", Err(Credentials)),
        ("javascript:alert(1)", Err(NotAbsolute)),
        ("/callback", Err(NotAbsolute)),
        ("ftp://app.example.com/cb", Err(NotAbsolute)),
        ("https:///cb", Err(NotAbsolute)),
        ("https://app.example.com/c b", Err(NotAbsolute)),
    ];
    for (uri, expected) in cases {
        assert_eq!(check_redirect_uri(uri), *expected, "{uri}");
    }
    assert_eq!(
        check_redirect_uri(&format!("https://a.example/{}", "x".repeat(600))),
        Err(TooLong)
    );
}

#[test]
fn pkce_values_have_the_lengths_and_alphabets_of_rfc_7636() {
    assert!(is_s256_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    assert!(!is_s256_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
    ));
    assert!(!is_s256_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
    ));
    assert!(is_code_verifier(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    ));
    assert!(!is_code_verifier("short"));
    assert!(!is_code_verifier(&"a".repeat(129)));
    assert!(!is_code_verifier(&format!("{}!", "a".repeat(50))));
}
