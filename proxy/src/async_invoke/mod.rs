//! Asynchronous invocation, as Lambda does it for `InvocationType=Event`: the viewer's event is
//! queued (`queue/`) and answered 202; the [`Dispatcher`] takes due events, invokes their
//! origin's function, retries function errors after the configured delays (Lambda's 1 and 2
//! minutes by default), puts throttled events back with a growing delay, sends events past
//! their maximum age to the failure path, and delivers the invocation record
//! (`record.rs`) to the on-success or on-failure destination and the failed event to the
//! dead-letter destination (`destination.rs`). An event leaves the queue only once its record
//! is delivered: at least once, across restarts.

mod destination;
mod record;

pub use destination::Deliveries;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::EventInvokeConfig;
use crate::node::Node;
use crate::observe::Metrics;
use crate::origins::{EventAttempt, OriginHandle};
use crate::queue::{now_ms, DeadLetter, EventQueue, Job, NewEvent};
use record::{Condition, Finished};

/// How often the dispatcher looks for due events when nothing woke it.
const POLL: Duration = Duration::from_millis(100);
/// Delay before a failed delivery, or an event whose origin is gone, is tried again.
const LATER: Duration = Duration::from_secs(5);
/// Longest back-off of an event that did not reach its function (Lambda's 5 minutes).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs queued events: a Pingora background service.
pub struct Dispatcher {
    node: Arc<Node>,
    queue: Arc<EventQueue>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    concurrency: usize,
}

impl Dispatcher {
    /// A dispatcher running up to `concurrency` events of `queue` at once, on the functions of
    /// `node`'s current generation.
    pub fn new(
        node: Arc<Node>,
        queue: Arc<EventQueue>,
        metrics: Arc<Metrics>,
        concurrency: usize,
    ) -> Self {
        Dispatcher {
            node,
            queue,
            metrics,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a client without TLS settings builds"),
            concurrency,
        }
    }
}

#[async_trait]
impl BackgroundService for Dispatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let wake = self.queue.wake();
        loop {
            // A free slot first: while every slot is busy, the next event waits for one.
            let first = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("never closed"),
                _ = shutdown.changed() => return,
            };
            let free = permits.available_permits() + 1;
            let jobs = match self.queue.lease(free).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "event queue: cannot take due events");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                drop(first);
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
            let mut first = Some(first);
            for job in jobs {
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed"),
                };
                let work = Work {
                    node: self.node.clone(),
                    queue: self.queue.clone(),
                    metrics: self.metrics.clone(),
                    http: self.http.clone(),
                };
                tokio::spawn(async move {
                    work.process(job).await;
                    drop(permit);
                });
            }
        }
    }
}

/// One event's processing, owning what it needs.
struct Work {
    node: Arc<Node>,
    queue: Arc<EventQueue>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
}

/// An outcome decided and stored with its event until delivered.
#[derive(serde::Serialize, serde::Deserialize)]
struct Outcome {
    condition: String,
    record: Value,
    dead_letter: Option<Value>,
}

impl Work {
    async fn process(&self, job: Job) {
        let generation = self.node.current();
        let group = match generation.origins.handle(&job.origin) {
            Some(OriginHandle::Function(group)) if group.event_config().is_some() => group,
            _ => {
                tracing::warn!(
                    origin = %job.origin,
                    request_id = %job.request_id,
                    "queued event: its origin is no longer an event origin; kept for a later configuration"
                );
                self.put_back(job.id, LATER).await;
                return;
            }
        };
        let config = group.event_config().expect("checked above");
        if let Some(outcome) = &job.outcome {
            match serde_json::from_slice::<Outcome>(outcome) {
                Ok(outcome) => self.deliver(&job, config, &generation.hooks, outcome).await,
                Err(e) => {
                    tracing::error!(request_id = %job.request_id, error = %e, "queued outcome unreadable; dropped");
                    self.complete(job.id).await;
                }
            }
            return;
        }
        let origin = job.origin.as_str();
        if job.redelivered {
            self.metrics
                .events
                .redelivered
                .with_label_values(&[origin])
                .inc();
        }
        let age = Duration::from_millis((now_ms() - job.enqueued_ms).max(0) as u64);
        if age > config.maximum_event_age {
            tracing::warn!(origin, request_id = %job.request_id, age_s = age.as_secs(), "event older than maximum-event-age-seconds: not invoked");
            let response = job
                .last_response
                .as_deref()
                .and_then(|r| serde_json::from_slice(r).ok());
            // The attempt counted by the lease did not run.
            let attempts = job.attempts - 1;
            self.finish(
                &job,
                config,
                &generation.hooks,
                Condition::EventAgeExceeded,
                attempts,
                response,
            )
            .await;
            return;
        }
        let (attempt, report) = group
            .invoke_event(job.payload.clone(), &job.request_id)
            .await;
        if let (Some(report), Some(function)) = (&report, group.function_name()) {
            self.metrics.observe_billing(function, report);
            // Every attempt's REPORT line at info, as Lambda logs one per invocation: they are
            // bounded by the queue's concurrency, not by the viewers' request rate.
            let mut line = report.line(Some(&job.request_id));
            if let EventAttempt::FunctionError { message, .. } = &attempt {
                line.push_str(&format!(" Status: error Error: {message}"));
            }
            tracing::info!(target: "edge_proxy::report", function, origin, attempt = job.attempts, "{line}");
        }
        let result = match &attempt {
            EventAttempt::Success(_) => "success",
            EventAttempt::FunctionError { .. } => "function-error",
            EventAttempt::NotInvoked(_) => "not-invoked",
        };
        self.metrics
            .events
            .attempts
            .with_label_values(&[origin, result])
            .inc();
        let response = record::response_of(&attempt);
        match attempt {
            EventAttempt::Success(_) => {
                self.finish(
                    &job,
                    config,
                    &generation.hooks,
                    Condition::Success,
                    job.attempts,
                    Some(response),
                )
                .await
            }
            EventAttempt::FunctionError { message, .. } => {
                if job.attempts <= config.maximum_retry_attempts {
                    let delay = retry_delay(config, job.attempts);
                    tracing::info!(origin, request_id = %job.request_id, attempt = job.attempts, retry_in_ms = delay.as_millis() as u64, error = %message, "event invocation failed; will retry");
                    self.metrics
                        .events
                        .retries
                        .with_label_values(&[origin])
                        .inc();
                    let due = now_ms() + delay.as_millis() as i64;
                    let last = serde_json::to_vec(&response).expect("JSON");
                    if let Err(e) = self.queue.retry(job.id, due, last).await {
                        tracing::error!(error = %e, "event queue: cannot schedule a retry");
                    }
                } else {
                    tracing::warn!(origin, request_id = %job.request_id, attempts = job.attempts, error = %message, "event invocation failed; retries exhausted");
                    self.finish(
                        &job,
                        config,
                        &generation.hooks,
                        Condition::RetriesExhausted,
                        job.attempts,
                        Some(response),
                    )
                    .await
                }
            }
            EventAttempt::NotInvoked(reason) => {
                let delay = Duration::from_secs(1 << job.backoffs.min(9)).min(MAX_BACKOFF);
                tracing::info!(origin, request_id = %job.request_id, retry_in_ms = delay.as_millis() as u64, reason = %reason, "event not delivered to its function; back to the queue");
                let due = now_ms() + delay.as_millis() as i64;
                if let Err(e) = self.queue.back_off(job.id, due).await {
                    tracing::error!(error = %e, "event queue: cannot put an event back");
                }
            }
        }
    }

    /// Builds the record (and for a failure the dead letter), stores it with the event so a
    /// restart still delivers it, and delivers it.
    async fn finish(
        &self,
        job: &Job,
        config: &EventInvokeConfig,
        hooks: &Arc<crate::hooks::HookRegistry>,
        condition: Condition,
        attempts: u32,
        response: Option<Value>,
    ) {
        let destined = if condition == Condition::Success {
            config.on_success.is_some()
        } else {
            config.on_failure.is_some() || config.dead_letter.is_some()
        };
        if !destined {
            // Nothing to deliver: no record is built or stored.
            self.count_outcome(job, condition.as_str(), attempts, false);
            self.complete(job.id).await;
            return;
        }
        let finished = Finished {
            condition,
            request_id: &job.request_id,
            function_arn: &config.function_arn,
            attempts,
            request_payload: &job.payload,
            response,
        };
        let now = SystemTime::now();
        let outcome = Outcome {
            condition: condition.as_str().to_string(),
            record: record::invocation_record(&finished, now),
            dead_letter: (condition != Condition::Success)
                .then(|| record::dead_letter(&finished, &job.origin, now)),
        };
        let stored = serde_json::to_vec(&outcome).expect("JSON");
        if let Err(e) = self.queue.decide(job.id, stored).await {
            tracing::error!(error = %e, "event queue: cannot store an outcome");
        }
        self.deliver(job, config, hooks, outcome).await;
    }

    /// Delivers an outcome to its destinations; the event leaves the queue only when every
    /// delivery succeeded (else all are tried again later: at least once).
    async fn deliver(
        &self,
        job: &Job,
        config: &EventInvokeConfig,
        hooks: &Arc<crate::hooks::HookRegistry>,
        outcome: Outcome,
    ) {
        let origin = job.origin.as_str();
        let deliveries = Deliveries {
            queue: &*self.queue,
            hooks,
            http: &self.http,
            request_id: &job.request_id,
        };
        let success = outcome.condition == Condition::Success.as_str();
        let destination = if success {
            &config.on_success
        } else {
            &config.on_failure
        };
        let record = serde_json::to_vec(&outcome.record).expect("JSON");
        let mut failed = None;
        if let Some(to) = destination {
            if let Err(e) = deliveries.record(to, record).await {
                failed = Some((to.to_string(), e));
            }
        }
        let mut dead_lettered = false;
        if let (None, Some(to), Some(letter)) = (&failed, &config.dead_letter, &outcome.dead_letter)
        {
            let letter = DeadLetter {
                event: NewEvent {
                    origin: job.origin.clone(),
                    request_id: job.request_id.clone(),
                    payload: job.payload.clone(),
                },
                body: serde_json::to_vec(letter).expect("JSON"),
            };
            match deliveries.dead_letter(to, letter).await {
                Ok(()) => dead_lettered = true,
                Err(e) => failed = Some((to.to_string(), e)),
            }
        }
        if let Some((to, e)) = failed {
            tracing::warn!(origin, request_id = %job.request_id, destination = %to, error = %e, "delivery failed; will deliver again");
            self.metrics
                .events
                .delivery_failures
                .with_label_values(&[origin])
                .inc();
            self.put_back(job.id, LATER).await;
            return;
        }
        let attempts = outcome.record["requestContext"]["approximateInvokeCount"]
            .as_u64()
            .unwrap_or(0) as u32;
        self.count_outcome(job, &outcome.condition, attempts, dead_lettered);
        self.complete(job.id).await;
    }

    /// Counts and logs an event's end.
    fn count_outcome(&self, job: &Job, condition: &str, attempts: u32, dead_lettered: bool) {
        let origin = job.origin.as_str();
        if dead_lettered {
            self.metrics
                .events
                .dead_lettered
                .with_label_values(&[origin])
                .inc();
        }
        self.metrics
            .events
            .outcomes
            .with_label_values(&[origin, condition])
            .inc();
        tracing::info!(
            origin,
            request_id = %job.request_id,
            condition,
            attempts,
            "event processed"
        );
    }

    async fn put_back(&self, id: i64, after: Duration) {
        let due = now_ms() + after.as_millis() as i64;
        if let Err(e) = self.queue.release(id, due).await {
            tracing::error!(error = %e, "event queue: cannot put an event back");
        }
    }

    async fn complete(&self, id: i64) {
        if let Err(e) = self.queue.complete(id).await {
            tracing::error!(error = %e, "event queue: cannot remove a processed event");
        }
    }
}

/// The wait before retry number `attempt` (1 = the first retry): the configured delays in
/// order, the last one repeating.
fn retry_delay(config: &EventInvokeConfig, attempt: u32) -> Duration {
    let i = (attempt as usize).saturating_sub(1);
    config
        .retry_delays
        .get(i)
        .or(config.retry_delays.last())
        .copied()
        .unwrap_or(Duration::ZERO)
}
