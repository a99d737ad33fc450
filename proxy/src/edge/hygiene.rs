//! Request framing rules Pingora alone does not enforce. Conflicting `Content-Length` values and
//! malformed headers are already refused by Pingora's parser with 400; what remains is checked
//! here on the raw header block, before anything routes on the request.

use http::StatusCode;

/// Why a request is refused before routing.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Status sent to the viewer (the connection is closed afterwards).
    pub status: StatusCode,
    /// Short reason for the body and the log.
    pub reason: &'static str,
}

/// Checks the raw HTTP/1 request header block (request line to the blank line).
pub fn check_raw_header(raw: &[u8], max_header_bytes: usize) -> Option<Rejection> {
    if raw.len() > max_header_bytes {
        return Some(Rejection {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "request header block too large",
        });
    }
    let (mut content_length, mut transfer_encoding) = (false, false);
    for line in raw.split(|&b| b == b'\n').skip(1) {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        content_length |= name.eq_ignore_ascii_case(b"content-length");
        transfer_encoding |= name.eq_ignore_ascii_case(b"transfer-encoding");
    }
    // RFC 9112 §6.1 lets a server reject this outright; accepting it is how requests get smuggled.
    if content_length && transfer_encoding {
        return Some(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: "both Content-Length and Transfer-Encoding",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_with_transfer_encoding_is_rejected() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            check_raw_header(raw, 32768).unwrap().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn oversized_header_block_is_431_and_normal_one_passes() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(check_raw_header(raw, 32768), None);
        assert_eq!(
            check_raw_header(raw, 10).unwrap().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
