//! Reading the file's structure into the raw structs, listing every structural problem (syntax,
//! unknown key, wrong type) rather than the first one serde meets. Each section, and each
//! listener, origin, function and behavior, is read on its own: one that does not read is
//! reported and left out, and the rest go on to the semantic checks, so a file with a misspelt
//! key and a dangling reference shows both at once.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::IssueSink;
use super::model::CONFIG_VERSION;
use super::origins;
use super::raw::RawConfig;

/// The raw configuration, and the names of origins and functions left out because they did not
/// read (semantic problems that only repeat that they are missing are not reported again).
pub(super) struct Parsed {
    pub raw: RawConfig,
    pub broken: Vec<String>,
}

/// Reads `text`; `None` when it is not TOML at all (every syntax error is in `sink`).
pub(super) fn parse(text: &str, sink: &mut IssueSink) -> Option<Parsed> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let doc: Spanned<DeTable<'_>> = doc;
    if !errors.is_empty() {
        for e in errors {
            let message = e.message().trim().to_string();
            // A duplicate key's span is the key as written: named, as every other issue is.
            let key = match e.span() {
                Some(span) if message.starts_with("duplicate key") => {
                    text.get(span).unwrap_or_default().trim().to_string()
                }
                _ => String::new(),
            };
            sink.at(e.span(), key, message);
        }
        return None;
    }
    if let Ok(raw) =
        serde_path_to_error::deserialize::<_, RawConfig>(doc.clone().into_deserializer())
    {
        return Some(Parsed {
            raw,
            broken: Vec::new(),
        });
    }
    Some(by_section(doc.into_inner(), sink))
}

/// Reads each section, and each item of the lists and tables, on its own.
fn by_section(doc: DeTable<'_>, sink: &mut IssueSink) -> Parsed {
    let mut raw = RawConfig {
        version: Spanned::new(0..0, CONFIG_VERSION),
        listeners: Vec::new(),
        admin: None,
        limits: None,
        node: None,
        origins: BTreeMap::new(),
        functions: BTreeMap::new(),
        cache: None,
        queue: None,
        realtime_logs: None,
        behaviors: Vec::new(),
        default_behavior: None,
    };
    let mut broken = Vec::new();
    for (key, value) in doc {
        let name = key.get_ref().as_ref();
        match name {
            "version" => {
                if let Some(v) = recorded(read(value, name), sink) {
                    raw.version = v;
                }
            }
            "listeners" => raw.listeners = each_of(value, name, sink),
            "behaviors" => raw.behaviors = each_of(value, name, sink),
            "admin" => raw.admin = lenient(value, name, None, sink),
            "limits" => raw.limits = lenient(value, name, None, sink),
            "node" => raw.node = lenient(value, name, None, sink),
            "cache" => raw.cache = lenient(value, name, None, sink),
            "queue" => raw.queue = lenient(value, name, None, sink),
            "realtime-logs" => raw.realtime_logs = lenient(value, name, None, sink),
            "default-behavior" => raw.default_behavior = lenient(value, name, None, sink),
            "origins" => raw.origins = by_name(value, name, sink, &mut broken),
            "functions" => raw.functions = by_name(value, name, sink, &mut broken),
            other => sink.at(
                Some(key.span()),
                other.to_string(),
                "unknown section, expected one of version, listeners, admin, limits, node, \
                 origins, functions, cache, queue, realtime-logs, behaviors, default-behavior"
                    .to_string(),
            ),
        }
    }
    Parsed { raw, broken }
}

/// The items of list `key`, each read on its own.
fn each_of<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    sink: &mut IssueSink,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| lenient(item, &format!("{key}[{i}]"), None, sink))
            .collect(),
        _ => {
            sink.at(Some(span), key.to_string(), "expected an array of tables");
            Vec::new()
        }
    }
}

/// The entries of table `key` (`[origins.<name>]`, `[functions.<name>]`), each read on its
/// own; names that do not read are added to `broken`.
fn by_name<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    sink: &mut IssueSink,
    broken: &mut Vec<String>,
) -> BTreeMap<String, T> {
    let span = value.span();
    let DeValue::Table(entries) = value.into_inner() else {
        sink.at(Some(span), key.to_string(), "expected a table");
        return BTreeMap::new();
    };
    let mut read_ok = BTreeMap::new();
    for (name, entry) in entries {
        let name = name.get_ref().to_string();
        let origin_type = (key == "origins")
            .then(|| match entry.get_ref() {
                DeValue::Table(t) => t
                    .get("type")
                    .and_then(|v| v.get_ref().as_str().map(str::to_string)),
                _ => None,
            })
            .flatten();
        match lenient::<T>(
            entry,
            &format!("{key}.{name}"),
            origin_type.as_deref(),
            sink,
        ) {
            Some(v) => {
                read_ok.insert(name, v);
            }
            None => broken.push(name),
        }
    }
    read_ok
}

/// An unknown-key message for an origin of type `kind`, listing only that type's keys.
fn own_keys(message: &str, kind: &str) -> String {
    match origins::keys_of(kind) {
        Some(keys) => {
            let first = message.split(", expected").next().unwrap_or(message);
            format!(
                "{first}, a \"{kind}\" origin takes type, {}",
                keys.join(", ")
            )
        }
        None => message.to_string(),
    }
}

/// A structural problem: where, under which key, and serde's message.
struct Issue {
    span: Option<std::ops::Range<usize>>,
    key: String,
    message: String,
}

/// Deserializes `value` as `T`; a failure is named by `key` and the path below it.
fn read<T: DeserializeOwned>(value: Spanned<DeValue<'_>>, key: &str) -> Result<T, Issue> {
    serde_path_to_error::deserialize(value.into_deserializer()).map_err(|e| {
        let below = clean_path(&e.path().to_string());
        let key = match (key.is_empty(), below.is_empty()) {
            (true, _) => below,
            (false, true) => key.to_string(),
            (false, false) => format!("{key}.{below}"),
        };
        let inner = e.into_inner();
        Issue {
            span: inner.span(),
            key,
            message: inner
                .message()
                .trim()
                .replace("expected i64", "expected an integer"),
        }
    })
}

/// The value, or `None` with the problem recorded in `sink`.
fn recorded<T>(read: Result<T, Issue>, sink: &mut IssueSink) -> Option<T> {
    read.map_err(|issue| sink.at(issue.span, issue.key, issue.message))
        .ok()
}

/// Reads table `value` (at `key`) as `T`, recording each problem and leaving out the key it is
/// under until the rest reads: a misspelt key in `[default-behavior.hooks]` is one problem, and
/// the behavior's origin is still checked. `None` when nothing that reads is left. Unknown keys
/// of an origin of `origin_type` are answered with that type's keys only.
fn lenient<T: DeserializeOwned>(
    mut value: Spanned<DeValue<'_>>,
    key: &str,
    origin_type: Option<&str>,
    sink: &mut IssueSink,
) -> Option<T> {
    loop {
        let mut issue = match read::<T>(value.clone(), key) {
            Ok(v) => return Some(v),
            Err(issue) => issue,
        };
        if let Some(kind) = origin_type {
            if issue.message.starts_with("unknown field") {
                issue.message = own_keys(&issue.message, kind);
            }
        }
        let below = issue
            .key
            .strip_prefix(key)
            .unwrap_or(&issue.key)
            .trim_start_matches('.');
        let first = below.split(['.', '[']).next().unwrap_or("").to_string();
        sink.at(issue.span, issue.key, issue.message);
        let DeValue::Table(table) = value.get_mut() else {
            return None;
        };
        if first.is_empty() || first == "type" || table.remove(first.as_str()).is_none() {
            return None;
        }
    }
}

/// A serde path without the segments `toml::Spanned` adds (`$__serde_spanned_private_value`),
/// `.` for the root made empty.
fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('.')
        .filter(|p| !p.is_empty() && !p.starts_with("$__serde_spanned"))
        .collect();
    parts.join(".").replace(".[", "[")
}
