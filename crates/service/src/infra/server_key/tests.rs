use super::*;

#[test]
fn sealed_data_opens_only_with_the_same_key_and_context() {
    let key = ServerKey::generate();
    let sealer = key.sealer("outbox");
    let sealed = sealer.seal(b"hello", b"row-1");
    assert_eq!(sealer.open(&sealed, b"row-1").unwrap(), b"hello");
    assert!(sealer.open(&sealed, b"row-2").is_err());
    assert!(key.sealer("other").open(&sealed, b"row-1").is_err());
    assert!(
        ServerKey::generate()
            .sealer("outbox")
            .open(&sealed, b"row-1")
            .is_err()
    );
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(sealer.open(&tampered, b"row-1").is_err());
}

#[test]
fn signatures_verify_only_for_their_message_and_key() {
    let key = ServerKey::generate();
    let signer = key.signer("csrf");
    let tag = signer.sign(b"binding");
    assert!(signer.verify(b"binding", &tag));
    assert!(!signer.verify(b"other", &tag));
    assert!(!key.signer("other").verify(b"binding", &tag));
    assert!(!signer.verify(b"binding", ""));
}

#[test]
fn the_key_file_holds_one_or_more_keys_the_current_first() {
    let old = ServerKey::from_bytes([1; 32]);
    let rotated = old.rotated();
    assert_eq!(rotated.ids().len(), 2);
    assert_eq!(
        rotated.ids()[1],
        old.current_id(),
        "the old key stays, second"
    );
    assert_ne!(rotated.current_id(), old.current_id());
    let text = rotated.to_file_text();
    let read = ServerKey::from_hex(&format!("# keys\n\n{text}\n")).unwrap();
    assert_eq!(read.ids(), rotated.ids());
    assert_eq!(read.fingerprint(), rotated.fingerprint());
    // A file of one key, as every version wrote it, reads as before.
    let single = ServerKey::from_hex(&format!("  {}  \n", old.to_hex())).unwrap();
    assert_eq!(single.ids(), vec![old.current_id()]);
    for bad in [
        String::new(),
        "# only a comment\n".to_owned(),
        "abc".to_owned(),
        format!("{}\n{}\n", old.to_hex(), old.to_hex()),
        format!("{}x\n", old.to_hex()),
        // Only retired keys: nothing to seal with.
        format!("retired {}\n", old.to_hex()),
        format!("{}\nretired {}\n", old.to_hex(), old.to_hex()),
    ] {
        assert!(ServerKey::from_hex(&bad).is_none(), "{bad:?}");
    }
}

#[test]
fn after_a_rotation_what_the_old_key_sealed_still_opens_and_new_seals_name_the_new_key() {
    let old = ServerKey::from_bytes([2; 32]);
    let before = old.sealer("mfa-secret").seal(b"seed", b"device:1");
    let rotated = old.rotated();
    let sealer = rotated.sealer("mfa-secret");
    assert_eq!(sealer.open(&before, b"device:1").unwrap(), b"seed");
    assert_eq!(sealer.sealed_by(&before), Some(old.current_id()));
    assert!(!sealer.is_current(&before));
    let after = sealer.seal(b"seed", b"device:1");
    assert_eq!(sealer.sealed_by(&after), Some(rotated.current_id()));
    assert!(sealer.is_current(&after));
    // An instance still holding only the old key cannot open what the new one sealed.
    assert!(old.sealer("mfa-secret").open(&after, b"device:1").is_err());
    // Once the old key is retired, what it sealed no longer opens.
    let retired = rotated.without(old.current_id()).unwrap();
    assert!(
        retired
            .sealer("mfa-secret")
            .open(&before, b"device:1")
            .is_err()
    );
    assert!(
        retired
            .sealer("mfa-secret")
            .open(&after, b"device:1")
            .is_ok()
    );
    // The audit records chained under it still verify, and the file says it is retired.
    assert_eq!(retired.ids(), vec![rotated.current_id()]);
    assert_eq!(retired.retired_ids(), vec![old.current_id()]);
    assert_eq!(retired.audit_chain_keys().len(), 2);
    let text = retired.to_file_text();
    assert!(
        text.contains(&format!("retired {}", old.to_hex())),
        "{text}"
    );
    let read = ServerKey::from_hex(&text).unwrap();
    assert_eq!(read.ids(), retired.ids());
    assert_eq!(read.retired_ids(), retired.retired_ids());
    assert!(
        read.sealer("mfa-secret")
            .open(&before, b"device:1")
            .is_err()
    );
}

#[test]
fn values_sealed_before_key_ids_open_with_any_key_of_the_file() {
    let old = ServerKey::from_bytes([3; 32]);
    let with_header = old.sealer("outbox").seal(b"mail", b"email\0a@example.com");
    // The format every earlier version wrote: nonce and ciphertext, no header.
    let legacy = with_header[HEADER_LEN..].to_vec();
    let rotated = old.rotated();
    let sealer = rotated.sealer("outbox");
    assert_eq!(sealer.sealed_by(&legacy), None);
    assert!(!sealer.is_current(&legacy));
    assert_eq!(
        sealer.open(&legacy, b"email\0a@example.com").unwrap(),
        b"mail"
    );
    assert!(sealer.open(&legacy, b"email\0b@example.com").is_err());
}

#[test]
fn a_header_naming_a_key_does_not_let_another_key_open_it() {
    let a = ServerKey::from_bytes([4; 32]);
    let both = a.rotated();
    let sealed = both.sealer("outbox").seal(b"x", b"c");
    // Relabel the value as sealed by the older key: its tag does not match under that key,
    // and a named key is the only one tried.
    let mut relabelled = sealed.clone();
    relabelled[2..HEADER_LEN].copy_from_slice(a.current_id().as_bytes());
    assert!(both.sealer("outbox").open(&relabelled, b"c").is_err());
}

#[test]
fn tags_made_with_an_older_key_still_verify_new_ones_use_the_current_key() {
    let old = ServerKey::from_bytes([5; 32]);
    let tag = old.signer("known-device").sign(b"device");
    let rotated = old.rotated();
    let signer = rotated.signer("known-device");
    assert!(signer.verify(b"device", &tag));
    assert_ne!(signer.sign(b"device"), tag);
    assert_eq!(
        signer.tags(b"device"),
        vec![signer.sign(b"device"), tag.clone()]
    );
    let retired = rotated.without(old.current_id()).unwrap();
    assert!(!retired.signer("known-device").verify(b"device", &tag));
}

#[test]
fn the_current_key_cannot_be_retired() {
    let rotated = ServerKey::generate().rotated();
    assert!(rotated.without(rotated.current_id()).is_none());
    assert!(rotated.without(KeyId([9; 8])).is_none());
}

#[test]
fn key_ids_are_sixteen_hex_characters_and_parse_back() {
    let key = ServerKey::generate();
    let id = key.current_id();
    assert_eq!(id.to_hex().len(), 16);
    assert_eq!(KeyId::parse(&id.to_hex()), Some(id));
    assert_eq!(KeyId::parse("xyz"), None);
    assert!(key.fingerprint().starts_with(&id.to_hex()));
}
