//! Header maps as Lambda@Edge shows them: lowercase name → lines, each with the name as sent.

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLine {
    /// Lowercase name.
    pub name: String,
    /// The name as sent (or as the hook wrote it).
    pub key: String,
    /// The value.
    pub value: String,
}

impl HeaderLine {
    /// A line named `name` (lowercase); an empty `key` becomes the canonical form of `name`, as
    /// Lambda@Edge fills in a missing `key`.
    pub fn new(name: String, key: String, value: String) -> Self {
        let key = if key.is_empty() {
            // `name` is lowercase already: copied, not lowercased again.
            capitalize_words(name.as_bytes().to_vec())
        } else {
            key
        };
        HeaderLine { name, key, value }
    }
}

/// An ordered list of header lines: repeated names are kept (two `Set-Cookie` survive) and order
/// is preserved, as in the `[{key, value}]` arrays of the Lambda@Edge event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    lines: Vec<HeaderLine>,
}

impl HeaderList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `lines` lines.
    pub fn with_capacity(lines: usize) -> Self {
        HeaderList {
            lines: Vec::with_capacity(lines),
        }
    }

    /// Appends a line; `key` defaults to the canonical form of `name` when empty, as
    /// Lambda@Edge fills in a missing `key`.
    pub fn append(&mut self, name: &str, key: &str, value: &str) {
        self.lines.push(HeaderLine::new(
            name.to_ascii_lowercase(),
            key.to_string(),
            value.to_string(),
        ));
    }

    /// Appends a line whose `name` is already lowercase.
    pub fn push(&mut self, line: HeaderLine) {
        self.lines.push(line);
    }

    /// Lines named `name` (any case).
    pub fn get<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a HeaderLine> + 'n
    where
        'a: 'n,
    {
        // Stored names are lowercase, so comparing ignoring case needs no lowercased copy.
        self.lines
            .iter()
            .filter(move |l| l.name.eq_ignore_ascii_case(name))
    }

    /// Whether a line is named `name` (already lowercase).
    pub fn contains(&self, name: &str) -> bool {
        self.lines.iter().any(|l| l.name == name)
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name).next().map(|l| l.value.as_str())
    }

    /// Replaces every line of `name` (any case; lowercased in place) with `lines`, placed where
    /// the first old line was; an empty `key` is filled in as by [`HeaderLine::new`].
    pub fn set(&mut self, mut name: String, lines: impl IntoIterator<Item = (String, String)>) {
        name.make_ascii_lowercase();
        let line = |(key, value): (String, String)| HeaderLine::new(name.clone(), key, value);
        let Some(at) = self.lines.iter().position(|l| l.name == name) else {
            // A new name (the usual case for hooks adding headers): append, nothing to remove;
            // the last line takes the name itself (most sets write one line).
            let mut lines = lines.into_iter().peekable();
            while let Some((key, value)) = lines.next() {
                let name = match lines.peek() {
                    Some(_) => name.clone(),
                    None => std::mem::take(&mut name),
                };
                self.lines.push(HeaderLine::new(name, key, value));
            }
            return;
        };
        // The first new line takes the first old line's place, later old lines go, and later new
        // lines follow it: replacing one line with one line moves nothing.
        let mut new = lines.into_iter().map(line);
        let Some(first) = new.next() else {
            self.lines.retain(|l| l.name != name);
            return;
        };
        self.lines[at] = first;
        let mut index = 0;
        self.lines.retain(|l| {
            let keep = index <= at || l.name != name;
            index += 1;
            keep
        });
        self.lines.splice(at + 1..at + 1, new);
    }

    /// Replaces every line of `line.name` (lowercase) with `line`, placed where the first old
    /// line was: [`HeaderList::set`] of one line, for a line already made.
    pub fn replace(&mut self, line: HeaderLine) {
        let Some(at) = self.lines.iter().position(|l| l.name == line.name) else {
            self.lines.push(line);
            return;
        };
        if self.lines[at + 1..].iter().any(|l| l.name == line.name) {
            let mut index = 0;
            self.lines.retain(|l| {
                let keep = index <= at || l.name != line.name;
                index += 1;
                keep
            });
        }
        self.lines[at] = line;
    }

    /// [`HeaderList::replace`], moving the lines it replaces to the end of `replaced`, in order
    /// (so an edit can be undone without a copy made beforehand).
    pub fn replace_into(&mut self, line: HeaderLine, replaced: &mut Vec<HeaderLine>) {
        let Some(at) = self.lines.iter().position(|l| l.name == line.name) else {
            self.lines.push(line);
            return;
        };
        replaced.push(std::mem::replace(&mut self.lines[at], line));
        let mut index = at + 1;
        while index < self.lines.len() {
            if self.lines[index].name == self.lines[at].name {
                replaced.push(self.lines.remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// Removes every line of `name` (lowercase), moving them to the end of `deleted`, in order.
    pub fn delete_into(&mut self, name: &str, deleted: &mut Vec<HeaderLine>) {
        let mut index = 0;
        while index < self.lines.len() {
            if self.lines[index].name == name {
                deleted.push(self.lines.remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// Removes every line of `name`.
    pub fn delete(&mut self, name: &str) {
        self.lines.retain(|l| !l.name.eq_ignore_ascii_case(name));
    }

    /// Keeps only the lines `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&HeaderLine) -> bool) {
        self.lines.retain(keep);
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderLine> {
        self.lines.iter()
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes of `key: value\r\n` over every line, for size limits.
    pub fn wire_size(&self) -> usize {
        self.lines
            .iter()
            .map(|l| l.key.len() + l.value.len() + 4)
            .sum()
    }

    /// The values of `name`, in order, as one comparable list.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.get(name).map(|l| l.value.as_str()).collect()
    }
}

impl IntoIterator for HeaderList {
    type Item = HeaderLine;
    type IntoIter = std::vec::IntoIter<HeaderLine>;

    fn into_iter(self) -> Self::IntoIter {
        self.lines.into_iter()
    }
}

/// `user-agent` → `User-Agent`: what Lambda@Edge puts in `key` when a function omits it.
pub fn canonical_key(name: &str) -> String {
    capitalize_words(name.to_ascii_lowercase().into_bytes())
}

/// `key` (lowercase UTF-8) with each word's first byte raised, the scan going from hyphen to
/// hyphen: a hook that sets a header without a key pays for this on every line it writes.
/// Raising an ASCII letter leaves the bytes UTF-8, which the check at the end confirms in its
/// ASCII fast path.
fn capitalize_words(mut key: Vec<u8>) -> String {
    let mut word = key.as_mut_slice();
    while let Some((first, rest)) = word.split_first_mut() {
        first.make_ascii_uppercase();
        if *first == b'-' {
            // An empty word: the next byte starts one too.
            word = rest;
            continue;
        }
        // Straight to the next word: most of a name's bytes are not word starts.
        let Some(hyphen) = rest.iter().position(|&b| b == b'-') else {
            break;
        };
        word = &mut rest[hyphen + 1..];
    }
    String::from_utf8(key).expect("raising ASCII letters keeps a string UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_is_filled_with_initial_capitals() {
        assert_eq!(canonical_key("user-agent"), "User-Agent");
        assert_eq!(canonical_key("x-frame-options"), "X-Frame-Options");
        assert_eq!(canonical_key("WWW-AUTHENTICATE"), "Www-Authenticate");
        assert_eq!(canonical_key("a--b-"), "A--B-");
        assert_eq!(canonical_key("é-tag-ü"), "é-Tag-ü");
        assert_eq!(canonical_key(""), "");
        assert_eq!(canonical_key("-x-"), "-X-");
        assert_eq!(canonical_key("ü-ÿ-q"), "ü-ÿ-Q");
        let mut h = HeaderList::new();
        h.append("Content-Type", "", "text/html");
        assert_eq!(h.iter().next().unwrap().key, "Content-Type");
    }

    #[test]
    fn every_word_of_a_key_starts_with_a_capital_whatever_its_hyphens() {
        // Every name of up to five characters from letters of both cases, a hyphen and a
        // non-ASCII letter, against the rule stated byte by byte.
        fn by_rule(name: &str) -> String {
            let mut word_start = true;
            name.chars()
                .map(|c| {
                    let c = if word_start {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    word_start = c == '-';
                    c
                })
                .collect()
        }
        let alphabet = ['a', 'B', '-', 'é'];
        let mut names = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            for name in &longer {
                assert_eq!(canonical_key(name), by_rule(name), "{name:?}");
            }
            names = longer;
        }
    }
    #[test]
    fn replacing_or_deleting_into_a_vec_moves_out_the_lines_it_removes() {
        let mut h = HeaderList::new();
        h.append("set-cookie", "Set-Cookie", "x=1");
        h.append("a", "A", "1");
        h.append("set-cookie", "set-cookie", "y=2");
        let mut plain = h.clone();
        let mut removed = Vec::new();
        let line = || HeaderLine::new("set-cookie".into(), String::new(), "z=3".into());
        h.replace_into(line(), &mut removed);
        plain.replace(line());
        assert_eq!(h, plain, "replaced as replace does");
        assert_eq!(
            removed.iter().map(|l| l.value.as_str()).collect::<Vec<_>>(),
            ["x=1", "y=2"]
        );
        h.delete_into("a", &mut removed);
        assert_eq!(h.values("a"), Vec::<&str>::new());
        assert_eq!(removed.last().unwrap().value, "1");
        h.replace_into(
            HeaderLine::new("b".into(), String::new(), "2".into()),
            &mut removed,
        );
        assert_eq!(h.values("b"), ["2"]);
        assert_eq!(removed.len(), 3, "a new name removes nothing");
    }

    #[test]
    fn replace_puts_one_line_where_the_first_was() {
        let mut h = HeaderList::new();
        h.append("set-cookie", "Set-Cookie", "x=1");
        h.append("a", "A", "1");
        h.append("set-cookie", "set-cookie", "y=2");
        h.replace(HeaderLine::new(
            "set-cookie".into(),
            String::new(),
            "z=3".into(),
        ));
        assert_eq!(
            h.iter()
                .map(|l| (l.key.as_str(), l.value.as_str()))
                .collect::<Vec<_>>(),
            [("Set-Cookie", "z=3"), ("A", "1")]
        );
        h.replace(HeaderLine::new("a".into(), "a".into(), "2".into()));
        h.replace(HeaderLine::new("b".into(), String::new(), "3".into()));
        assert_eq!(
            h.iter()
                .map(|l| (l.key.as_str(), l.value.as_str()))
                .collect::<Vec<_>>(),
            [("Set-Cookie", "z=3"), ("a", "2"), ("B", "3")]
        );
    }

    #[test]
    fn set_replaces_in_place_and_keeps_repeats() {
        let mut h = HeaderList::new();
        h.append("a", "A", "1");
        h.append("set-cookie", "Set-Cookie", "x=1");
        h.append("set-cookie", "Set-Cookie", "y=2");
        h.append("b", "B", "2");
        assert_eq!(h.values("set-cookie"), ["x=1", "y=2"]);
        h.set("A".into(), [(String::new(), "9".to_string())]);
        assert_eq!(
            h.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["a", "set-cookie", "set-cookie", "b"]
        );
        h.set(
            "set-cookie".into(),
            [
                (String::new(), "z=3".to_string()),
                ("SET-COOKIE".into(), "w=4".into()),
            ],
        );
        assert_eq!(h.values("set-cookie"), ["z=3", "w=4"]);
        assert_eq!(
            h.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(),
            ["A", "Set-Cookie", "SET-COOKIE", "B"]
        );
        h.set("set-cookie".into(), [(String::new(), "v=5".to_string())]);
        assert_eq!(
            h.iter().map(|l| l.value.as_str()).collect::<Vec<_>>(),
            ["9", "v=5", "2"]
        );
        h.set(
            "X-New".into(),
            [
                (String::new(), "1".to_string()),
                ("x-NEW".into(), "2".into()),
            ],
        );
        assert_eq!(h.values("x-new"), ["1", "2"]);
        assert!(h.get("x-new").all(|l| l.name == "x-new"));
        assert_eq!(
            h.get("x-new").map(|l| l.key.as_str()).collect::<Vec<_>>(),
            ["X-New", "x-NEW"]
        );
        h.delete("x-new");
        h.append("set-cookie", "", "u=6");
        h.delete("SET-COOKIE");
        assert_eq!(h.len(), 2);
    }
}
