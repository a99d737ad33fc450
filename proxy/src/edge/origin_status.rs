//! The statuses an origin's answer may reach the viewer with.

use http::StatusCode;

/// Why an origin's `status` cannot go to the viewer, if it cannot: a code outside 100–599 is
/// no HTTP status (RFC 9110 §15 asks a recipient to treat it as a server error), and a `101`
/// to a request that asked for no upgrade would tell the viewer its connection now speaks a
/// protocol it never asked for (Pingora then ends the connection, so nothing else is lost).
/// Either is the origin's failure: 502, as for a response Pingora cannot parse.
pub fn unfit(status: StatusCode, upgrade_asked: bool) -> Option<String> {
    let code = status.as_u16();
    if !(100..=599).contains(&code) {
        return Some(format!("answered {code}, which is no HTTP status"));
    }
    if status == StatusCode::SWITCHING_PROTOCOLS && !upgrade_asked {
        return Some("switched protocols on a request that asked for no upgrade".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
