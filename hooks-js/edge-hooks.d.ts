// Types of the JavaScript SDK (edge-hooks.js): AWS's Lambda@Edge event and results, as a
// handler written for Node.js sees them. The contract underneath (resources, one call per field)
// is typed by `jco types` from hooks-sdk/wit: `make hooks` writes it to target/guests/js/types.

/** One header line: `key` is the name as sent. */
export interface CloudFrontHeader {
  key?: string;
  value: string;
}

/** Lowercase header name → its lines, in order. */
export type CloudFrontHeaders = Record<string, CloudFrontHeader[]>;

export interface CloudFrontCustomOrigin {
  customHeaders: CloudFrontHeaders;
  domainName: string;
  keepaliveTimeout: number;
  path: string;
  port: number;
  protocol: 'http' | 'https';
  readTimeout: number;
  sslProtocols: string[];
}

export interface CloudFrontS3Origin {
  authMethod: 'origin-access-identity' | 'none';
  customHeaders: CloudFrontHeaders;
  domainName: string;
  path: string;
  region: string;
}

export type CloudFrontOrigin =
  | { custom: CloudFrontCustomOrigin }
  | { s3: CloudFrontS3Origin }
  | { named: string };

export interface CloudFrontRequest {
  clientIp: string;
  method: string;
  uri: string;
  querystring: string;
  headers: CloudFrontHeaders;
  body?: {
    inputTruncated: boolean;
    action: 'read-only' | 'replace';
    encoding: 'base64' | 'text';
    data: string;
  };
  origin?: CloudFrontOrigin;
}

export interface CloudFrontResponse {
  status: string;
  statusDescription: string;
  headers: CloudFrontHeaders;
  body?: string;
  bodyEncoding?: 'text' | 'base64';
}

/** A response generated at a request trigger. */
export interface CloudFrontResultResponse {
  status: string | number;
  statusDescription?: string;
  headers?: CloudFrontHeaders;
  body?: string;
  bodyEncoding?: 'text' | 'base64';
}

export interface CloudFrontEvent {
  Records: [
    {
      cf: {
        config: {
          distributionDomainName: string;
          distributionId: string;
          eventType: 'viewer-request' | 'origin-request' | 'origin-response' | 'viewer-response';
          requestId: string;
        };
        request: CloudFrontRequest;
        response?: CloudFrontResponse;
      };
    },
  ];
}

export type CloudFrontResult = CloudFrontRequest | CloudFrontResultResponse;

export type Handler = (
  event: CloudFrontEvent,
  context: { functionName: string; awsRequestId: string },
  callback: (error: unknown, result?: CloudFrontResult) => void,
) => CloudFrontResult | void;

/** Exports `handler` as the hook's `handle` (`export const handle = lambdaEdge(handler)`). */
export function lambdaEdge(
  handler: Handler,
): (eventType: string, request: unknown, response: unknown) => unknown;
