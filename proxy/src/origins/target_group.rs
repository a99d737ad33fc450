//! The `function` origin: an ALB-style target group whose one target is a wasm component (the
//! `lambda` world) or an endpoint speaking the Lambda Invoke API.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{EventInvokeConfig, FunctionOrigin, FunctionTarget, Invocation};
use crate::hooks::{HookError, HookFunction, HookRegistry, Report};
use crate::lambda::{self, HttpRequestParts, HttpResponseParts, TargetGroupSettings};

/// Why a target group could not answer; `status` is what the ALB would send.
#[derive(Debug, thiserror::Error)]
#[error("target group \"{target_group}\" ({target}): {reason}")]
pub struct TargetError {
    /// Status for the viewer.
    pub status: u16,
    /// The target group (origin name).
    pub target_group: String,
    /// The function name or invoke URL.
    pub target: String,
    /// What went wrong.
    pub reason: String,
}

enum Target {
    Wasm(Arc<HookFunction>),
    InvokeUrl {
        url: String,
        client: reqwest::Client,
    },
}

/// How long connecting to an invoke endpoint may take: 10 s, or half the function's timeout
/// when that is shorter (so the connection's deadline comes before the function's). Past it
/// the ALB's answer is 504, "the Lambda service did not respond before the connection timeout
/// expired"; past the function's own timeout it is 502.
fn connect_timeout(function_timeout: Duration) -> Duration {
    Duration::from_secs(10).min(function_timeout / 2)
}

/// A function target group ready to serve.
pub struct TargetGroup {
    name: String,
    settings: TargetGroupSettings,
    timeout: Duration,
    target: Target,
    /// Set for `invocation = "event"` (boxed: most groups are synchronous).
    event: Option<Box<EventInvokeConfig>>,
}

/// How one attempt of an event invocation ended, in the classes Lambda treats differently.
#[derive(Debug)]
pub enum EventAttempt {
    /// The function returned: its result (empty when an endpoint queued the event itself).
    Success(Vec<u8>),
    /// A function error: retried up to `maximum-retry-attempts`.
    FunctionError {
        /// `Unhandled` (a trap, a timeout, a crash) rather than `Handled` (an error returned).
        unhandled: bool,
        /// What the function or the host said.
        message: String,
    },
    /// Throttled or not reached (a 429, a 5xx without a function error, no connection): the
    /// event goes back to the queue with a growing delay, until its maximum age.
    NotInvoked(String),
}

impl TargetGroup {
    /// Binds the origin's target: its compiled function from `hooks`, or an HTTP client.
    pub fn new(name: &str, origin: &FunctionOrigin, hooks: &HookRegistry) -> anyhow::Result<Self> {
        let target = match &origin.target {
            FunctionTarget::Wasm(f) => Target::Wasm(hooks.get(f).cloned().ok_or_else(|| {
                anyhow::anyhow!("origin \"{name}\": function \"{f}\" is not loaded")
            })?),
            FunctionTarget::InvokeUrl(url) => Target::InvokeUrl {
                url: url.clone(),
                client: reqwest::Client::builder()
                    .no_proxy()
                    .connect_timeout(connect_timeout(origin.timeout))
                    .timeout(origin.timeout)
                    .build()
                    .map_err(|e| anyhow::anyhow!("origin \"{name}\": {e}"))?,
            },
        };
        Ok(TargetGroup {
            name: name.to_string(),
            settings: TargetGroupSettings {
                target_group_arn: origin.target_group_arn.clone(),
                multi_value_headers: origin.multi_value_headers,
                payload: origin.payload,
            },
            timeout: origin.timeout,
            target,
            event: match &origin.invocation {
                Invocation::Event(config) => Some(Box::new(config.clone())),
                Invocation::RequestResponse => None,
            },
        })
    }

    /// The event invoke configuration, when the group invokes its function asynchronously.
    pub fn event_config(&self) -> Option<&EventInvokeConfig> {
        self.event.as_deref()
    }

    /// The viewer request as the function's event JSON (what an event invocation queues).
    /// `Err` is the ALB's answer: 413 for a body over 1 MB, 400 for a request it cannot
    /// translate.
    pub fn event_json(
        &self,
        request: &HttpRequestParts,
        request_id: &str,
    ) -> Result<Vec<u8>, TargetError> {
        if request.body.len() > lambda::MAX_REQUEST_BODY {
            return Err(self.error(413, "request body over 1 MB"));
        }
        let event = lambda::request_event(request, &self.settings, request_id)
            .map_err(|e| self.error(400, e))?;
        Ok(serde_json::to_vec(&event).expect("event serializes"))
    }

    /// One attempt of an event invocation of `event` (queued by [`Self::event_json`]); an
    /// invoke endpoint is called with `X-Amz-Invocation-Type: Event`.
    pub async fn invoke_event(
        &self,
        event: Vec<u8>,
        request_id: &str,
    ) -> (EventAttempt, Option<Report>) {
        match &self.target {
            Target::Wasm(function) => {
                let (result, report) = function
                    .invoke_json(&self.name, event, self.timeout, request_id)
                    .await;
                let attempt = match result {
                    Ok(result) => EventAttempt::Success(result),
                    Err(e @ (HookError::Throttled { .. } | HookError::MemoryBudget { .. })) => {
                        EventAttempt::NotInvoked(e.to_string())
                    }
                    Err(HookError::FunctionError { message, .. }) => EventAttempt::FunctionError {
                        unhandled: false,
                        message,
                    },
                    Err(e) => EventAttempt::FunctionError {
                        unhandled: true,
                        message: e.to_string(),
                    },
                };
                (attempt, report)
            }
            Target::InvokeUrl { url, client } => {
                (self.invoke_remote_event(client, url, event).await, None)
            }
        }
    }

    async fn invoke_remote_event(
        &self,
        client: &reqwest::Client,
        url: &str,
        event: Vec<u8>,
    ) -> EventAttempt {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "Event")
            .body(event)
            .send()
            .await;
        let reply = match sent {
            Ok(reply) => reply,
            Err(e) if e.is_timeout() && !e.is_connect() => {
                return EventAttempt::FunctionError {
                    unhandled: true,
                    message: format!(
                        "the function did not answer within {} ms",
                        self.timeout.as_millis()
                    ),
                }
            }
            Err(e) => return EventAttempt::NotInvoked(format!("invoke failed: {e}")),
        };
        let function_error = reply
            .headers()
            .get("x-amz-function-error")
            .map(|v| v.to_str().unwrap_or("Unhandled").to_string());
        let status = reply.status();
        let body = match reply.bytes().await {
            Ok(body) => body,
            Err(e) => return EventAttempt::NotInvoked(format!("reading the result: {e}")),
        };
        if let Some(kind) = function_error {
            return EventAttempt::FunctionError {
                unhandled: kind != "Handled",
                message: String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned(),
            };
        }
        if !status.is_success() {
            return EventAttempt::NotInvoked(format!("invoke endpoint answered {status}"));
        }
        EventAttempt::Success(body.to_vec())
    }

    /// The wasm function behind the group, if it is one (an invoke URL is not metered here).
    pub fn function_name(&self) -> Option<&str> {
        match &self.target {
            Target::Wasm(f) => Some(f.name()),
            Target::InvokeUrl { .. } => None,
        }
    }

    /// An error of this group's target, for the viewer's `status`.
    pub fn error(&self, status: u16, reason: impl Into<String>) -> TargetError {
        TargetError {
            status,
            target_group: self.name.clone(),
            target: match &self.target {
                Target::Wasm(f) => format!("function \"{}\"", f.name()),
                Target::InvokeUrl { url, .. } => url.clone(),
            },
            reason: reason.into(),
        }
    }

    /// Translates `request` to the event, invokes the target, and translates the result back;
    /// with what a wasm function's invocation cost (for metering), when one ran.
    pub async fn call(
        &self,
        request: &HttpRequestParts,
        request_id: &str,
    ) -> (Result<HttpResponseParts, TargetError>, Option<Report>) {
        let mut report = None;
        let result = self
            .translate_and_call(request, request_id, &mut report)
            .await;
        (result, report)
    }

    async fn translate_and_call(
        &self,
        request: &HttpRequestParts,
        request_id: &str,
        report: &mut Option<Report>,
    ) -> Result<HttpResponseParts, TargetError> {
        let event = self.event_json(request, request_id)?;
        let result = match &self.target {
            Target::Wasm(function) => {
                let (result, cost) = function
                    .invoke_json(&self.name, event, self.timeout, request_id)
                    .await;
                *report = cost;
                result.map_err(|e| self.error(e.status(), e.to_string()))?
            }
            Target::InvokeUrl { url, client } => self.invoke_remote(client, url, event).await?,
        };
        lambda::response_from_result(&result, &self.settings).map_err(|e| self.error(502, e))
    }

    /// What the ALB answers when invoking fails: 504 when the Lambda service did not accept a
    /// connection in time, 502 when the function did not answer within its timeout or the
    /// exchange broke.
    fn invoke_failed(&self, e: reqwest::Error, doing: &str) -> TargetError {
        if e.is_connect() && e.is_timeout() {
            self.error(
                504,
                format!(
                    "the invoke endpoint accepted no connection within {} ms",
                    connect_timeout(self.timeout).as_millis()
                ),
            )
        } else if e.is_timeout() {
            self.error(
                502,
                format!(
                    "the function did not answer within {} ms",
                    self.timeout.as_millis()
                ),
            )
        } else {
            self.error(502, format!("{doing}: {e}"))
        }
    }

    /// POSTs the event as the Lambda Invoke API expects; `X-Amz-Function-Error` in the reply is a
    /// function error.
    async fn invoke_remote(
        &self,
        client: &reqwest::Client,
        url: &str,
        event: Vec<u8>,
    ) -> Result<Vec<u8>, TargetError> {
        let reply = client
            .post(url)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await
            .map_err(|e| self.invoke_failed(e, "invoke failed"))?;
        let function_error = reply
            .headers()
            .get("x-amz-function-error")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let status = reply.status();
        let body = reply
            .bytes()
            .await
            .map_err(|e| self.invoke_failed(e, "reading the result"))?;
        if let Some(kind) = function_error {
            return Err(self.error(
                502,
                format!(
                    "function error ({kind}): {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            ));
        }
        if !status.is_success() {
            return Err(self.error(502, format!("invoke endpoint answered {status}")));
        }
        Ok(body.to_vec())
    }
}
