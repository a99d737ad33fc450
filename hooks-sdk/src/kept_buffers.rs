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
    line_lists: Vec<Vec<wit::Header>>,
    edit_lists: Vec<Vec<wit::HeaderEdit>>,
}

impl Kept {
    fn string(&mut self, mut s: String) {
        if s.capacity() > 0 && s.capacity() <= MAX_KEPT_BYTES && self.strings.len() < MAX_KEPT {
            s.clear();
            self.strings.push(s);
        }
    }

    fn line(&mut self, line: wit::Header) {
        self.string(line.key);
        self.string(line.value);
    }
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::default();
}

/// `text` in a kept string, or in a new one.
pub(crate) fn string(text: &str) -> String {
    let mut s = KEPT
        .with_borrow_mut(|k| k.strings.pop())
        .unwrap_or_default();
    s.push_str(text);
    s
}

/// An empty line list, kept or new.
pub(crate) fn line_list() -> Vec<wit::Header> {
    KEPT.with_borrow_mut(|k| k.line_lists.pop())
        .unwrap_or_default()
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
            match edit {
                wit::HeaderEdit::Set((name, mut lines)) => {
                    k.string(name);
                    for line in lines.drain(..) {
                        k.line(line);
                    }
                    if lines.capacity() > 0 && k.line_lists.len() < MAX_KEPT {
                        k.line_lists.push(lines);
                    }
                }
                wit::HeaderEdit::Append((name, line)) => {
                    k.string(name);
                    k.line(line);
                }
                wit::HeaderEdit::Delete(name) => k.string(name),
            }
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
        let line = wit::Header {
            key: String::new(),
            value,
        };
        wit::HeaderEdit::Set((name.to_string(), vec![line]))
    }

    #[test]
    fn the_buffers_of_sent_edits_serve_the_next_ones() {
        let value = String::with_capacity(100);
        let edits = vec![set("x-a", value)];
        let edits_capacity = edits.capacity();
        keep(edits);
        assert_eq!(edit_list().capacity(), edits_capacity);
        assert_eq!(line_list().capacity(), 1);
        // The value's buffer (the largest) and the name's are both kept, emptied.
        let kept: Vec<String> = (0..2).map(|_| string("")).collect();
        assert!(kept.iter().any(|s| s.capacity() == 100));
        assert!(kept.iter().all(String::is_empty));
    }

    #[test]
    fn a_huge_buffer_is_not_kept() {
        keep(vec![set("x-a", String::with_capacity(MAX_KEPT_BYTES + 1))]);
        let kept: Vec<String> = (0..2).map(|_| string("")).collect();
        assert!(kept.iter().all(|s| s.capacity() <= MAX_KEPT_BYTES));
    }
}
