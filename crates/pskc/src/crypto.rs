//! RFC 6030 §6.1: values encrypted with a pre-shared AES key in CBC mode (the IV is the
//! first block of the cipher value, PKCS#7 padding), authenticated by HMAC-SHA1 over the
//! whole cipher value with the MAC key from `MACMethod`.

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

use crate::tree::Element;

const AES_CBC: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
];

/// The raw cipher value (IV followed by ciphertext) of an element holding
/// `EncryptionMethod` and `CipherData/CipherValue`.
pub(crate) fn cipher_value(element: &Element) -> Result<Vec<u8>, String> {
    let method = element
        .find(&["EncryptionMethod"])
        .and_then(|m| m.attr("Algorithm"))
        .unwrap_or_default();
    if !AES_CBC.contains(&method) {
        return Err(format!("unsupported encryption method {method:?}"));
    }
    let value = element
        .text_at(&["CipherData", "CipherValue"])
        .ok_or("no CipherValue")?;
    STANDARD
        .decode(value.split_whitespace().collect::<String>())
        .map_err(|_| "CipherValue is not base64".to_owned())
}

pub(crate) fn decrypt_element(element: &Element, key: &[u8]) -> Result<Vec<u8>, String> {
    let value = cipher_value(element)?;
    if value.len() < 32 || value.len() % 16 != 0 {
        return Err("the cipher value has the wrong length".to_owned());
    }
    let (iv, body) = value.split_at(16);
    let mut buffer = body.to_vec();
    let bad = |_| "wrong key or corrupted value (bad padding)".to_owned();
    let plaintext = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded::<Pkcs7>(&mut buffer)
            .map_err(bad)?,
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded::<Pkcs7>(&mut buffer)
            .map_err(bad)?,
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(|e| e.to_string())?
            .decrypt_padded::<Pkcs7>(&mut buffer)
            .map_err(bad)?,
        n => {
            return Err(format!(
                "a pre-shared AES key is 16, 24 or 32 bytes, not {n}"
            ));
        }
    };
    Ok(plaintext.to_vec())
}

pub(crate) fn mac_matches(mac_key: &[u8], cipher_value: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(mac_key) else {
        return false;
    };
    mac.update(cipher_value);
    let computed = mac.finalize().into_bytes();
    computed.as_slice().ct_eq(expected).into()
}
