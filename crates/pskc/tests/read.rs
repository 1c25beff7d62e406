//! The PSKC reader against files written by python-pskc (an independent implementation),
//! an RFC 6030-shaped document, and hostile input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "a test crate: a panic is a failed test, and its helpers are shared between its modules"
)]

use latchkey_pskc::{FileError, PackageError, read};

const KEY: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
];

#[test]
fn reads_a_file_encrypted_with_a_pre_shared_key() {
    let file = include_bytes!("data/encrypted-aes128.pskc");
    let packages = read(file, Some(&KEY)).unwrap();
    assert_eq!(packages.len(), 1);
    let token = packages[0].result.clone().unwrap();
    assert_eq!(token.serial, "SN-0001");
    assert_eq!(token.manufacturer.as_deref(), Some("Acme Tokens"));
    assert_eq!(
        (token.hash.as_str(), token.digits, token.period),
        ("SHA1", 6, 30)
    );
    assert_eq!(token.secret, b"12345678901234567890");
    assert!(
        !format!("{token:?}").contains("1234567890"),
        "secrets never print"
    );
}

#[test]
fn an_encrypted_file_needs_the_right_key() {
    let file = include_bytes!("data/encrypted-aes128.pskc");
    assert_eq!(read(file, None), Err(FileError::KeyNeeded));
    let mut wrong = KEY;
    wrong[0] ^= 1;
    match read(file, Some(&wrong)) {
        Err(FileError::MacKey(_)) => {}
        Ok(packages) => assert!(
            packages[0].result.is_err(),
            "a wrong key must not yield a secret"
        ),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn a_tampered_secret_fails_its_mac() {
    let text = String::from_utf8(include_bytes!("data/encrypted-aes128.pskc").to_vec()).unwrap();
    let start = text.find("<pskc:ValueMAC>").unwrap() + "<pskc:ValueMAC>".len();
    let mut tampered = text.clone();
    tampered.replace_range(start..start + 4, "AAAA");
    let packages = read(tampered.as_bytes(), Some(&KEY)).unwrap();
    assert_eq!(packages[0].result, Err(PackageError::Mac));
}

#[test]
fn reads_a_plain_sha256_eight_digit_token() {
    let packages = read(include_bytes!("data/plain-sha256.pskc"), None).unwrap();
    let token = packages[0].result.clone().unwrap();
    assert_eq!(
        (
            token.serial.as_str(),
            token.hash.as_str(),
            token.digits,
            token.period
        ),
        ("SN-0002", "SHA256", 8, 30)
    );
    assert_eq!(token.secret, b"12345678901234567890123456789012");
}

const RFC_SHAPED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo><Manufacturer>Manufacturer</Manufacturer><SerialNo>987654321</SerialNo></DeviceInfo>
    <Key Id="12345678" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <Issuer>Issuer</Issuer>
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <TimeInterval><PlainValue>60</PlainValue></TimeInterval>
      </Data>
    </Key>
  </KeyPackage>
  <KeyPackage>
    <DeviceInfo><SerialNo>HOTP-1</SerialNo></DeviceInfo>
    <Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
      <Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data>
    </Key>
  </KeyPackage>
  <KeyPackage>
    <DeviceInfo><SerialNo>SHORT-1</SerialNo></DeviceInfo>
    <Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <Data><Secret><PlainValue>MTIzNDU2Nzg=</PlainValue></Secret></Data>
    </Key>
  </KeyPackage>
  <KeyPackage>
    <Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data>
    </Key>
  </KeyPackage>
</KeyContainer>"#;

#[test]
fn each_key_package_is_judged_on_its_own() {
    let packages = read(RFC_SHAPED.as_bytes(), None).unwrap();
    assert_eq!(packages.len(), 4);
    let first = packages[0].result.clone().unwrap();
    assert_eq!(
        (first.serial.as_str(), first.digits, first.period),
        ("987654321", 8, 60)
    );
    assert_eq!(first.secret, b"12345678901234567890");
    assert!(matches!(
        packages[1].result,
        Err(PackageError::Algorithm(_))
    ));
    assert_eq!(packages[1].serial.as_deref(), Some("HOTP-1"));
    assert_eq!(packages[2].result, Err(PackageError::ShortSecret(64)));
    assert_eq!(packages[3].result, Err(PackageError::NoSerial));
    assert_eq!(packages[3].index, 4);
}

#[test]
fn hostile_xml_is_refused() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<KeyContainer><KeyPackage><DeviceInfo><SerialNo>&lol2;</SerialNo></DeviceInfo></KeyPackage></KeyContainer>"#;
    assert_eq!(
        read(billion_laughs.as_bytes(), None),
        Err(FileError::DocType)
    );
    let undeclared = "<KeyContainer><KeyPackage><DeviceInfo><SerialNo>&xxe;</SerialNo></DeviceInfo></KeyPackage></KeyContainer>";
    assert_eq!(
        read(undeclared.as_bytes(), None),
        Err(FileError::Entity("xxe".to_owned()))
    );
    let deep = format!(
        "<KeyContainer>{}{}</KeyContainer>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    assert_eq!(read(deep.as_bytes(), None), Err(FileError::TooDeep));
    let huge = vec![b' '; latchkey_pskc::MAX_BYTES + 1];
    assert_eq!(read(&huge, None), Err(FileError::TooLarge));
    assert!(matches!(
        read(b"<KeyContainer><KeyPackage>", None),
        Err(FileError::Xml(_))
    ));
    assert!(matches!(
        read(b"<Other/>", None),
        Err(FileError::NotPskc(_))
    ));
    assert_eq!(read(b"<KeyContainer/>", None), Err(FileError::Empty));
    assert!(matches!(read(b"\xff\xfe", None), Err(FileError::Xml(_))));
}

#[test]
fn escaped_characters_in_values_are_resolved() {
    let doc = r#"<KeyContainer><KeyPackage><DeviceInfo><SerialNo>A&amp;B&#x31;</SerialNo></DeviceInfo>
      <Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"><Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data></Key>
      </KeyPackage></KeyContainer>"#;
    assert_eq!(
        read(doc.as_bytes(), None).unwrap()[0]
            .result
            .clone()
            .unwrap()
            .serial,
        "A&B1"
    );
}
