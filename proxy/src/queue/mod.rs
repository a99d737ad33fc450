//! The durable queue behind event invocations: events waiting for (another) attempt, and named
//! queues of messages (destination records, dead letters) an operator reads and redrives.
//!
//! An event is stored before the viewer gets its 202 and leaves the queue only when its
//! outcome has been delivered, so every accepted event is processed at least once, across
//! crashes and restarts. Two stores speak [`EventStore`]: `sqlite.rs`, one SQLite database in
//! the node's data directory (the default), and `nats.rs`, NATS JetStream streams shared by a
//! fleet, so an event accepted by any node is processed by any node.

mod event_store;
mod nats;
mod open;
mod sqlite;
#[cfg(test)]
mod tests;

pub use event_store::*;
pub use open::open;
