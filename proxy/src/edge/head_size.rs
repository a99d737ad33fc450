//! How big a request head is (its request line, its longest header line, the whole block) and
//! the limits it is held to: the node's own (`[limits]`, answered 414 / 431) and, in front of
//! function targets, the ALB's (16 KiB, 16 KiB, 64 KiB, answered 400 as the ALB answers).

use http::StatusCode;
use pingora::http::RequestHeader;

/// A request head's sizes in bytes, line ends excluded from the lines, included in the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSizes {
    /// `METHOD target VERSION`.
    pub request_line: usize,
    /// The longest `name: value` line.
    pub longest_header: usize,
    /// The whole head, blank line included.
    pub total: usize,
}

impl HeadSizes {
    /// Measured on the HTTP/1 head as it arrived when there is one, else on the parsed head
    /// (HTTP/2, whose head is measured as its HTTP/1 form).
    pub fn measure(req: &RequestHeader, raw_h1: Option<&[u8]>) -> Self {
        match raw_h1 {
            Some(raw) => {
                let mut lines = raw
                    .split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len());
                let request_line = lines.next().unwrap_or(0);
                HeadSizes {
                    request_line,
                    longest_header: lines.max().unwrap_or(0),
                    total: raw.len(),
                }
            }
            None => {
                let request_line = req.method.as_str().len() + 1 + req.raw_path().len() + 9;
                let mut longest_header = 0;
                let mut total = request_line + 2 + 2;
                for (name, value) in req.headers.iter() {
                    let line = name.as_str().len() + 2 + value.len();
                    longest_header = longest_header.max(line);
                    total += line + 2;
                }
                HeadSizes {
                    request_line,
                    longest_header,
                    total,
                }
            }
        }
    }
}

/// The largest head a listener or target accepts, and what it answers past each bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request line.
    pub request_line: usize,
    /// Longest header line.
    pub header_line: usize,
    /// Largest whole head.
    pub total: usize,
    /// Status past `request_line`.
    pub request_line_status: StatusCode,
    /// Status past `header_line` or `total`.
    pub header_status: StatusCode,
}

impl HeadLimits {
    /// The node's: 414 for a long request line, 431 for a long header line or head.
    pub fn node(limits: &crate::config::Limits) -> Self {
        HeadLimits {
            request_line: limits.max_request_line_bytes,
            header_line: limits.max_request_header_line_bytes,
            total: limits.max_request_header_bytes,
            request_line_status: StatusCode::URI_TOO_LONG,
            header_status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// The ALB's hard limits in front of a Lambda target ("request line 16 K, single header
    /// 16 K, entire request header 64 K"), each refused with 400 as the ALB refuses them.
    pub const ALB: HeadLimits = HeadLimits {
        request_line: 16 * 1024,
        header_line: 16 * 1024,
        total: 64 * 1024,
        request_line_status: StatusCode::BAD_REQUEST,
        header_status: StatusCode::BAD_REQUEST,
    };

    /// The status and reason when `sizes` break a bound.
    pub fn check(&self, sizes: HeadSizes) -> Option<(StatusCode, &'static str)> {
        if sizes.request_line > self.request_line {
            Some((self.request_line_status, "request line too long"))
        } else if sizes.longest_header > self.header_line {
            Some((self.header_status, "request header line too large"))
        } else if sizes.total > self.total {
            Some((self.header_status, "request header block too large"))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> RequestHeader {
        let text = std::str::from_utf8(raw).unwrap();
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let (method, path) = (first.next().unwrap(), first.next().unwrap());
        let mut req = RequestHeader::build(method, path.as_bytes(), None).unwrap();
        for line in lines.take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ").unwrap();
            req.append_header(name.to_string(), value).unwrap();
        }
        req
    }

    #[test]
    fn raw_and_parsed_heads_measure_alike() {
        let raw = b"GET /abc?d=e HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
        let req = head(raw);
        let from_raw = HeadSizes::measure(&req, Some(raw));
        assert_eq!(
            from_raw,
            HeadSizes {
                request_line: 21,
                longest_header: 18,
                total: raw.len()
            }
        );
        assert_eq!(HeadSizes::measure(&req, None), from_raw);
    }

    #[test]
    fn each_bound_has_its_status() {
        let alb = HeadLimits::ALB;
        let ok = HeadSizes {
            request_line: 16 * 1024,
            longest_header: 16 * 1024,
            total: 64 * 1024,
        };
        assert_eq!(alb.check(ok), None);
        for sizes in [
            HeadSizes {
                request_line: 16 * 1024 + 1,
                ..ok
            },
            HeadSizes {
                longest_header: 16 * 1024 + 1,
                ..ok
            },
            HeadSizes {
                total: 64 * 1024 + 1,
                ..ok
            },
        ] {
            assert_eq!(alb.check(sizes).unwrap().0, StatusCode::BAD_REQUEST);
        }
        let node = HeadLimits::node(&crate::config::Limits::default());
        let long_line = HeadSizes {
            request_line: 40_000,
            longest_header: 10,
            total: 40_100,
        };
        assert_eq!(node.check(long_line).unwrap().0, StatusCode::URI_TOO_LONG);
        let long_header = HeadSizes {
            request_line: 10,
            longest_header: 40_000,
            total: 40_100,
        };
        assert_eq!(
            node.check(long_header).unwrap().0,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
