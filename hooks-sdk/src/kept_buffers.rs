//! Buffers that carried header edits to the host, kept for the next edits. A warm environment
//! runs invocation after invocation; queuing an edit in fresh buffers cost three guest
//! allocations (name, value, line list) and their frees, each dearer than the host's work on
//! the edit.

use std::cell::RefCell;

use crate::bindings::edge::hooks::types as wit;

/// Most buffers kept of each kind.
const MAX_KEPT: usize = 32;
/// Largest string kept: a hook that once set a huge header does not hold its memory.
const MAX_KEPT_BYTES: usize = 4096;

#[derive(Default)]
struct Kept {
    strings: Vec<String>,
    edit_lists: Vec<Vec<wit::HeaderEdit>>,
}

impl Kept {
    fn string(&mut self, mut s: String) {
        if s.capacity() > 0 && s.capacity() <= MAX_KEPT_BYTES && self.strings.len() < MAX_KEPT {
            s.clear();
            self.strings.push(s);
        }
    }
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::default();
}

/// `text` in a kept string, or in a new one (an empty one allocates nothing).
pub(crate) fn string(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut s = KEPT
        .with_borrow_mut(|k| k.strings.pop())
        .unwrap_or_default();
    s.push_str(text);
    s
}

/// An empty edit list, kept or new.
pub(crate) fn edit_list() -> Vec<wit::HeaderEdit> {
    KEPT.with_borrow_mut(|k| k.edit_lists.pop())
        .unwrap_or_default()
}

/// Keeps the buffers of `edits`, sent to the host, for later edits.
pub(crate) fn keep(mut edits: Vec<wit::HeaderEdit>) {
    KEPT.with_borrow_mut(|k| {
        for edit in edits.drain(..) {
            k.string(edit.name);
            k.string(edit.key);
            k.string(edit.value);
        }
        if edits.capacity() > 0 && k.edit_lists.len() < MAX_KEPT {
            k.edit_lists.push(edits);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: String) -> wit::HeaderEdit {
        wit::HeaderEdit {
            kind: wit::EditKind::Set,
            name: name.to_string(),
            key: String::new(),
            value,
        }
    }

    #[test]
    fn the_buffers_of_sent_edits_serve_the_next_ones() {
        let value = String::with_capacity(100);
        let edits = vec![set("x-a", value)];
        let edits_capacity = edits.capacity();
        keep(edits);
        assert_eq!(edit_list().capacity(), edits_capacity);
        // An empty string (a key left to its canonical form) takes no kept buffer.
        assert_eq!(string("").capacity(), 0);
        // The value's buffer (the largest) and the name's are both kept, emptied.
        let kept: Vec<String> = (0..2).map(|_| string("v")).collect();
        assert!(kept.iter().any(|s| s.capacity() == 100));
        assert!(kept.iter().all(|s| s == "v"));
    }

    #[test]
    fn a_huge_buffer_is_not_kept() {
        keep(vec![set("x-a", String::with_capacity(MAX_KEPT_BYTES + 1))]);
        let kept: Vec<String> = (0..2).map(|_| string("v")).collect();
        assert!(kept.iter().all(|s| s.capacity() <= MAX_KEPT_BYTES));
    }
}
