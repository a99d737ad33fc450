//! What a hook changed in the header map it returned. The host records each edit as the guest
//! makes it, so validation and the wire touch only the names that changed instead of comparing
//! every line before and after.

/// Which names of a returned header map may differ from the event's, with what the trigger's
/// read-only headers were before the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Lowercase names the hook set, appended to or deleted; `None` when the hook returned a map
    /// other than the event's (every name may differ).
    pub changed: Option<Vec<String>>,
    /// Values of the trigger's read-only headers before the call: those in `changed`, or all of
    /// them when `changed` is `None`.
    pub read_only_before: Vec<(String, Vec<String>)>,
}

impl HeaderEdits {
    /// Edits of a map the hook built itself (a generated response): every name is new.
    pub fn replaced() -> Self {
        HeaderEdits::default()
    }

    /// Whether `name` (lowercase) may have changed.
    pub fn touches(&self, name: &str) -> bool {
        match &self.changed {
            None => true,
            Some(names) => names.iter().any(|n| n == name),
        }
    }

    /// The values read-only header `name` had before the call (empty when it was absent).
    pub fn before(&self, name: &str) -> &[String] {
        self.read_only_before
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
}
