// How the replay judges the request violations Prism reports for one
// exchange (replay.mjs). A request the document forbids passes only when
// the service refused it for the same reason: Prism's security check (code
// 401, no location) matches a 401 or 403, a schema violation of the query,
// path, headers or body (location request.<where>...) or a missing body
// matches a 400, an unsupported media type a 400 or 415. Anything else,
// a violation Prism reports that fits none of these included, fails.

// refusals are the statuses a service may answer each kind with.
export const refusals = {
  security: [401, 403],
  validation: [400],
  'media type': [400, 415],
};

// kindOf names the kind of one request violation (an entry of Prism's
// sl-violations header, location starting with "request"), or undefined
// when Prism's code and location tell none.
export function kindOf(v) {
  const code = String(v.code ?? '');
  const where = v.location?.[1];
  if (code === '401' && v.location?.length === 1) return 'security';
  if (code === '415') return 'media type';
  if (['query', 'path', 'header', 'body'].includes(where)) return 'validation';
  if (code === 'required' && v.location?.length === 1) return 'validation'; // a required body not sent
  return undefined;
}

// judgeRequest returns the failures of an exchange whose service answered
// status, given the request violations Prism reported for it: none when
// every violation is of a kind the service refuses with that status.
export function judgeRequest(violations, status) {
  const failures = [];
  for (const v of violations) {
    const kind = kindOf(v);
    const what = `${(v.location ?? []).join('.')}${v.code !== undefined ? ` (${v.code})` : ''}: ${v.message}`;
    if (!kind) {
      failures.push(`Prism reports a request violation of no known kind: ${what}`);
    } else if (status < 400 || status >= 500) {
      failures.push(`the service accepted (${status}) a request the document forbids: ${what}`);
    } else if (!refusals[kind].includes(status)) {
      failures.push(`the document refuses the request as ${kind} (${refusals[kind].join(' or ')}), the service with ${status}: ${what}`);
    }
  }
  return failures;
}
