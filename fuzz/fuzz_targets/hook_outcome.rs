#![no_main]
//! See `edge_proxy::fuzzing::hook_outcome`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::hook_outcome(data));
