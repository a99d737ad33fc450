//! Lambda's HTTP payloads: HTTP to and from the ALB target event and API Gateway's proxy
//! integration events, for function targets.

pub mod alb;
mod apigw;
