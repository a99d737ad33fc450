//! Events: the CloudFront (Lambda@Edge) event model hooks see, and its AWS JSON form.

pub mod alb;
mod apigw;
mod cloudfront;
mod headers;

pub use cloudfront::{
    BodyAction, BodyEncoding, CfBody, CfConfig, CfEvent, CfOrigin, CfRequest, CfResponse,
    CustomOrigin, EventType, HookOutcome, JsonError,
};
pub use headers::{HeaderLine, HeaderList};
