//! An origin's response head, checked before anything acts on it: its status, and its
//! framing as the viewer will get it.

use http::header::CONTENT_LENGTH;
use http::StatusCode;
use pingora::http::ResponseHeader;

/// `head` fit for the viewer (a listed Content-Length made one value), or why it is not: the
/// origin's failure, answered 502.
pub fn check(head: &mut ResponseHeader, upgrade_asked: bool) -> Result<(), String> {
    if let Some(why) = unfit(head.status, upgrade_asked) {
        return Err(why);
    }
    single_length(head).map_err(String::from)
}

/// Why an origin's `status` cannot go to the viewer, if it cannot: a code outside 100–599 is
/// no HTTP status (RFC 9110 §15 asks a recipient to treat it as a server error), and a `101`
/// to a request that asked for no upgrade would tell the viewer its connection now speaks a
/// protocol it never asked for (Pingora then ends the connection, so nothing else is lost).
/// Either is the origin's failure: 502, as for a response Pingora cannot parse.
fn unfit(status: StatusCode, upgrade_asked: bool) -> Option<String> {
    let code = status.as_u16();
    if !(100..=599).contains(&code) {
        return Some(format!("answered {code}, which is no HTTP status"));
    }
    if status == StatusCode::SWITCHING_PROTOCOLS && !upgrade_asked {
        return Some("switched protocols on a request that asked for no upgrade".into());
    }
    None
}

/// An origin's `Content-Length` listed more than once (`2, 2`, or on two lines) made one
/// value, as RFC 9110 §8.6 lets a recipient do: passed on as sent, a list reaches the viewer
/// (and any cache in front of the node) as framing it may read otherwise. Pingora read the body
/// by it, so the values agree; values that do not are refused as the origin's failure.
fn single_length(head: &mut ResponseHeader) -> Result<(), &'static str> {
    let values = head.headers.get_all(CONTENT_LENGTH);
    let mut lines = values.iter();
    let listed = match (lines.next(), lines.next()) {
        (None, _) => return Ok(()),
        (Some(one), None) => one.as_bytes().contains(&b','),
        (Some(_), Some(_)) => true,
    };
    if !listed {
        return Ok(());
    }
    let mut lengths = values
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|n| {
            std::str::from_utf8(n.trim_ascii())
                .ok()?
                .parse::<u64>()
                .ok()
        });
    let first = lengths.next().flatten();
    let Some(length) = first.filter(|&n| lengths.all(|other| other == Some(n))) else {
        return Err("sent Content-Length values that disagree");
    };
    head.insert_header(CONTENT_LENGTH, length.to_string())
        .map_err(|_| "sent a Content-Length that cannot be written")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lengths: &[&str]) -> ResponseHeader {
        let mut head = ResponseHeader::build(200, None).unwrap();
        for l in lengths {
            head.append_header(CONTENT_LENGTH, *l).unwrap();
        }
        head
    }

    #[test]
    fn a_listed_content_length_becomes_one_value() {
        for lengths in [&["2, 2"][..], &["2,2,2"], &["2", "2"], &[" 2 ", "2, 2"]] {
            let mut h = head(lengths);
            assert_eq!(single_length(&mut h), Ok(()), "{lengths:?}");
            let values: Vec<_> = h.headers.get_all(CONTENT_LENGTH).iter().collect();
            assert_eq!(values, ["2"], "{lengths:?}");
        }
        for lengths in [&["2"][..], &[]] {
            let mut h = head(lengths);
            assert_eq!(single_length(&mut h), Ok(()));
            assert_eq!(
                h.headers.get_all(CONTENT_LENGTH).iter().count(),
                lengths.len()
            );
        }
        for lengths in [&["2, 3"][..], &["2", "3"], &["2, x"], &["2,"]] {
            assert!(single_length(&mut head(lengths)).is_err(), "{lengths:?}");
        }
    }

    #[test]
    fn statuses_outside_http_and_unasked_upgrades_are_unfit() {
        let status = |code| StatusCode::from_u16(code).unwrap();
        for code in [600, 700, 999] {
            assert!(unfit(status(code), false).is_some(), "{code}");
            assert!(unfit(status(code), true).is_some(), "{code}");
        }
        assert!(unfit(status(101), false).is_some());
        for code in [100, 101, 103, 200, 304, 404, 599] {
            assert_eq!(unfit(status(code), true), None, "{code}");
        }
        for code in [100, 103, 200, 204, 302, 500, 599] {
            assert_eq!(unfit(status(code), false), None, "{code}");
        }
    }
}
