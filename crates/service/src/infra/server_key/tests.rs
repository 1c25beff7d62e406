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
    let rotated = old.staged().unwrap().promoted().unwrap();
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
        format!("retired {} 3\n", old.to_hex()),
        format!("{}\nretired {} 3\n", old.to_hex(), old.to_hex()),
        format!(
            "{}\nretired {}\n",
            old.to_hex(),
            ServerKey::generate().to_hex()
        ),
        format!(
            "{}\nnext {}\nnext {}\n",
            old.to_hex(),
            ServerKey::generate().to_hex(),
            ServerKey::generate().to_hex()
        ),
    ] {
        assert!(ServerKey::from_hex(&bad).is_none(), "{bad:?}");
    }
}

#[test]
fn after_a_rotation_what_the_old_key_sealed_still_opens_and_new_seals_name_the_new_key() {
    let old = ServerKey::from_bytes([2; 32]);
    let before = old.sealer("mfa-secret").seal(b"seed", b"device:1");
    let rotated = old.staged().unwrap().promoted().unwrap();
    let sealer = rotated.sealer("mfa-secret");
    assert_eq!(sealer.open(&before, b"device:1").unwrap(), b"seed");
    // Sealed with one key, it has no header; the key that opens it is still found.
    assert_eq!(sealer.sealed_by(&before), None);
    assert_eq!(
        sealer.opened_by(&before, b"device:1"),
        Some(old.current_id())
    );
    assert!(!sealer.is_current(&before));
    let after = sealer.seal(b"seed", b"device:1");
    assert_eq!(sealer.sealed_by(&after), Some(rotated.current_id()));
    assert!(sealer.is_current(&after));
    // An instance still holding only the old key cannot open what the new one sealed.
    assert!(old.sealer("mfa-secret").open(&after, b"device:1").is_err());
    // Once the old key is retired, what it sealed no longer opens.
    let retired = rotated.without(old.current_id(), 10).unwrap();
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
    // The format every earlier version wrote, and a file of one key writes: nonce and
    // ciphertext, no header.
    let legacy = old.sealer("outbox").seal(b"mail", b"email\0a@example.com");
    let rotated = old.staged().unwrap().promoted().unwrap();
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
    let both = a.staged().unwrap().promoted().unwrap();
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
    let rotated = old.staged().unwrap().promoted().unwrap();
    let signer = rotated.signer("known-device");
    assert!(signer.verify(b"device", &tag));
    assert_ne!(signer.sign(b"device"), tag);
    assert_eq!(
        signer.tags(b"device"),
        vec![signer.sign(b"device"), tag.clone()]
    );
    let retired = rotated.without(old.current_id(), 10).unwrap();
    assert!(!retired.signer("known-device").verify(b"device", &tag));
}

#[test]
fn the_current_key_cannot_be_retired() {
    let rotated = ServerKey::generate().staged().unwrap().promoted().unwrap();
    assert!(rotated.without(rotated.current_id(), 10).is_none());
    assert!(rotated.without(KeyId([9; 8]), 10).is_none());
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

#[test]
fn a_staged_key_opens_and_verifies_but_seals_nothing_until_it_is_made_current() {
    let old = ServerKey::from_bytes([6; 32]);
    let staged = old.staged().unwrap();
    assert!(staged.staged().is_none(), "one staged key at a time");
    let next = staged.next_id().unwrap();
    assert_eq!(staged.current_id(), old.current_id());
    assert_eq!(staged.ids(), vec![old.current_id(), next]);
    // Still sealing under the old key, now naming it; the old file alone opens that.
    let sealed = staged.sealer("outbox").seal(b"m", b"c");
    assert_eq!(
        staged.sealer("outbox").sealed_by(&sealed),
        Some(old.current_id())
    );
    assert!(old.sealer("outbox").open(&sealed, b"c").is_ok());
    // The file round-trips, the staged key marked.
    let text = staged.to_file_text();
    assert!(text.contains("next "), "{text}");
    let read = ServerKey::from_hex(&text).unwrap();
    assert_eq!(read.next_id(), Some(next));
    // Made current, it seals; an instance that held the staged file opens that.
    let promoted = staged.promoted().unwrap();
    assert_eq!(promoted.current_id(), next);
    assert_eq!(promoted.next_id(), None);
    let after = promoted.sealer("outbox").seal(b"m", b"c");
    assert_eq!(staged.sealer("outbox").open(&after, b"c").unwrap(), b"m");
    assert!(old.sealer("outbox").open(&after, b"c").is_err());
    let tag = promoted.signer("csrf").sign(b"x");
    assert!(staged.signer("csrf").verify(b"x", &tag));
    assert!(
        staged.without(next, 1).is_none(),
        "a staged key cannot be retired"
    );
}

#[test]
fn with_one_key_values_are_sealed_as_before_key_ids() {
    let single = ServerKey::from_bytes([7; 32]);
    let sealed = single.sealer("outbox").seal(b"m", b"c");
    assert_eq!(single.sealer("outbox").sealed_by(&sealed), None);
    assert!(single.sealer("outbox").is_current(&sealed));
    assert_eq!(single.to_file_text(), format!("{}\n", single.to_hex()));
    // Once there are two keys, it is not current: re-sealing gives it a header.
    let staged = single.staged().unwrap();
    assert!(!staged.sealer("outbox").is_current(&sealed));
    assert_eq!(
        staged.sealer("outbox").opened_by(&sealed, b"c"),
        Some(single.current_id())
    );
}

#[test]
fn a_value_naming_a_key_this_file_lacks_is_told_apart_from_a_damaged_one() {
    let old = ServerKey::from_bytes([8; 32]);
    let newer = old.staged().unwrap().promoted().unwrap();
    let sealed = newer.sealer("outbox").seal(b"m", b"c");
    assert!(old.sealer("outbox").names_unknown_key(&sealed));
    assert!(!newer.sealer("outbox").names_unknown_key(&sealed));
    let damaged = old.sealer("outbox").seal(b"m", b"c");
    assert!(!old.sealer("outbox").names_unknown_key(&damaged));
}
