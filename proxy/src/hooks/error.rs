//! Why an invocation failed, and the one place that decides which status the viewer gets.

use crate::events::EventType;

/// A failed hook invocation. Every variant names the function and trigger so one log line says
/// what went wrong where.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// More invocations in flight than `max-concurrency` ("Lambda limit exceeded").
    #[error("function \"{function}\" at {event_type}: throttled at max-concurrency {limit}")]
    Throttled {
        /// Function name.
        function: String,
        /// Trigger.
        event_type: EventType,
        /// The configured limit.
        limit: usize,
    },
    /// Ran past its timeout.
    #[error("function \"{function}\" at {event_type}: timed out after {timeout_ms} ms")]
    Timeout {
        /// Function name.
        function: String,
        /// Trigger.
        event_type: EventType,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// Trapped (panic, unreachable, out of bounds, memory limit, …) or failed to start.
    #[error("function \"{function}\" at {event_type}: {reason}")]
    Trap {
        /// Function name.
        function: String,
        /// Trigger.
        event_type: EventType,
        /// What the trap said.
        reason: String,
    },
    /// Returned `Err` (a function error, like a Lambda handler throwing).
    #[error("function \"{function}\" at {event_type}: function error: {message}")]
    FunctionError {
        /// Function name.
        function: String,
        /// Trigger.
        event_type: EventType,
        /// The error the function returned.
        message: String,
    },
    /// Returned something CloudFront would reject ("Lambda validation error").
    #[error("function \"{function}\" at {event_type}: invalid result: {reason}")]
    Invalid {
        /// Function name.
        function: String,
        /// Trigger.
        event_type: EventType,
        /// Which rule it broke.
        reason: String,
    },
}

impl HookError {
    /// The status the viewer gets, as CloudFront documents it: 502 for a validation error,
    /// 503 for an execution error, timeout or throttle.
    pub fn status(&self) -> u16 {
        match self {
            HookError::Invalid { .. } => 502,
            _ => 503,
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            HookError::Throttled { .. } => "throttled",
            HookError::Timeout { .. } => "timeout",
            HookError::Trap { .. } => "trap",
            HookError::FunctionError { .. } => "function-error",
            HookError::Invalid { .. } => "invalid",
        }
    }
}
