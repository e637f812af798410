#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil::fuzz::access_token(data));
