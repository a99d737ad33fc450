//! End-to-end test suite for edge-proxy; the tests live in `tests/`.
