//! A strict reader of RFC 6030 PSKC files, the format in which token vendors ship the seeds
//! of hardware OATH tokens.
//!
//! Supported: `KeyContainer` with `KeyPackage`s holding TOTP keys
//! (`urn:ietf:params:xml:ns:keyprov:pskc:totp`, also the older `…pskc#totp`), secrets either
//! as `PlainValue` or as `EncryptedValue` under a pre-shared AES key (AES-128/192/256-CBC,
//! RFC 6030 §6.1) with an HMAC-SHA1 `ValueMAC` whose key travels in `MACMethod/MACKey`.
//!
//! Hostile input is refused, not tolerated: a `DOCTYPE` (and so any entity definition),
//! any entity reference other than the five predefined ones and character references,
//! documents over [`MAX_BYTES`], nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_ELEMENTS`] elements. Problems with one key package are reported for that package,
//! so an operator sees every problem of a file at once.
//!
//! Deliberately absent: IO, asymmetric-key and password-based encryption, HOTP and OCRA
//! (latchkey verifies TOTP only).

mod crypto;
mod tree;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub use tree::{Element, MAX_BYTES, MAX_DEPTH, MAX_ELEMENTS};

/// A TOTP token read from a file.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub serial: String,
    pub manufacturer: Option<String>,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub hash: String,
    pub digits: u32,
    pub period: u32,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("serial", &self.serial)
            .field("hash", &self.hash)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why the file as a whole could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("not a well-formed XML document: {0}")]
    Xml(String),
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("the document nests elements deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the document has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("DOCTYPE declarations are not allowed (they can define entities)")]
    DocType,
    #[error("entity reference &{0}; is not allowed")]
    Entity(String),
    #[error("the root element is {0}, not KeyContainer")]
    NotPskc(String),
    #[error("the file's secrets are encrypted: give the pre-shared key (--key-file)")]
    KeyNeeded,
    #[error("the MAC key cannot be decrypted with the given pre-shared key: {0}")]
    MacKey(String),
    #[error("the file contains no key packages")]
    Empty,
}

/// Why one key package could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("no serial number (DeviceInfo/SerialNo)")]
    NoSerial,
    #[error("unsupported algorithm {0:?}: only TOTP tokens are supported")]
    Algorithm(String),
    #[error("unsupported hash {0:?}: SHA1, SHA256 or SHA512")]
    Hash(String),
    #[error("unsupported code length {0}: 6 or 8 digits")]
    Digits(String),
    #[error("unsupported time step {0:?}: 30 or 60 seconds")]
    Period(String),
    #[error("no secret")]
    NoSecret,
    #[error("the secret is not valid base64")]
    Base64,
    #[error("the secret's MAC does not match: wrong key or tampered file")]
    Mac,
    #[error("the secret cannot be decrypted: {0}")]
    Decrypt(String),
    #[error("the secret is {0} bits; at least 128 are required")]
    ShortSecret(usize),
    #[error("the file encrypts secrets but has no MAC key (MACMethod/MACKey)")]
    NoMacKey,
}

/// One key package: its position (1-based), the serial when known, and the token or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub index: usize,
    pub serial: Option<String>,
    pub result: Result<Token, PackageError>,
}

const TOTP_ALGORITHMS: &[&str] = &[
    "urn:ietf:params:xml:ns:keyprov:pskc:totp",
    "urn:ietf:params:xml:ns:keyprov:pskc#totp",
];

/// Reads a PSKC document. `key` is the pre-shared key for encrypted files.
pub fn read(document: &[u8], key: Option<&[u8]>) -> Result<Vec<Package>, FileError> {
    let root = tree::parse(document)?;
    if root.name != "KeyContainer" {
        return Err(FileError::NotPskc(root.name.clone()));
    }
    let packages: Vec<&Element> = root.children_named("KeyPackage").collect();
    if packages.is_empty() {
        return Err(FileError::Empty);
    }
    let encrypted = packages.iter().any(|p| {
        p.find(&["Key", "Data", "Secret", "EncryptedValue"])
            .is_some()
    });
    let mac_key = match (encrypted, key) {
        (false, _) => None,
        (true, None) => return Err(FileError::KeyNeeded),
        (true, Some(key)) => match root.find(&["MACMethod", "MACKey"]) {
            Some(mac_key) => {
                Some(crypto::decrypt_element(mac_key, key).map_err(FileError::MacKey)?)
            }
            None => None,
        },
    };
    Ok(packages
        .iter()
        .enumerate()
        .map(|(i, package)| {
            let serial = package
                .text_at(&["DeviceInfo", "SerialNo"])
                .map(str::to_owned);
            Package {
                index: i + 1,
                serial,
                result: read_package(package, key, mac_key.as_deref()),
            }
        })
        .collect())
}

fn read_package(
    package: &Element,
    key: Option<&[u8]>,
    mac_key: Option<&[u8]>,
) -> Result<Token, PackageError> {
    let serial = package
        .text_at(&["DeviceInfo", "SerialNo"])
        .filter(|s| !s.is_empty())
        .ok_or(PackageError::NoSerial)?;
    let manufacturer = package
        .text_at(&["DeviceInfo", "Manufacturer"])
        .map(str::to_owned);
    let token = package.find(&["Key"]).ok_or(PackageError::NoSecret)?;
    let algorithm = token.attr("Algorithm").unwrap_or_default();
    if !TOTP_ALGORITHMS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(algorithm))
    {
        return Err(PackageError::Algorithm(algorithm.to_owned()));
    }
    let hash = match token.text_at(&["AlgorithmParameters", "Suite"]) {
        None => "SHA1".to_owned(),
        Some(suite) => {
            let normalised = suite
                .to_ascii_uppercase()
                .replace("HMAC-", "")
                .replace('-', "");
            match normalised.as_str() {
                "SHA1" | "SHA256" | "SHA512" => normalised,
                _ => return Err(PackageError::Hash(suite.to_owned())),
            }
        }
    };
    let digits = match token.find(&["AlgorithmParameters", "ResponseFormat"]) {
        None => 6,
        Some(format) => {
            let length = format.attr("Length").unwrap_or("6");
            let encoding = format.attr("Encoding").unwrap_or("DECIMAL");
            match (length, encoding.eq_ignore_ascii_case("DECIMAL")) {
                ("6", true) => 6,
                ("8", true) => 8,
                _ => return Err(PackageError::Digits(format!("{length} ({encoding})"))),
            }
        }
    };
    let period = match token.text_at(&["Data", "TimeInterval", "PlainValue"]) {
        None => 30,
        Some("30") => 30,
        Some("60") => 60,
        Some(other) => return Err(PackageError::Period(other.to_owned())),
    };
    let secret = token
        .find(&["Data", "Secret"])
        .ok_or(PackageError::NoSecret)?;
    let value = if let Some(plain) = secret.text_at(&["PlainValue"]) {
        STANDARD
            .decode(plain.split_whitespace().collect::<String>())
            .map_err(|_| PackageError::Base64)?
    } else if let Some(encrypted) = secret.find(&["EncryptedValue"]) {
        let key = key.ok_or(PackageError::Decrypt("no pre-shared key".to_owned()))?;
        let mac_key = mac_key.ok_or(PackageError::NoMacKey)?;
        let mac = secret.text_at(&["ValueMAC"]).ok_or(PackageError::Mac)?;
        let mac = STANDARD
            .decode(mac.split_whitespace().collect::<String>())
            .map_err(|_| PackageError::Mac)?;
        let cipher = crypto::cipher_value(encrypted).map_err(PackageError::Decrypt)?;
        if !crypto::mac_matches(mac_key, &cipher, &mac) {
            return Err(PackageError::Mac);
        }
        crypto::decrypt_element(encrypted, key).map_err(PackageError::Decrypt)?
    } else {
        return Err(PackageError::NoSecret);
    };
    if value.len() < 16 {
        return Err(PackageError::ShortSecret(value.len() * 8));
    }
    Ok(Token {
        serial: serial.to_owned(),
        manufacturer,
        hash,
        digits,
        period,
        secret: value,
    })
}
