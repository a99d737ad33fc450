//! Opening the store the settings name.

use std::sync::Arc;

use super::event_store::EventQueue;
use super::nats::NatsQueue;
use super::sqlite::SqliteQueue;
use crate::config::{QueueBackend, QueueSettings};

/// Opens the store `settings` name; with the number of events that were in flight when the
/// previous process stopped (they run again), when the store can tell.
pub fn open(settings: &QueueSettings) -> anyhow::Result<(Arc<EventQueue>, u64)> {
    match &settings.backend {
        QueueBackend::Sqlite { .. } => {
            let (queue, recovered) = SqliteQueue::open(settings)?;
            Ok((Arc::new(queue), recovered))
        }
        QueueBackend::Nats { .. } => Ok((Arc::new(NatsQueue::open(settings)?), 0)),
    }
}
