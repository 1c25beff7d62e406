#![no_main]
//! Any input: the reader must return, never panic, and never hand out a secret that failed
//! its MAC.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = [0x12u8; 16];
    let _ = latchkey_pskc::read(data, None);
    let _ = latchkey_pskc::read(data, Some(&key));
});
