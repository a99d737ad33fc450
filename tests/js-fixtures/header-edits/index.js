// Fixture: a Lambda@Edge Node.js handler that edits the request's headers every way AWS's
// object allows (several lines of one name, a name deleted, a name left with no lines, one line
// kept as it was), so tests see each reach the origin through the wrapper's edits.
import { lambdaEdge } from 'edge-hooks';

export const handle = lambdaEdge((event, context, callback) => {
  const request = event.Records[0].cf.request;
  const headers = request.headers;
  headers['x-multi'] = [{ key: 'X-Multi', value: 'one' }, { value: 'two' }];
  delete headers['x-gone'];
  headers['x-emptied'] = [];
  callback(null, request);
});
