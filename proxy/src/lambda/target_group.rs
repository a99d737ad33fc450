//! What a target group says about its function's payload: the JSON shape it speaks, the
//! attributes the ALB applies, and the ALB's size limits.

/// Largest request body an ALB passes to a Lambda target; larger gets 413.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Largest result JSON an ALB accepts from a Lambda target; larger gets 502.
pub const MAX_RESULT: usize = 1024 * 1024;
/// Largest response header block (its `name: value` lines) an ALB sends; larger gets 502.
pub const MAX_RESPONSE_HEADER: usize = 32 * 1024;

/// Which JSON shape the function speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    /// The ALB's Lambda target format.
    #[default]
    Alb,
    /// API Gateway payload format 1.0 (REST APIs, HTTP APIs).
    ApiGatewayV1,
    /// API Gateway payload format 2.0 (HTTP APIs, function URLs).
    ApiGatewayV2,
}

/// A target group's translation settings.
#[derive(Debug, Clone)]
pub struct TargetGroupSettings {
    /// `requestContext.elb.targetGroupArn`.
    pub target_group_arn: String,
    /// The `lambda.multi_value_headers.enabled` attribute (ALB payload only).
    pub multi_value_headers: bool,
    /// The JSON shape.
    pub payload: Payload,
}
