//! Benchmarks live in `benches/`; see `README.md` for how to run them and the recorded numbers.
//! This library holds what the criterion benches share.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `call` `iters` times on inputs from `input`, timing only the calls: building the input
/// (cloning an event) and dropping the output stay outside the measured time, which criterion's
/// `iter_custom` then reports.
pub async fn time_each<I, O, Fut>(
    iters: u64,
    mut input: impl FnMut() -> I,
    mut call: impl FnMut(I) -> Fut,
) -> Duration
where
    Fut: Future<Output = O>,
{
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let input = input();
        let started = Instant::now();
        let output = call(input).await;
        timed += started.elapsed();
        drop(output);
    }
    timed
}
