//! Checks shared by every section: a value in range, an address, a file that exists, a secret.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::error::IssueSink;

/// A bearer token written in the file (`<key>`) or named by environment variable
/// (`<key>-env`), at least 16 characters.
pub(super) fn secret(
    token: Option<&Spanned<String>>,
    env: Option<&Spanned<String>>,
    key: &str,
    sink: &mut IssueSink,
) -> Option<String> {
    match (token, env) {
        (Some(t), Some(_)) => {
            sink.at(
                Some(t.span()),
                key,
                format!("set {key} or {key}-env, not both"),
            );
            None
        }
        (Some(t), None) if t.get_ref().len() < 16 => {
            sink.at(Some(t.span()), key, "a token needs at least 16 characters");
            None
        }
        (Some(t), None) => Some(t.get_ref().clone()),
        (None, Some(var)) => match std::env::var(var.get_ref()) {
            Ok(t) if t.len() >= 16 => Some(t),
            Ok(_) => {
                sink.at(
                    Some(var.span()),
                    format!("{key}-env"),
                    format!("${} holds fewer than 16 characters", var.get_ref()),
                );
                None
            }
            Err(_) => {
                sink.at(
                    Some(var.span()),
                    format!("{key}-env"),
                    format!("environment variable {} is not set", var.get_ref()),
                );
                None
            }
        },
        (None, None) => None,
    }
}

pub(super) fn socket_addr(
    v: &Spanned<String>,
    key: &str,
    sink: &mut IssueSink,
) -> Option<SocketAddr> {
    match v.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            sink.at(
                Some(v.span()),
                key,
                format!("\"{}\" is not an ip:port address", v.get_ref()),
            );
            None
        }
    }
}

pub(super) fn existing_file(
    v: &Spanned<String>,
    base: &Path,
    key: &str,
    sink: &mut IssueSink,
) -> PathBuf {
    let p = base.join(v.get_ref());
    if !p.is_file() {
        sink.at(
            Some(v.span()),
            key,
            format!("file not found: {}", p.display()),
        );
    }
    p
}

pub(super) fn in_range(
    v: &Spanned<i64>,
    min: i64,
    max: i64,
    key: &str,
    sink: &mut IssueSink,
) -> Option<i64> {
    let n = *v.get_ref();
    if (min..=max).contains(&n) {
        Some(n)
    } else {
        sink.at(
            Some(v.span()),
            key,
            format!("{n} is out of range {min}..={max}"),
        );
        None
    }
}
