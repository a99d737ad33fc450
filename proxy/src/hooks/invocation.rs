//! What one invocation holds on the host while the guest runs: the event's header maps with the
//! edits made to them, the changes to the event's request, and the responses. The resources'
//! host code (`headers.rs`, `request.rs`, `response.rs`) reads and changes these; `convert.rs`
//! builds the outcome from them.

use std::sync::Arc;

use super::lent::LentHeaders;
use edge_event::{BodyEncoding, CfBody, CfOrigin, HeaderEdits, HeaderLine, HeaderList};

/// Index of the event's request headers among the invocation's header maps.
pub(crate) const REQUEST_MAP: usize = 0;
/// Index of the event's response headers among the invocation's header maps.
pub(crate) const RESPONSE_MAP: usize = 1;
/// Index of the event's response among the invocation's responses (response events).
pub(crate) const EVENT_RESPONSE: usize = 0;

/// One header map of the current invocation, with the edits made to it so far.
#[derive(Debug, Default)]
pub(crate) struct HostHeaderMap {
    /// The lines: of a map the hook made, of the event's list, or of a lent map once listed
    /// whole (until then, empty).
    list: HeaderList,
    /// A map the proxy lent, read in place until a hook lists it whole.
    lent: Option<Arc<dyn LentHeaders>>,
    /// The lent map once listed whole, kept so an abandoned call can lend it again.
    listed: Option<Arc<dyn LentHeaders>>,
    /// Whether the event's list held here must be given back as it came should the call be
    /// abandoned (a call that may outgrow the synchronous path and run again).
    keeps_original: bool,
    /// When `keeps_original`: the lines each name in `changed` had before its first edit,
    /// moved out by that edit (most hooks add names, which had none, and most calls edit
    /// nothing).
    original_lines: Vec<HeaderLine>,
    /// Whether the next edit is the first of a name the event's list has lines of, which it
    /// moves to `original_lines`.
    saving: bool,
    /// Edits made to `lent` while it is read in place, in order: made on a name's lines when
    /// the hook reads that name, and on the whole map when it is listed.
    pending: Vec<Edit>,
    /// Lines `pending` adds, for the bound on a map's size.
    pending_lines: usize,
    /// Edits made so far, for the bound on the host's work per invocation.
    edits: usize,
    /// Lowercase names set, appended to or deleted, in first-edit order.
    pub(crate) changed: Vec<String>,
    /// Lines of read-only headers as they were before their first edit.
    pub(crate) read_only_before: Vec<(String, Vec<String>)>,
}

/// A header map as an invocation was given it: see [`HostHeaderMap::give_back`].
pub(crate) enum GivenBack {
    Lent(Arc<dyn LentHeaders>),
    List(HeaderList),
}

/// One edit to a header map; names lowercase. Flat, as the contract's: several lines of one
/// name are a `Set` and `Append`s.
#[derive(Debug, Clone)]
enum Edit {
    /// Every line of the name replaced by this one.
    Set(HeaderLine),
    Append(HeaderLine),
    Delete(String),
}

impl Edit {
    fn name(&self) -> &str {
        match self {
            Edit::Set(line) | Edit::Append(line) => &line.name,
            Edit::Delete(name) => name,
        }
    }

    /// Makes the edit on `list`.
    fn make(self, list: &mut HeaderList) {
        match self {
            Edit::Set(line) => list.replace(line),
            Edit::Append(line) => list.push(line),
            Edit::Delete(name) => list.delete(&name),
        }
    }
}

impl HostHeaderMap {
    /// A map holding `list`, not yet edited.
    pub(crate) fn new(list: HeaderList) -> Self {
        HostHeaderMap {
            list,
            ..Default::default()
        }
    }

    /// A map holding the event's `list`, given back as it came by [`Self::give_back`] (the
    /// first edit of a name keeps the lines it removes).
    pub(crate) fn kept_original(list: HeaderList) -> Self {
        HostHeaderMap {
            list,
            keeps_original: true,
            ..Default::default()
        }
    }

    /// A map read from `lent` in place until a hook lists it whole.
    pub(crate) fn lent(lent: Arc<dyn LentHeaders>) -> Self {
        HostHeaderMap {
            lent: Some(lent),
            ..Default::default()
        }
    }

    /// Every line; a lent map is listed whole, its pending edits made, on first use.
    pub(crate) fn lines(&mut self) -> &HeaderList {
        if let Some(lent) = self.lent.take() {
            self.list = lent.visible_lines();
            for edit in std::mem::take(&mut self.pending) {
                edit.make(&mut self.list);
            }
            self.pending_lines = 0;
            self.listed = Some(lent);
        }
        &self.list
    }

    /// Whether this is a map the proxy lent (read in place or listed whole) and the hook has
    /// edited nothing in it: the proxy's header is as the hook left it.
    pub(crate) fn lent_unedited(&self) -> bool {
        (self.lent.is_some() || self.listed.is_some()) && self.changed.is_empty()
    }

    /// The lines of `name` (any case) as they are now.
    pub(crate) fn named(&self, name: &str) -> HeaderList {
        let Some(lent) = &self.lent else {
            let mut lines = HeaderList::new();
            for line in self.list.get(name) {
                lines.push(line.clone());
            }
            return lines;
        };
        let name = name.to_ascii_lowercase();
        let edits: Vec<&Edit> = self.pending.iter().filter(|e| e.name() == name).collect();
        // After a set or delete the lent lines no longer count: only an append to the lines as
        // lent needs them read.
        let from = edits.iter().rposition(|e| !matches!(e, Edit::Append(_)));
        let mut lines = match from {
            Some(_) => HeaderList::new(),
            None => lent.named(&name),
        };
        for edit in &edits[from.unwrap_or(0)..] {
            (*edit).clone().make(&mut lines);
        }
        lines
    }

    /// The first value of `name` (any case): one lookup in a lent map the hook has not
    /// changed the name of.
    pub(crate) fn first(&self, name: &str) -> Option<String> {
        match &self.lent {
            None => self.list.first(name).map(str::to_string),
            Some(lent) if !self.changed.iter().any(|n| n.eq_ignore_ascii_case(name)) => {
                lent.first(name)
            }
            Some(_) => self.named(name).first(name).map(str::to_string),
        }
    }

    /// The lines and what was edited. Of a lent map never listed whole, only the lines of the
    /// names edited: all the proxy reads of an outcome's map is the names it must rewrite.
    pub(crate) fn into_parts(self) -> (HeaderList, HeaderEdits) {
        let list = match &self.lent {
            None => self.list,
            Some(lent) => {
                // The edits made in order on the lines of the names they change, moved in (not
                // copied, as a read's are). After a set or delete the lent lines no longer count,
                // so only a name whose first edit is an append reads them. `changed` lists the
                // names in first-edit order: the next name new to the edits is the next in it.
                let mut list = HeaderList::with_capacity(self.pending_lines);
                let mut seen = 0;
                for edit in self.pending {
                    let first = self.changed.get(seen).is_some_and(|n| n == edit.name());
                    if first {
                        seen += 1;
                        if let Edit::Append(_) = &edit {
                            for line in lent.named(edit.name()) {
                                list.push(line);
                            }
                        }
                    }
                    edit.make(&mut list);
                }
                list
            }
        };
        let edits = HeaderEdits {
            changed: Some(self.changed),
            read_only_before: self.read_only_before,
        };
        (list, edits)
    }

    /// Lines in the map, at most (a lent map's pending edits counted as adding every line).
    fn len(&self) -> usize {
        match &self.lent {
            None => self.list.len(),
            Some(lent) => lent.line_count() + self.pending_lines,
        }
    }

    /// Makes `edit` (of a name already noted as changed).
    fn make(&mut self, edit: Edit) {
        if self.lent.is_none() {
            if std::mem::take(&mut self.saving) {
                return self.make_saving(edit);
            }
            return edit.make(&mut self.list);
        }
        self.pending_lines += match &edit {
            Edit::Set(_) | Edit::Append(_) => 1,
            Edit::Delete(_) => 0,
        };
        self.pending.push(edit);
    }

    /// Makes `edit`, the first of a name the event's list has lines of, keeping those lines in
    /// `original_lines`: moved out when it replaces or deletes them, copied when it appends.
    fn make_saving(&mut self, edit: Edit) {
        match edit {
            Edit::Set(line) => self.list.replace_into(line, &mut self.original_lines),
            Edit::Delete(name) => self.list.delete_into(&name, &mut self.original_lines),
            Edit::Append(line) => {
                self.original_lines
                    .extend(self.list.get(&line.name).cloned());
                self.list.push(line);
            }
        }
    }

    /// Notes that `name` (lowercase) is about to change, saving its lines first if it is one of
    /// `read_only`.
    fn note_change(&mut self, name: &str, read_only: &[&str]) {
        if !self.changed.iter().any(|n| n == name) {
            // Edits of a name follow its note at once: the next one is its first.
            self.saving = self.keeps_original && self.list.contains(name);
            if read_only.contains(&name) {
                let before = self.named(name).iter().map(|l| l.value.clone()).collect();
                self.read_only_before.push((name.to_string(), before));
            }
            self.changed.push(name.to_string());
        }
    }

    /// Replaces every line of `name` with `values`.
    pub(crate) fn set(
        &mut self,
        mut name: String,
        values: Vec<(String, String)>,
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        for (key, value) in &values {
            check_field(&name, key, value)?;
        }
        self.count_edit()?;
        if self.len() + values.len() > MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.note_change(&name, read_only);
        let mut values = values.into_iter();
        let Some((key, value)) = values.next() else {
            self.make(Edit::Delete(name));
            return Ok(());
        };
        self.make(Edit::Set(HeaderLine::new(name.clone(), key, value)));
        for (key, value) in values {
            self.make(Edit::Append(HeaderLine::new(name.clone(), key, value)));
        }
        Ok(())
    }

    /// Replaces every line of `name` with the one line `(key, value)`: `set` for the edit most
    /// hooks make, with no list to build.
    pub(crate) fn set_one(
        &mut self,
        name: String,
        line: (String, String),
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        self.edit_line(name, line, read_only, Edit::Set)
    }

    /// Adds one line of `name` after the existing ones.
    pub(crate) fn append(
        &mut self,
        name: String,
        line: (String, String),
        read_only: &[&str],
    ) -> wasmtime::Result<()> {
        self.edit_line(name, line, read_only, Edit::Append)
    }

    /// Makes the one-line edit `edit` (a set or an append) of `name`, checked and counted.
    fn edit_line(
        &mut self,
        mut name: String,
        (key, value): (String, String),
        read_only: &[&str],
        edit: fn(HeaderLine) -> Edit,
    ) -> wasmtime::Result<()> {
        check_field(&name, &key, &value)?;
        self.count_edit()?;
        if self.len() >= MAX_LINES {
            return Err(wasmtime::format_err!("more than {MAX_LINES} header lines"));
        }
        name.make_ascii_lowercase();
        self.note_change(&name, read_only);
        self.make(edit(HeaderLine::new(name, key, value)));
        Ok(())
    }

    /// Removes every line of `name`.
    pub(crate) fn delete(&mut self, mut name: String, read_only: &[&str]) -> wasmtime::Result<()> {
        self.count_edit()?;
        name.make_ascii_lowercase();
        self.note_change(&name, read_only);
        self.make(Edit::Delete(name));
        Ok(())
    }

    /// Counts one edit; past [`MAX_EDITS`], refuses it. Each edit's bookkeeping looks at the
    /// names edited before, and none of it is guest code the epoch can interrupt: unbounded,
    /// tens of thousands of edits of distinct names (deletes add no line to count) would hold
    /// the worker for seconds inside one host call.
    fn count_edit(&mut self) -> wasmtime::Result<()> {
        if self.edits >= MAX_EDITS {
            return Err(wasmtime::format_err!(
                "more than {MAX_EDITS} edits of one header map"
            ));
        }
        self.edits += 1;
        Ok(())
    }

    /// The map as the invocation was given it, for an abandoned call to run again: the one
    /// the proxy lent (edits are kept beside it, never made on it), or the event's list with
    /// each edited name's lines as they came (see [`Self::kept_original`]; lines of one name
    /// keep their order, names may not, which the event's headers, an object by name, never
    /// show).
    pub(crate) fn give_back(self) -> GivenBack {
        if let Some(lent) = self.lent.or(self.listed) {
            return GivenBack::Lent(lent);
        }
        let mut list = self.list;
        if self.keeps_original {
            for name in &self.changed {
                list.delete(name);
            }
            for line in self.original_lines {
                list.push(line);
            }
        }
        GivenBack::List(list)
    }

    /// The lines `name` had before the invocation.
    pub(crate) fn original(&self, name: &str) -> Vec<String> {
        match self.read_only_before.iter().find(|(n, _)| n == name) {
            Some((_, before)) => before.clone(),
            None => self.named(name).iter().map(|l| l.value.clone()).collect(),
        }
    }
}

/// Most lines one header map may hold, so a looping hook cannot grow host memory without bound.
pub(super) const MAX_LINES: usize = 4096;
/// Most edits (sets, appends, deletes) one header map may take in one invocation: as many as
/// it may hold lines, far past what any hook needs.
pub(super) const MAX_EDITS: usize = MAX_LINES;
/// Longest header name or value a hook may write.
const MAX_FIELD_BYTES: usize = 64 * 1024;

fn check_field(name: &str, key: &str, value: &str) -> wasmtime::Result<()> {
    if name.len() > MAX_FIELD_BYTES || key.len() > MAX_FIELD_BYTES || value.len() > MAX_FIELD_BYTES
    {
        return Err(wasmtime::format_err!(
            "header field longer than {MAX_FIELD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// What the hook set on the event's request; unset fields are the event's.
#[derive(Debug, Default)]
pub(crate) struct RequestChanges {
    pub(crate) uri: Option<String>,
    pub(crate) querystring: Option<String>,
    pub(crate) body: Option<CfBody>,
    pub(crate) origin: Option<CfOrigin>,
}

/// One response of the current invocation: the event's (index 0 in response events) or a
/// generated one.
#[derive(Debug)]
pub(crate) struct HostResponseData {
    pub(crate) status: u16,
    /// Empty means the standard phrase for `status`.
    pub(crate) status_description: String,
    /// Index of its header map.
    pub(crate) headers: usize,
    pub(crate) body: Option<String>,
    pub(crate) body_encoding: BodyEncoding,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::event_wire::{visible_response_headers, wire_response, LentHeader};
    use pingora::http::ResponseHeader;

    /// An origin's response as the wire has it: names in their own case, a repeated header, and
    /// a line hooks never see.
    fn origin_response() -> ResponseHeader {
        wire_response(&[
            ("Content-Type", "text/html"),
            ("Set-Cookie", "a=1"),
            ("Connection", "keep-alive"),
            ("X-Trace", "t1"),
            ("Set-Cookie", "b=2"),
            ("Vary", "Accept"),
        ])
    }

    fn edit(map: &mut HostHeaderMap, step: &(&str, &str, &str)) {
        let (op, name, value) = *step;
        let pair = (String::new(), value.to_string());
        match op {
            "set" => map.set(name.into(), vec![pair], &[]).unwrap(),
            "set2" => map
                .set(
                    name.into(),
                    vec![pair.clone(), (name.into(), "2".into())],
                    &[],
                )
                .unwrap(),
            "set1" => map.set_one(name.into(), pair, &[]).unwrap(),
            "set0" => map.set(name.into(), Vec::new(), &[]).unwrap(),
            "append" => map.append(name.into(), pair, &[]).unwrap(),
            _ => map.delete(name.into(), &[]).unwrap(),
        }
    }

    /// `step` made on a plain list by the event model's own methods: what either map's edits,
    /// made however they are kept, must come to.
    fn edit_list(list: &mut HeaderList, step: &(&str, &str, &str)) {
        let (op, name, value) = *step;
        let pair = (String::new(), value.to_string());
        match op {
            "set" | "set1" => list.set(name.into(), [pair]),
            "set2" => list.set(name.into(), [pair, (name.into(), "2".into())]),
            "set0" => list.set(name.into(), []),
            "append" => list.append(name, "", value),
            _ => list.delete(name),
        }
    }

    /// The lent map is read in place and its edits kept beside it; whatever the edits, every
    /// read, the whole listing and the outcome's lines must be what the event's list, edited
    /// the same way, gives.
    #[test]
    fn a_lent_map_reads_and_edits_as_the_event_list_does() {
        let cases: &[&[(&str, &str, &str)]] = &[
            &[],
            &[("set", "x-new", "v")],
            &[("append", "set-cookie", "c=3")],
            &[
                ("set", "Set-Cookie", "only=1"),
                ("append", "set-cookie", "c=3"),
            ],
            &[
                ("delete", "set-cookie", ""),
                ("append", "Set-Cookie", "late=1"),
            ],
            &[("append", "x-trace", "t2"), ("set2", "x-trace", "t3")],
            &[
                ("set1", "x-trace", "t9"),
                ("set0", "set-cookie", ""),
                ("set1", "Set-Cookie", "s"),
                ("set0", "x-none", ""),
            ],
            &[
                ("set", "vary", "Origin"),
                ("delete", "vary", ""),
                ("delete", "nope", ""),
            ],
            &[
                ("append", "x-a", "1"),
                ("append", "x-a", "2"),
                ("set", "content-type", "a/b"),
            ],
            // Names interleaved: each name's first edit comes after other names' edits.
            &[
                ("set", "x-a", "1"),
                ("append", "set-cookie", "c=3"),
                ("append", "X-A", "2"),
                ("delete", "vary", ""),
                ("append", "x-trace", "t2"),
                ("append", "vary", "late"),
                ("set2", "set-cookie", "z"),
                ("delete", "x-a", ""),
            ],
        ];
        let names = [
            "content-type",
            "Set-Cookie",
            "connection",
            "x-trace",
            "vary",
            "x-new",
            "x-a",
            "nope",
        ];
        for steps in cases {
            let mut lent = HostHeaderMap::lent(LentHeader::new(origin_response()));
            let mut list = HostHeaderMap::new(visible_response_headers(&origin_response()));
            let mut model = visible_response_headers(&origin_response());
            for step in *steps {
                edit(&mut lent, step);
                edit(&mut list, step);
                edit_list(&mut model, step);
            }
            for name in names {
                assert_eq!(
                    lent.first(name),
                    list.first(name),
                    "{steps:?}: first {name}"
                );
                assert_eq!(
                    lent.named(name),
                    list.named(name),
                    "{steps:?}: lines of {name}"
                );
            }
            assert_eq!(lent.changed, list.changed, "{steps:?}");
            let (lent_lines, _) = HostHeaderMap {
                lent: lent.lent.clone(),
                pending: lent.pending.clone(),
                pending_lines: lent.pending_lines,
                changed: lent.changed.clone(),
                ..Default::default()
            }
            .into_parts();
            for name in &list.changed {
                assert_eq!(
                    lent_lines.get(name).count(),
                    list.named(name).len(),
                    "{steps:?}"
                );
                assert!(
                    lent_lines.get(name).eq(list.named(name).iter()),
                    "{steps:?}: outcome lines of {name}"
                );
            }
            assert_eq!(lent.lines(), list.lines(), "{steps:?}: listed whole");
            // Lines of one name keep their order; between names order carries no meaning
            // (Lambda@Edge's headers are an object by name, the wire groups lines by name).
            let listed = list.lines();
            assert_eq!(listed.len(), model.len(), "{steps:?}");
            for line in model.iter() {
                assert!(
                    listed.get(&line.name).eq(model.get(&line.name)),
                    "{steps:?}: lines of {} as the model's own edits",
                    line.name
                );
            }
        }
    }

    /// However cheap each edit is to keep (a delete adds no line, a set of one name replaces
    /// its line), a map takes at most `MAX_EDITS` of them per invocation: the host's work per
    /// edit grows with the names edited before it.
    #[test]
    fn a_map_refuses_edits_past_the_bound() {
        let lent = || HostHeaderMap::lent(LentHeader::new(origin_response()));
        let list = || HostHeaderMap::new(visible_response_headers(&origin_response()));
        for (kind, mut map) in [("lent", lent()), ("list", list())] {
            for i in 0..MAX_EDITS {
                map.delete(format!("x-gone-{i}"), &[]).unwrap();
            }
            let refused = map.delete("x-one-more".into(), &[]).unwrap_err();
            assert!(refused.to_string().contains("edits"), "{kind}: {refused}");
            assert!(map
                .set("x-a".into(), vec![(String::new(), "1".into())], &[])
                .is_err());
            assert!(map
                .append("x-a".into(), (String::new(), "1".into()), &[])
                .is_err());
        }
        let mut map = list();
        for _ in 0..MAX_EDITS {
            map.set("x-a".into(), vec![(String::new(), "1".into())], &[])
                .unwrap();
        }
        assert!(map
            .set("x-a".into(), vec![(String::new(), "2".into())], &[])
            .is_err());
        assert_eq!(map.named("x-a").values("x-a"), ["1"]);
    }

    /// An event's list that a call may need again is given back as it came: the lines of each
    /// name edited as they were before its first edit (moved aside by it); a list only read
    /// (most calls), as it is, with nothing kept.
    #[test]
    fn a_kept_list_is_given_back_as_it_came() {
        let came = || visible_response_headers(&origin_response());
        let given = |map: HostHeaderMap| match map.give_back() {
            GivenBack::List(list) => list,
            GivenBack::Lent(_) => panic!("a list given back as lent"),
        };
        // Lines of one name in order; between names order carries no meaning.
        let by_name = |list: &HeaderList| {
            let mut lines: Vec<_> = list.iter().cloned().collect();
            lines.sort_by(|a, b| a.name.cmp(&b.name));
            lines
        };
        let mut read = HostHeaderMap::kept_original(came());
        read.lines();
        assert_eq!(read.first("content-type").as_deref(), Some("text/html"));
        assert!(read.original_lines.is_empty(), "a read keeps nothing");
        assert_eq!(given(read), came());

        let mut edited = HostHeaderMap::kept_original(came());
        edited
            .set_one("content-type".into(), (String::new(), "x".into()), &[])
            .unwrap();
        edited.delete("vary".into(), &[]).unwrap();
        edited
            .append("x-new".into(), (String::new(), "1".into()), &[])
            .unwrap();
        edited
            .append("set-cookie".into(), (String::new(), "c=3".into()), &[])
            .unwrap();
        assert_eq!(edited.first("content-type").as_deref(), Some("x"));
        assert_eq!(
            edited.original_lines.len(),
            4,
            "content-type and vary moved out, set-cookie's two copied"
        );
        assert_eq!(by_name(&given(edited)), by_name(&came()));

        // A map that does not keep its original gives back its lines as edited.
        let mut plain = HostHeaderMap::new(came());
        plain.delete("vary".into(), &[]).unwrap();
        assert_ne!(by_name(&given(plain)), by_name(&came()));
    }

    /// A lent map hides what the event's list hides: a hook never sees `Connection`.
    #[test]
    fn a_lent_map_hides_disallowed_headers() {
        let lent = HostHeaderMap::lent(LentHeader::new(origin_response()));
        assert_eq!(lent.first("connection"), None);
        assert!(lent.named("Connection").is_empty());
        assert_eq!(lent.first("X-TRACE").as_deref(), Some("t1"));
        // Names no header can have find nothing, as in the list.
        for bad in ["", "x trace", "x-trace\r\nx-evil", "x-trace:", "\u{e9}"] {
            assert_eq!(lent.first(bad), None, "{bad:?}");
            assert!(lent.named(bad).is_empty(), "{bad:?}");
        }
    }
}
