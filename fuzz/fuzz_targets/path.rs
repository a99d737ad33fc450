#![no_main]
//! See `edge_proxy::fuzzing::path`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::path(data));
