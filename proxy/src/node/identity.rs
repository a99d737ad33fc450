//! How this node names itself to origins and to other CDN nodes: its `Via` and `CDN-Loop`
//! values, part of each configuration generation (the name may change by reload).

use http::HeaderValue;

/// This node's `Via` and `CDN-Loop` values, built once: every proxied request carries them.
pub struct NodeHeaders {
    /// `Via` for HTTP/1.0, 1.1, 2 and 3 requests, in that order.
    via: [HeaderValue; 4],
    cdn_loop: HeaderValue,
}

impl NodeHeaders {
    /// The values for `node`, a token (the config checks it).
    pub fn new(node: &str) -> Self {
        let value = |v: String| HeaderValue::try_from(v).expect("node names are tokens");
        NodeHeaders {
            via: ["1.0", "1.1", "2", "3"].map(|version| value(format!("{version} {node}"))),
            cdn_loop: value(node.to_string()),
        }
    }

    /// This node's `CDN-Loop` member (RFC 8586).
    pub fn cdn_loop(&self) -> &HeaderValue {
        &self.cdn_loop
    }

    /// This node's `Via` entry for a request of `version` (RFC 9110 §7.6.3).
    pub fn via(&self, version: http::Version) -> &HeaderValue {
        &self.via[match version {
            http::Version::HTTP_10 => 0,
            http::Version::HTTP_2 => 2,
            http::Version::HTTP_3 => 3,
            _ => 1,
        }]
    }
}
