//! Delivering queued batches, oldest first and one at a time (records stay in order): a failed
//! batch is retried after a growing delay up to `maximum-retry-attempts`, then, with
//! `bisect-batch-on-function-error`, split in two and each half tried the same way; what still
//! fails is discarded and reported to `on-failure`. A batch leaves the queue once shipped or
//! discarded, so a restart resumes where the node stopped.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::kinesis::{self, queue_name, Batch, Discarded, Record};
use crate::async_invoke::Deliveries;
use crate::config::RealtimeLogs;
use crate::hooks::{HookError, HookRegistry};
use crate::node::Node;
use crate::observe::Metrics;
use crate::queue::EventQueue;

/// How often an empty queue is looked at again.
const IDLE: Duration = Duration::from_millis(200);
/// The longest wait between retries of a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Ships this node's batches until the process ends.
pub async fn run(node: &Arc<Node>, queue: &Arc<EventQueue>, metrics: &Arc<Metrics>) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client without TLS settings builds");
    loop {
        let generation = node.current();
        let name = queue_name(&generation.config.node.name);
        let oldest = match queue.messages(&name, 0, 1).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "real-time logs: cannot read the queue");
                Vec::new()
            }
        };
        let Some(message) = oldest.into_iter().next() else {
            tokio::time::sleep(IDLE).await;
            continue;
        };
        match (
            serde_json::from_slice::<Batch>(&message.body),
            &generation.config.realtime_logs,
        ) {
            (Ok(batch), Some(settings)) => {
                let shipping = Shipping {
                    settings,
                    hooks: &generation.hooks,
                    queue,
                    metrics,
                    http: &http,
                    node: &batch.node,
                };
                shipping.ship(batch.records.clone()).await;
            }
            (Err(e), _) => {
                tracing::error!(error = %e, "real-time logs: an unreadable batch; dropped")
            }
            (Ok(batch), None) => tracing::warn!(
                records = batch.records.len(),
                "real-time logs are no longer configured; a queued batch is dropped"
            ),
        }
        if let Err(e) = queue.delete_messages(&name, message.id).await {
            tracing::error!(error = %e, "real-time logs: cannot remove a shipped batch");
            tokio::time::sleep(IDLE).await;
        }
    }
}

/// One batch's delivery.
struct Shipping<'a> {
    settings: &'a RealtimeLogs,
    hooks: &'a Arc<HookRegistry>,
    queue: &'a Arc<EventQueue>,
    metrics: &'a Metrics,
    http: &'a reqwest::Client,
    node: &'a str,
}

impl Shipping<'_> {
    async fn ship(&self, records: Vec<Record>) {
        // Halves still to ship, the next on top.
        let mut pending = vec![records];
        while let Some(mut records) = pending.pop() {
            let mut attempts = 0;
            loop {
                attempts += 1;
                let request_id = uuid::Uuid::new_v4().simple().to_string();
                let Err(e) = self.invoke(&records, &request_id).await else {
                    self.count("delivered");
                    break;
                };
                if attempts <= self.settings.maximum_retry_attempts {
                    self.count("retried");
                    tokio::time::sleep(backoff(attempts)).await;
                    continue;
                }
                if self.settings.bisect_batch_on_function_error && records.len() > 1 {
                    self.count("split");
                    let right = records.split_off(records.len() / 2);
                    pending.push(right);
                    pending.push(records);
                    break;
                }
                tracing::warn!(
                    function = %self.settings.function,
                    records = records.len(),
                    attempts,
                    error = %e,
                    "real-time logs: batch discarded"
                );
                self.count("discarded");
                self.discard(&records, &request_id, attempts, &e).await;
                break;
            }
        }
    }

    fn count(&self, result: &str) {
        self.metrics
            .events
            .realtime_batches
            .with_label_values(&[result])
            .inc();
    }

    async fn invoke(&self, records: &[Record], request_id: &str) -> Result<(), HookError> {
        let Some(function) = self.hooks.get(&self.settings.function) else {
            return Err(HookError::Trap {
                function: self.settings.function.clone(),
                trigger: crate::hooks::Trigger::TargetGroup("realtime-logs".into()),
                reason: "not loaded".into(),
            });
        };
        let event = serde_json::to_vec(&kinesis::event(self.node, records)).expect("JSON");
        let (result, report) = function
            .invoke_json("realtime-logs", event, self.settings.timeout, request_id)
            .await;
        if let Some(report) = &report {
            self.metrics.observe_billing(function.name(), report);
            let mut line = report.line(Some(request_id));
            if let Err(e) = &result {
                line.push_str(&format!(" Status: error Error: {e}"));
            }
            tracing::info!(target: "edge_proxy::report", function = function.name(), records = records.len(), "{line}");
        }
        result.map(drop)
    }

    async fn discard(&self, records: &[Record], request_id: &str, attempts: u32, e: &HookError) {
        let Some(to) = &self.settings.on_failure else {
            return;
        };
        let record = kinesis::failure_record(
            &Discarded {
                node: self.node,
                records,
                request_id,
                function_arn: &format!(
                    "arn:aws:lambda:local:000000000000:function:{}:$LATEST",
                    self.settings.function
                ),
                attempts,
                unhandled: !matches!(e, HookError::FunctionError { .. }),
            },
            SystemTime::now(),
        );
        let deliveries = Deliveries {
            queue: &**self.queue,
            hooks: self.hooks,
            http: self.http,
            request_id,
        };
        let body = serde_json::to_vec(&record).expect("JSON");
        if let Err(e) = deliveries.record(to, body).await {
            tracing::error!(destination = %to, error = %e, "real-time logs: the record of a discarded batch was not delivered");
        }
    }
}

/// The wait before retry `attempt` (1 = the first): 200 ms, doubling, at most 30 s.
fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1).min(16)))
        .min(MAX_BACKOFF)
}
