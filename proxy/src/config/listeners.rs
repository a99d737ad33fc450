//! `[[listeners]]`: where viewers connect, with TLS.

use std::path::Path;

use super::error::IssueSink;
use super::model::{Listener, ListenerTls};
use super::raw::RawListener;
use super::values::{existing_file, socket_addr};

/// The listeners, at least one.
pub(super) fn listeners(raw: &[RawListener], base: &Path, sink: &mut IssueSink) -> Vec<Listener> {
    let mut listeners = Vec::new();
    if raw.is_empty() {
        sink.at(None, "listeners", "at least one [[listeners]] is required");
    }
    for (i, l) in raw.iter().enumerate() {
        let key = format!("listeners[{i}]");
        let Some(address) = socket_addr(&l.address, &format!("{key}.address"), sink) else {
            continue;
        };
        let tls = l.tls.as_ref().map(|t| ListenerTls {
            cert: existing_file(&t.cert, base, &format!("{key}.tls.cert"), sink),
            key: existing_file(&t.key, base, &format!("{key}.tls.key"), sink),
            http2: t.http2,
        });
        listeners.push(Listener { address, tls });
    }
    listeners
}

#[cfg(test)]
mod tests {
    use super::super::parse_with;

    #[test]
    fn every_listener_is_kept_in_order() {
        let config =
            parse_with("[[listeners]]\naddress = \"[::1]:8081\"\n").expect("two listeners");
        let addresses: Vec<String> = config
            .listeners
            .iter()
            .map(|l| l.address.to_string())
            .collect();
        assert_eq!(addresses, ["127.0.0.1:8080", "[::1]:8081"]);
        assert!(config.listeners.iter().all(|l| l.tls.is_none()));
    }
}
