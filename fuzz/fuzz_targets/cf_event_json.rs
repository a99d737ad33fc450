#![no_main]
//! See `edge_proxy::fuzzing::cf_event_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edge_proxy::fuzzing::cf_event_json(data));
