//! One function's metric handles, resolved once. A labelled lookup hashes the label values and
//! takes the metric family's lock; a hook call that looked up its five series each time paid
//! more for its metrics than for a no-op call into the guest.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use prometheus::{Counter, CounterVec, Histogram, HistogramVec, IntCounter, IntCounterVec};

use crate::hooks::{CallMeters, Report};
use edge_event::EventType;

/// The metric families a function's series belong to.
#[derive(Clone)]
pub(super) struct Families {
    pub(super) invocations: IntCounterVec,
    pub(super) duration: HistogramVec,
    pub(super) cpu_seconds: CounterVec,
    pub(super) slow_lane: IntCounterVec,
    pub(super) billed_requests: IntCounterVec,
    pub(super) gb_seconds: CounterVec,
    pub(super) ran_again: IntCounterVec,
}

/// A function's series, each made on first use (a series shows in `/metrics` once it exists,
/// so one a function never touches, such as its slow-lane count, stays absent).
pub struct FunctionMeters {
    name: String,
    families: Families,
    invocations: [OnceLock<IntCounter>; 4],
    duration: OnceLock<Histogram>,
    cpu_seconds: OnceLock<Counter>,
    slow_lane: OnceLock<IntCounter>,
    billed_requests: OnceLock<IntCounter>,
    gb_seconds: OnceLock<Counter>,
    ran_again: OnceLock<IntCounter>,
}

impl FunctionMeters {
    fn new(name: &str, families: Families) -> Self {
        FunctionMeters {
            name: name.to_string(),
            families,
            invocations: Default::default(),
            duration: OnceLock::new(),
            cpu_seconds: OnceLock::new(),
            slow_lane: OnceLock::new(),
            billed_requests: OnceLock::new(),
            gb_seconds: OnceLock::new(),
            ran_again: OnceLock::new(),
        }
    }

    /// Meters one invocation as Lambda bills it (and counts it if it ran again).
    pub fn observe_billing(&self, report: &Report) {
        if report.ran_again {
            self.ran_again
                .get_or_init(|| self.families.ran_again.with_label_values(&[&self.name]))
                .inc();
        }
        self.billed_requests
            .get_or_init(|| {
                self.families
                    .billed_requests
                    .with_label_values(&[&self.name])
            })
            .inc();
        self.gb_seconds
            .get_or_init(|| self.families.gb_seconds.with_label_values(&[&self.name]))
            .inc_by(report.gb_seconds());
    }
}

impl CallMeters for FunctionMeters {
    fn invoked(&self, et: EventType) {
        let index = EventType::ALL
            .iter()
            .position(|e| *e == et)
            .expect("every trigger is in ALL");
        self.invocations[index]
            .get_or_init(|| {
                self.families
                    .invocations
                    .with_label_values(&[&self.name, et.as_str()])
            })
            .inc();
    }

    fn observe_hook(&self, report: &Report) {
        self.duration
            .get_or_init(|| self.families.duration.with_label_values(&[&self.name]))
            .observe(report.duration.as_secs_f64());
        self.cpu_seconds
            .get_or_init(|| self.families.cpu_seconds.with_label_values(&[&self.name]))
            .inc_by(report.cpu.as_secs_f64());
        if report.slow_lane {
            self.slow_lane
                .get_or_init(|| self.families.slow_lane.with_label_values(&[&self.name]))
                .inc();
        }
        self.observe_billing(report);
    }
}

/// Every function's meters, by name.
pub(super) struct MetersByFunction {
    families: Families,
    by_name: RwLock<HashMap<String, Arc<FunctionMeters>>>,
}

impl MetersByFunction {
    pub(super) fn new(families: Families) -> Self {
        MetersByFunction {
            families,
            by_name: RwLock::default(),
        }
    }

    /// `name`'s meters, made on first use.
    pub(super) fn get(&self, name: &str) -> Arc<FunctionMeters> {
        if let Some(m) = self.by_name.read().expect("meters lock").get(name) {
            return m.clone();
        }
        self.by_name
            .write()
            .expect("meters lock")
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(FunctionMeters::new(name, self.families.clone())))
            .clone()
    }
}
