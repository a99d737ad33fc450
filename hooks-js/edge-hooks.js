// edge-hooks for JavaScript: a Lambda@Edge handler, written as for Node.js, exported as an
// edge-proxy hook in one line:
//
//   import { lambdaEdge } from 'edge-hooks';
//   export const handle = lambdaEdge((event) => {
//     const request = event.Records[0].cf.request;
//     request.headers['x-hook'] = [{ key: 'X-Hook', value: 'js' }];
//     return request;
//   });
//
// The handler gets AWS's event shape (`event.Records[0].cf` with `config`, `request` and, at
// response triggers, `response`) and returns what a Lambda@Edge function returns: the request,
// the response, or a generated response (`{ status, statusDescription, headers, body }`), or
// passes it to `callback(null, result)`. Fields are read from the proxy only when the handler
// touches them (the headers of a request are one call, on first use), and only what changed
// goes back. A thrown error is a function error (503), named in the proxy's log by its message.
// Handlers run synchronously: an `async` handler's Promise cannot be waited for; drop `async`
// or use the callback.

import * as wit from 'edge:hooks/types@0.5.0';

/**
 * Wraps `handler` (`(event, context, callback)`) as the hook world's `handle` export, which the
 * proxy calls with the trigger and the event's request and response, lent for the call.
 */
export function lambdaEdge(handler) {
  return function handle(eventType, witRequest, witResponse) {
    try {
      return run(handler, eventType, witRequest, witResponse);
    } catch (e) {
      // A string thrown from an export returning `result` is its `err`: a function error.
      throw describe(e);
    }
  };
}

function run(handler, eventType, witRequest, witResponse) {
  const cf = {};
  const config = {};
  lazy(config, 'distributionDomainName', () => wit.distributionDomainName());
  lazy(config, 'distributionId', () => wit.distributionId());
  config.eventType = eventType;
  lazy(config, 'requestId', () => wit.requestId());
  cf.config = config;
  const request = requestView(witRequest, eventType);
  cf.request = request.view;
  const response = witResponse ? responseView(witResponse) : undefined;
  if (response) cf.response = response.view;
  const event = { Records: [{ cf }] };
  const context = { functionName: 'edge-hook', awsRequestId: config.requestId };

  let result;
  let called = false;
  const callback = (error, value) => {
    if (error) throw error;
    called = true;
    result = value;
  };
  const returned = handler(event, context, callback);
  if (!called) result = returned;
  if (result && typeof result.then === 'function') {
    throw new Error(
      'the handler returned a Promise: edge-proxy runs JavaScript handlers synchronously; ' +
        'return the result (drop `async`) or pass it to the callback',
    );
  }
  if (result === undefined || result === null) {
    throw new Error('the handler returned nothing: return the request or a response');
  }
  const isRequestEvent = eventType === 'viewer-request' || eventType === 'origin-request';
  if (isRequestEvent && result.status === undefined) {
    request.apply(result);
    return { tag: 'request' };
  }
  if (!isRequestEvent && response) {
    // The event's response, or another object returned for it: its fields replace the
    // response's.
    response.apply(result);
    return { tag: 'response' };
  }
  return { tag: 'generated', val: generated(result) };
}

/** The plain view of the request, and how to send a changed view back. */
function requestView(r, eventType) {
  const view = {};
  lazy(view, 'clientIp', () => r.clientIp());
  lazy(view, 'method', () => r.method());
  const uri = r.uri();
  const querystring = r.querystring();
  view.uri = uri;
  view.querystring = querystring;
  let headersBefore;
  lazy(view, 'headers', () => {
    const map = headersToObject(r.headers().entries());
    headersBefore = JSON.stringify(map);
    return map;
  });
  let bodyBefore;
  lazy(view, 'body', () => {
    const b = r.body();
    if (!b) return undefined;
    const body = {
      inputTruncated: b.inputTruncated,
      action: b.action,
      encoding: b.encoding,
      data: b.data,
    };
    bodyBefore = JSON.stringify(body);
    return body;
  });
  let originBefore;
  if (eventType === 'origin-request' || eventType === 'origin-response') {
    lazy(view, 'origin', () => {
      const o = r.origin();
      const origin = o ? originToObject(o) : undefined;
      originBefore = JSON.stringify(origin);
      return origin;
    });
  }
  return {
    view,
    apply(out) {
      if (out.uri !== undefined && out.uri !== uri) r.setUri(String(out.uri));
      if (out.querystring !== undefined && out.querystring !== querystring) {
        r.setQuerystring(String(out.querystring));
      }
      if (headersBefore !== undefined || (out !== view && out.headers)) {
        const edits = headerEdits(headersBefore ? JSON.parse(headersBefore) : {}, out.headers || {});
        if (edits.length) r.editHeaders(edits);
      }
      const body = touched(out, 'body') ? out.body : undefined;
      if (body && body.action === 'replace' && JSON.stringify(body) !== bodyBefore) {
        r.setBody({
          inputTruncated: false,
          action: 'replace',
          encoding: body.encoding === 'text' ? 'text' : 'base64',
          data: String(body.data ?? ''),
        });
      }
      if (touched(out, 'origin') && out.origin !== undefined && JSON.stringify(out.origin) !== originBefore) {
        r.setOrigin(originToWit(out.origin));
      }
    },
  };
}

/** The plain view of a response event's response, and how to send a changed view back. */
function responseView(r) {
  const view = {};
  const status = String(r.status());
  view.status = status;
  let descriptionBefore;
  lazy(view, 'statusDescription', () => (descriptionBefore = r.statusDescription()));
  let headersBefore;
  lazy(view, 'headers', () => {
    const map = headersToObject(r.headers().entries());
    headersBefore = JSON.stringify(map);
    return map;
  });
  return {
    view,
    apply(out) {
      if (out.status !== undefined && String(out.status) !== status) r.setStatus(Number(out.status));
      if (touched(out, 'statusDescription') && out.statusDescription !== undefined) {
        if (String(out.statusDescription) !== descriptionBefore) {
          r.setStatusDescription(String(out.statusDescription));
        }
      }
      if (headersBefore !== undefined || (out !== view && out.headers)) {
        const edits = headerEdits(headersBefore ? JSON.parse(headersBefore) : {}, out.headers || {});
        if (edits.length) r.editHeaders(edits);
      }
      if (out.body !== undefined) {
        r.setBody(String(out.body), out.bodyEncoding === 'base64' ? 'base64' : 'text');
      }
    },
  };
}

/** A response a request trigger generates. */
function generated(out) {
  const response = new wit.Response(Number(out.status));
  if (out.statusDescription) response.setStatusDescription(String(out.statusDescription));
  const edits = headerEdits({}, out.headers || {});
  if (edits.length) response.editHeaders(edits);
  if (out.body !== undefined) {
    response.setBody(String(out.body), out.bodyEncoding === 'base64' ? 'base64' : 'text');
  }
  return response;
}

/** `{ lowercase name: [{ key, value }] }` from header lines. */
function headersToObject(lines) {
  const map = {};
  for (const { key, value } of lines) {
    const name = key.toLowerCase();
    (map[name] ||= []).push({ key, value });
  }
  return map;
}

/** The edits that turn header map `before` into `after` (names compared lowercase). */
function headerEdits(before, after) {
  const edits = [];
  const want = {};
  for (const [name, lines] of Object.entries(after)) want[name.toLowerCase()] = lines;
  for (const name of Object.keys(before)) {
    if (!(name in want)) edits.push({ kind: 'delete', name, key: '', value: '' });
  }
  for (const [name, lines] of Object.entries(want)) {
    const list = (Array.isArray(lines) ? lines : [lines]).map((l) => ({
      key: l.key === undefined ? '' : String(l.key),
      value: String(l.value),
    }));
    if (JSON.stringify(list) === JSON.stringify(before[name])) continue;
    // Edits are flat: several lines of one name are a `set` of the first and `append`s.
    if (list.length === 0) edits.push({ kind: 'delete', name, key: '', value: '' });
    list.forEach((l, i) => edits.push({ kind: i === 0 ? 'set' : 'append', name, ...l }));
  }
  return edits;
}

function originToObject(o) {
  const headers = (lines) => headersToObject(lines);
  switch (o.tag) {
    case 'custom':
      return {
        custom: {
          customHeaders: headers(o.val.customHeaders),
          domainName: o.val.domainName,
          keepaliveTimeout: o.val.keepaliveTimeout,
          path: o.val.path,
          port: o.val.port,
          protocol: o.val.protocol,
          readTimeout: o.val.readTimeout,
          sslProtocols: o.val.sslProtocols,
        },
      };
    case 's3':
      return {
        s3: {
          authMethod: o.val.authMethod,
          customHeaders: headers(o.val.customHeaders),
          domainName: o.val.domainName,
          path: o.val.path,
          region: o.val.region,
        },
      };
    default:
      return { named: o.val };
  }
}

function originToWit(o) {
  const lines = (map) =>
    Object.values(map || {}).flatMap((ls) => ls.map((l) => ({ key: String(l.key ?? ''), value: String(l.value) })));
  if (o.custom) {
    const c = o.custom;
    return {
      tag: 'custom',
      val: {
        domainName: String(c.domainName),
        port: Number(c.port ?? (c.protocol === 'http' ? 80 : 443)),
        protocol: String(c.protocol ?? 'https'),
        path: String(c.path ?? ''),
        readTimeout: Number(c.readTimeout ?? 30),
        keepaliveTimeout: Number(c.keepaliveTimeout ?? 5),
        customHeaders: lines(c.customHeaders),
        sslProtocols: (c.sslProtocols ?? ['TLSv1.2']).map(String),
      },
    };
  }
  if (o.s3) {
    const s = o.s3;
    return {
      tag: 's3',
      val: {
        authMethod: String(s.authMethod ?? 'none'),
        customHeaders: lines(s.customHeaders),
        domainName: String(s.domainName),
        path: String(s.path ?? ''),
        region: String(s.region ?? ''),
      },
    };
  }
  return { tag: 'named', val: String(o.named) };
}

/** Defines `obj[name]` read from the proxy on first use, writable like a plain field. */
function lazy(obj, name, read) {
  Object.defineProperty(obj, name, {
    configurable: true,
    enumerable: true,
    get() {
      const value = read();
      Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
      return value;
    },
    set(value) {
      read();
      Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

/** Whether `obj[name]` holds a value (a plain field, or a lazy one the handler read or set). */
function touched(obj, name) {
  const d = Object.getOwnPropertyDescriptor(obj, name);
  return d !== undefined && 'value' in d;
}

/** What a thrown value says, for the proxy's log: `Error: message` (no stack). */
function describe(e) {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
