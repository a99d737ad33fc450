//! The fields a real-time log record can carry, by CloudFront's names for them.

/// A field of a real-time log record, by CloudFront's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogField {
    /// `timestamp`: when the response was sent, seconds with milliseconds.
    Timestamp,
    /// `c-ip`: the viewer's address.
    ClientIp,
    /// `c-port`: the viewer's port.
    ClientPort,
    /// `sc-status`: the response status.
    Status,
    /// `sc-bytes`: response bytes sent.
    Bytes,
    /// `cs-method`: the request method.
    Method,
    /// `cs-protocol`: `http` or `https`.
    Protocol,
    /// `cs-host`: the host the viewer asked for.
    Host,
    /// `cs-uri-stem`: the path, without the query.
    UriStem,
    /// `cs-uri-query`: the query string, or `-`.
    UriQuery,
    /// `x-edge-location`: this node's name.
    EdgeLocation,
    /// `x-edge-request-id`: the request id.
    RequestId,
    /// `x-host-header`: the `Host` header as sent.
    HostHeader,
    /// `time-taken`: seconds from request to last byte, with milliseconds.
    TimeTaken,
    /// `cs-protocol-version`: `HTTP/1.1`, `HTTP/2.0`.
    ProtocolVersion,
    /// `cs-user-agent`.
    UserAgent,
    /// `cs-referer`.
    Referer,
    /// `x-edge-result-type`: `Hit`, `RefreshHit`, `Miss` or `Error`.
    ResultType,
    /// `sc-content-type`.
    ContentType,
    /// `x-forwarded-for`: the `X-Forwarded-For` the viewer sent.
    ForwardedFor,
    /// `cache-behavior-path-pattern`: the behavior's path pattern.
    BehaviorPathPattern,
}

impl LogField {
    /// Every field, in CloudFront's documentation order.
    pub const ALL: &'static [LogField] = &[
        LogField::Timestamp,
        LogField::ClientIp,
        LogField::ClientPort,
        LogField::Status,
        LogField::Bytes,
        LogField::Method,
        LogField::Protocol,
        LogField::Host,
        LogField::UriStem,
        LogField::UriQuery,
        LogField::EdgeLocation,
        LogField::RequestId,
        LogField::HostHeader,
        LogField::TimeTaken,
        LogField::ProtocolVersion,
        LogField::UserAgent,
        LogField::Referer,
        LogField::ResultType,
        LogField::ContentType,
        LogField::ForwardedFor,
        LogField::BehaviorPathPattern,
    ];

    /// CloudFront's name.
    pub fn name(self) -> &'static str {
        match self {
            LogField::Timestamp => "timestamp",
            LogField::ClientIp => "c-ip",
            LogField::ClientPort => "c-port",
            LogField::Status => "sc-status",
            LogField::Bytes => "sc-bytes",
            LogField::Method => "cs-method",
            LogField::Protocol => "cs-protocol",
            LogField::Host => "cs-host",
            LogField::UriStem => "cs-uri-stem",
            LogField::UriQuery => "cs-uri-query",
            LogField::EdgeLocation => "x-edge-location",
            LogField::RequestId => "x-edge-request-id",
            LogField::HostHeader => "x-host-header",
            LogField::TimeTaken => "time-taken",
            LogField::ProtocolVersion => "cs-protocol-version",
            LogField::UserAgent => "cs-user-agent",
            LogField::Referer => "cs-referer",
            LogField::ResultType => "x-edge-result-type",
            LogField::ContentType => "sc-content-type",
            LogField::ForwardedFor => "x-forwarded-for",
            LogField::BehaviorPathPattern => "cache-behavior-path-pattern",
        }
    }

    /// The field CloudFront calls `name`.
    pub fn from_name(name: &str) -> Option<LogField> {
        LogField::ALL.iter().copied().find(|f| f.name() == name)
    }
}
