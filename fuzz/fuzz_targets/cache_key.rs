#![no_main]
//! See `edge_proxy::fuzzing::cache_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::cache_key(data));
