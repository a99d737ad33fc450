//! Why an invocation failed, and the one place that decides which status the viewer gets.

use std::fmt;

use edge_event::EventType;

/// Where a function ran: at a CloudFront trigger, or as an ALB target group's function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A hook at one of the four triggers.
    Edge(EventType),
    /// The function behind a target group (by origin name).
    TargetGroup(String),
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Edge(e) => write!(f, "at {e}"),
            Trigger::TargetGroup(name) => write!(f, "for target group \"{name}\""),
        }
    }
}

/// A failed hook invocation. Every variant names the function and trigger so one log line says
/// what went wrong where.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// More invocations in flight than `max-concurrency` ("Lambda limit exceeded").
    #[error("function \"{function}\" {trigger}: throttled at max-concurrency {limit}")]
    Throttled {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// The configured limit.
        limit: usize,
    },
    /// Ran past its timeout.
    #[error("function \"{function}\" {trigger}: timed out after {timeout_ms} ms")]
    Timeout {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// Trapped (panic, unreachable, out of bounds, memory limit, …) or failed to start.
    #[error("function \"{function}\" {trigger}: {reason}")]
    Trap {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// What the trap said.
        reason: String,
    },
    /// Used more CPU than its `cpu-budget-ms` (Workers' "exceeded CPU time limit").
    #[error(
        "function \"{function}\" {trigger}: stopped after {budget_ms} ms of CPU (cpu-budget-ms)"
    )]
    CpuBudget {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// The configured budget.
        budget_ms: u64,
    },
    /// No memory left in the node's `hooks-memory-mb` for a cold start or a memory grow.
    #[error("function \"{function}\" {trigger}: {reason}")]
    MemoryBudget {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// What the budget said.
        reason: String,
    },
    /// Returned `Err` (a function error, like a Lambda handler throwing).
    #[error("function \"{function}\" {trigger}: function error: {message}")]
    FunctionError {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// The error the function returned.
        message: String,
    },
    /// Returned something CloudFront would reject ("Lambda validation error").
    #[error("function \"{function}\" {trigger}: invalid result: {reason}")]
    Invalid {
        /// Function name.
        function: String,
        /// Where it ran.
        trigger: Trigger,
        /// Which rule it broke.
        reason: String,
    },
}

impl HookError {
    /// The status the viewer gets. At a CloudFront trigger: 502 for a validation error, 503 for
    /// an execution error, timeout, throttle or exhausted budget. Behind a target group, as the ALB documents:
    /// 502 for all of them.
    pub fn status(&self) -> u16 {
        match (self, self.trigger()) {
            (_, Trigger::TargetGroup(_)) => 502,
            (HookError::Invalid { .. }, _) => 502,
            _ => 503,
        }
    }

    fn trigger(&self) -> &Trigger {
        match self {
            HookError::Throttled { trigger, .. }
            | HookError::Timeout { trigger, .. }
            | HookError::CpuBudget { trigger, .. }
            | HookError::MemoryBudget { trigger, .. }
            | HookError::Trap { trigger, .. }
            | HookError::FunctionError { trigger, .. }
            | HookError::Invalid { trigger, .. } => trigger,
        }
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            HookError::Throttled { .. } => "throttled",
            HookError::Timeout { .. } => "timeout",
            HookError::CpuBudget { .. } => "cpu-budget",
            HookError::MemoryBudget { .. } => "memory-budget",
            HookError::Trap { .. } => "trap",
            HookError::FunctionError { .. } => "function-error",
            HookError::Invalid { .. } => "invalid",
        }
    }
}

/// One line saying why a call trapped: the trap code, or the host error that stopped it (such
/// as the memory limit).
pub(super) fn trap_reason(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("trapped: {trap}"),
        None => format!("{}", e.root_cause())
            .lines()
            .next()
            .unwrap_or("trapped")
            .to_string(),
    }
}
