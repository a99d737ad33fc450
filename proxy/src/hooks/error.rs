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
/// Why a guest failed, in its own words: what it last wrote to stderr before trapping. A Rust
/// panic's location and message (`panicked at src/lib.rs:9:5: no user`), else the last line
/// that is not a hint (Python's `ValueError: …` after its traceback); `None` when it said
/// nothing.
pub(super) fn guest_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let message = match lines.iter().rposition(|l| l.contains("panicked at ")) {
        Some(at) => {
            let place = lines[at].split_once("panicked at ").expect("found").1;
            let said: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
                .copied()
                .collect();
            match place.strip_suffix(':') {
                Some(place) => format!("panicked at {place}: {}", said.join(" ")),
                None => format!("panicked at {place}"),
            }
        }
        None => lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))?
            .trim()
            .to_string(),
    };
    let mut message = message.trim().to_string();
    if message.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| message.is_char_boundary(i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push('…');
    }
    Some(message)
}

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

#[cfg(test)]
mod tests {
    use super::guest_message;

    #[test]
    fn a_rust_panic_is_named_by_its_location_and_message() {
        let stderr = b"starting\nthread '<unnamed>' panicked at src/lib.rs:24:18:\nprobe was asked to trap\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            guest_message(stderr).unwrap(),
            "panicked at src/lib.rs:24:18: probe was asked to trap"
        );
        // Rust before 1.73 put the message first.
        let old = b"thread 'main' panicked at 'boom', src/lib.rs:1:1\nnote: run with\n";
        assert_eq!(
            guest_message(old).unwrap(),
            "panicked at 'boom', src/lib.rs:1:1"
        );
    }

    #[test]
    fn other_guests_are_named_by_their_last_line() {
        let python = b"Traceback (most recent call last):\n  File \"app.py\", line 9, in handle\n    raise ValueError(\"no user\")\nValueError: no user\n";
        assert_eq!(guest_message(python).unwrap(), "ValueError: no user");
        assert_eq!(guest_message(b""), None);
        assert_eq!(guest_message(b"\n  \n"), None);
        let long = "x".repeat(1000);
        assert!(guest_message(long.as_bytes()).unwrap().chars().count() <= 301);
    }
}
