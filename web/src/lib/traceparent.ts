// The storefront starts the trace of each call itself: it sends a W3C
// traceparent (sampled), so the console knows the trace id of the order it
// placed without the services echoing it back.

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomHex(n: number, rand: (b: Uint8Array) => void): string {
  const b = new Uint8Array(n);
  // an all-zero id is invalid in W3C trace context
  do rand(b);
  while (b.every((x) => x === 0));
  return hex(b);
}

/** Traceparent is a trace context to send with one call. */
export interface Traceparent {
  traceId: string;
  spanId: string;
  header: string;
}

/** newTraceparent makes a sampled traceparent with fresh random ids. */
export function newTraceparent(
  rand: (b: Uint8Array) => void = (b) => crypto.getRandomValues(b),
): Traceparent {
  const traceId = randomHex(16, rand);
  const spanId = randomHex(8, rand);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

const re = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** parseTraceparent returns the ids of a version-00 header, or undefined. */
export function parseTraceparent(h: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const m = re.exec(h.trim());
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
}
