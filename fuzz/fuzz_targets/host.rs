#![no_main]
//! See `edge_proxy::fuzzing::host`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::host(data));
