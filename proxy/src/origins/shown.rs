//! How origin events show each configured origin (`request.origin` in AWS's shape), made once
//! per generation: an event lends the origin's presentation instead of building it (four
//! strings per origin event), and a hook that never reads it costs nothing for it.

use super::OriginHandle;
use crate::config::HttpOrigin;
use edge_event::{CfOrigin, CustomOrigin, HeaderList, S3Origin};

/// A configured `http` origin as `origin.custom` (its first server's host and port, protocol,
/// timeouts), a `files` origin as `origin.s3` (it serves a directory the way a bucket does), a
/// function target group, which has no CloudFront counterpart, by name.
pub fn presentation(name: &str, handle: &OriginHandle) -> CfOrigin {
    match handle {
        OriginHandle::Http(upstream) => CfOrigin::Custom(custom_of(upstream.config())),
        OriginHandle::Files(_) => CfOrigin::S3(S3Origin {
            auth_method: "none".into(),
            custom_headers: HeaderList::new(),
            domain_name: name.to_string(),
            path: String::new(),
            region: String::new(),
        }),
        OriginHandle::Function(_) => CfOrigin::Named(name.to_string()),
    }
}

/// `origin.custom` for a configured `http` origin: where its first server is.
fn custom_of(origin: &HttpOrigin) -> CustomOrigin {
    let server = origin.servers.first().map(String::as_str).unwrap_or("");
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(0)),
        None => (server, if origin.tls { 443 } else { 80 }),
    };
    let seconds = |d: std::time::Duration| d.as_secs().max(1).min(u64::from(u32::MAX)) as u32;
    CustomOrigin {
        domain_name: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        protocol: if origin.tls { "https" } else { "http" }.into(),
        path: String::new(),
        read_timeout: seconds(origin.read_timeout),
        keepalive_timeout: seconds(origin.idle_timeout),
        custom_headers: HeaderList::new(),
        ssl_protocols: vec!["TLSv1.2".into()],
    }
}
