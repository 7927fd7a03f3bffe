//! cargo-fuzz target: see `pubsubd_fuzz::config` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pubsubd_fuzz::config(data));
