//! Metrics of event invocations and real-time logs: what was accepted or refused, how attempts ended, what the
//! queue holds (set from the store whenever `/metrics` is read).

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use crate::queue::{now_ms, QueueStats};

/// Every event-invocation metric.
pub struct EventMetrics {
    /// Events queued for a 202, by origin.
    pub accepted: IntCounterVec,
    /// Events refused, by origin and reason (`full`, `too-large`, `store`).
    pub refused: IntCounterVec,
    /// Attempts, by origin and result (`success`, `function-error`, `throttled`, `system-error`).
    pub attempts: IntCounterVec,
    /// Attempts scheduled again after a function error, by origin.
    pub retries: IntCounterVec,
    /// Finished events, by origin and condition (`Success`, `RetriesExhausted`,
    /// `EventAgeExceeded`).
    pub outcomes: IntCounterVec,
    /// Failed events sent to a dead-letter destination, by origin.
    pub dead_lettered: IntCounterVec,
    /// Events attempted again after a restart while their previous attempt was in flight (a
    /// possible duplicate), by origin.
    pub redelivered: IntCounterVec,
    /// Deliveries to a destination that failed (the outcome is delivered again later), by
    /// origin.
    pub delivery_failures: IntCounterVec,
    /// Real-time log records, by result (`sampled`, `dropped` when the batcher is behind).
    pub realtime_records: IntCounterVec,
    /// Real-time log batches, by result (`queued`, `delivered`, `retried`, `split`,
    /// `discarded`).
    pub realtime_batches: IntCounterVec,
    queued: IntGauge,
    in_flight: IntGauge,
    oldest_age_seconds: IntGauge,
    bytes: IntGauge,
    messages: IntGauge,
}

impl EventMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        EventMetrics {
            accepted: counter(
                "edge_async_events_accepted_total",
                "Events durably queued and answered 202, by origin.",
                &["origin"],
            ),
            refused: counter(
                "edge_async_events_refused_total",
                "Events refused, by origin and reason (full, too-large, store).",
                &["origin", "reason"],
            ),
            attempts: counter(
                "edge_async_attempts_total",
                "Invocation attempts, by origin and result (success, function-error, throttled, system-error).",
                &["origin", "result"],
            ),
            retries: counter(
                "edge_async_retries_total",
                "Attempts scheduled again after a function error, by origin.",
                &["origin"],
            ),
            outcomes: counter(
                "edge_async_outcomes_total",
                "Finished events, by origin and condition (Success, RetriesExhausted, EventAgeExceeded).",
                &["origin", "condition"],
            ),
            dead_lettered: counter(
                "edge_async_dead_lettered_total",
                "Failed events sent to their dead-letter destination, by origin.",
                &["origin"],
            ),
            redelivered: counter(
                "edge_async_redelivered_total",
                "Events attempted again after a restart cut their previous attempt short (possible duplicates), by origin.",
                &["origin"],
            ),
            delivery_failures: counter(
                "edge_async_delivery_failures_total",
                "Failed deliveries to a destination (delivered again later), by origin.",
                &["origin"],
            ),
            realtime_records: counter(
                "edge_realtime_log_records_total",
                "Real-time log records, by result (sampled, dropped).",
                &["result"],
            ),
            realtime_batches: counter(
                "edge_realtime_log_batches_total",
                "Real-time log batches, by result (queued, delivered, retried, split, discarded).",
                &["result"],
            ),
            queued: gauge("edge_async_queued_events", "Events waiting or in flight."),
            in_flight: gauge(
                "edge_async_in_flight_events",
                "Events being attempted or delivered now.",
            ),
            oldest_age_seconds: gauge(
                "edge_async_oldest_event_age_seconds",
                "Age of the oldest queued event; 0 when none is queued.",
            ),
            bytes: gauge("edge_async_queue_bytes", "Bytes of the queued events."),
            messages: gauge(
                "edge_async_queue_messages",
                "Messages in named queues (destination records, dead letters).",
            ),
        }
    }

    /// Sets the gauges from what the queue holds.
    pub fn observe_queue(&self, stats: &QueueStats) {
        self.queued.set(stats.events as i64);
        self.in_flight.set(stats.in_flight as i64);
        self.bytes.set(stats.bytes as i64);
        self.messages.set(stats.messages as i64);
        self.oldest_age_seconds
            .set(stats.oldest_ms.map_or(0, |t| (now_ms() - t).max(0) / 1000));
    }
}
