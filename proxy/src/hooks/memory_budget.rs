//! `[node] hooks-memory-mb`: one budget for the linear memory of every execution environment
//! together. Each function's `memory-mb` bounds one environment; without a node-wide bound, many
//! warm environments (or many functions) could together outgrow the machine.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Something holding idle environments that can give them up when memory is short.
pub trait IdleEnvironments: Send + Sync {
    /// Drops every idle environment, returning how many.
    fn drop_idle(&self) -> usize;
}

/// Linear memory granted to environments, against an optional limit.
#[derive(Default)]
pub struct MemoryBudget {
    /// Bytes; `None` is no node-wide limit.
    limit: Option<usize>,
    used: AtomicUsize,
    recycled: AtomicU64,
    holders: Mutex<Vec<Weak<dyn IdleEnvironments>>>,
}

/// A grant refused by the node-wide budget.
#[derive(Debug, thiserror::Error)]
#[error("the node's hooks-memory-mb budget of {limit_mb} MB is used ({used_mb} MB by running environments)")]
pub struct BudgetExhausted {
    /// The budget, MB.
    pub limit_mb: usize,
    /// Granted when the request was refused, MB.
    pub used_mb: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes (`None`: unlimited).
    pub fn new(limit: Option<usize>) -> Self {
        MemoryBudget {
            limit,
            ..Default::default()
        }
    }

    /// Grants `bytes` more, unless that would pass the limit.
    pub fn charge(&self, bytes: usize) -> Result<(), BudgetExhausted> {
        let granted = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.checked_add(bytes)?;
                self.limit.is_none_or(|l| after <= l).then_some(after)
            });
        granted.map(|_| ()).map_err(|used| BudgetExhausted {
            limit_mb: self.limit.unwrap_or(usize::MAX) >> 20,
            used_mb: used.div_ceil(1 << 20),
        })
    }

    /// Returns `bytes` an environment no longer holds.
    pub fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes granted now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The limit in bytes, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Idle environments dropped to make room, since start.
    pub fn recycled(&self) -> u64 {
        self.recycled.load(Ordering::Relaxed)
    }

    /// Registers a holder of idle environments that [`MemoryBudget::recycle_idle`] may empty.
    pub fn register(&self, holder: Weak<dyn IdleEnvironments>) {
        let mut holders = self.holders.lock().expect("holders lock");
        holders.retain(|h| h.strong_count() > 0);
        holders.push(holder);
    }

    /// Drops every idle environment of every live holder, returning how many: a cold start the
    /// budget refused gets the memory of environments nobody is using.
    pub fn recycle_idle(&self) -> usize {
        let holders: Vec<Arc<dyn IdleEnvironments>> = self
            .holders
            .lock()
            .expect("holders lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let dropped = holders.iter().map(|h| h.drop_idle()).sum::<usize>();
        self.recycled.fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stop_at_the_limit_and_released_bytes_can_be_granted_again() {
        let budget = MemoryBudget::new(Some(10 << 20));
        budget.charge(6 << 20).unwrap();
        let refused = budget.charge(5 << 20).unwrap_err();
        assert_eq!((refused.limit_mb, refused.used_mb), (10, 6));
        budget.release(6 << 20);
        budget.charge(10 << 20).unwrap();
        assert_eq!(budget.used(), 10 << 20);
    }

    #[test]
    fn without_a_limit_everything_is_granted() {
        let budget = MemoryBudget::new(None);
        budget.charge(usize::MAX / 2).unwrap();
        assert_eq!(budget.used(), usize::MAX / 2);
    }

    struct Pool(Mutex<usize>);
    impl IdleEnvironments for Pool {
        fn drop_idle(&self) -> usize {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    #[test]
    fn recycling_empties_every_live_holder_and_counts() {
        let budget = MemoryBudget::new(Some(1));
        let a: Arc<dyn IdleEnvironments> = Arc::new(Pool(Mutex::new(2)));
        let b: Arc<dyn IdleEnvironments> = Arc::new(Pool(Mutex::new(3)));
        budget.register(Arc::downgrade(&a));
        budget.register(Arc::downgrade(&b));
        drop(b);
        assert_eq!(budget.recycle_idle(), 2);
        assert_eq!(budget.recycle_idle(), 0);
        assert_eq!(budget.recycled(), 2);
    }
}
