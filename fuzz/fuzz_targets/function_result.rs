#![no_main]
//! See `edge_proxy::fuzzing::function_result`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::function_result(data));
