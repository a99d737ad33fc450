//! A generation's origins in one table. A request resolves its origin once, when its behavior
//! matches (or an origin-request hook names another), and from then on reaches the origin, its
//! name, its presentation to origin events and its latency series by index: a name kept per
//! request was a string copied per request and hashed by every phase that needed the origin.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use prometheus::{Histogram, HistogramVec};

use super::OriginHandle;
use edge_event::CfOrigin;

/// Where an origin is in its generation's table; meaningless in another generation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginId(usize);

/// A configured origin, with what requests need of it beside its handle.
pub struct ConfiguredOrigin {
    /// Its name in the configuration (`[origins.<name>]`), as metrics and logs label it.
    pub name: String,
    /// What serves it.
    pub handle: OriginHandle,
    /// As origin events show it (`request.origin`), made once.
    pub shown: Arc<CfOrigin>,
    /// Its `edge_origin_latency_seconds` series, made on the first response it sends (a series
    /// shows in `/metrics` once it exists).
    latency: OnceLock<Histogram>,
}

impl ConfiguredOrigin {
    /// Its series of `latencies` (`edge_origin_latency_seconds`).
    pub fn latency(&self, latencies: &HistogramVec) -> &Histogram {
        self.latency
            .get_or_init(|| latencies.with_label_values(&[self.name.as_str()]))
    }
}

/// Every origin of a generation, by index and by name.
#[derive(Default)]
pub struct OriginTable {
    origins: Vec<ConfiguredOrigin>,
    by_name: HashMap<String, OriginId>,
}

impl OriginTable {
    /// Adds origin `name`, shown to origin events as `shown`.
    pub fn add(&mut self, name: &str, handle: OriginHandle, shown: CfOrigin) -> OriginId {
        let id = OriginId(self.origins.len());
        self.origins.push(ConfiguredOrigin {
            name: name.to_string(),
            handle,
            shown: Arc::new(shown),
            latency: OnceLock::new(),
        });
        self.by_name.insert(name.to_string(), id);
        id
    }

    /// The index of origin `name`, if configured.
    pub fn id(&self, name: &str) -> Option<OriginId> {
        self.by_name.get(name).copied()
    }

    /// The origin at `id` (an index this table gave).
    pub fn get(&self, id: OriginId) -> &ConfiguredOrigin {
        &self.origins[id.0]
    }

    /// Origin `name`'s handle, if configured.
    pub fn handle(&self, name: &str) -> Option<&OriginHandle> {
        self.id(name).map(|id| &self.get(id).handle)
    }

    /// Every origin, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &ConfiguredOrigin> {
        self.origins.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilesOrigin;
    use crate::origins::FilesBucket;
    use prometheus::HistogramOpts;

    fn files_origin() -> OriginHandle {
        let config = FilesOrigin {
            root: std::env::temp_dir(),
            index: None,
        };
        OriginHandle::Files(FilesBucket::new(&config).unwrap())
    }

    #[test]
    fn an_origin_is_found_by_the_index_its_name_resolves_to() {
        let mut table = OriginTable::default();
        let first = table.add("first", files_origin(), CfOrigin::Named("first".into()));
        let second = table.add("second", files_origin(), CfOrigin::Named("second".into()));
        assert_ne!(first, second);
        assert_eq!(table.id("second"), Some(second));
        assert_eq!(table.get(second).name, "second");
        assert_eq!(*table.get(first).shown, CfOrigin::Named("first".into()));
        assert!(table.id("third").is_none());
        assert!(table.handle("third").is_none());
        assert!(matches!(
            table.handle("first"),
            Some(OriginHandle::Files(_))
        ));
        let names: Vec<&str> = table.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
    }

    #[test]
    fn an_origins_latency_series_is_labelled_with_its_name_and_made_once() {
        let mut table = OriginTable::default();
        let id = table.add("site", files_origin(), CfOrigin::Named("site".into()));
        let latencies =
            HistogramVec::new(HistogramOpts::new("latency", "test"), &["origin"]).unwrap();
        table.get(id).latency(&latencies).observe(0.5);
        table.get(id).latency(&latencies).observe(1.5);
        let series = latencies.with_label_values(&["site"]);
        assert_eq!(series.get_sample_count(), 2);
        assert_eq!(series.get_sample_sum(), 2.0);
    }
}
