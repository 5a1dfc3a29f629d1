// Layout of a trace as a waterfall: spans in tree order (children under their
// parent, siblings by start time), each bar placed by start and duration as a
// fraction of the whole trace. A span whose parent is not in the trace (the
// browser's own span, or one lost) is a root.
import type { Span } from "./api";

/** WaterfallRow is one span as drawn. */
export interface WaterfallRow {
  span: Span;
  depth: number;
  /** offset of the bar's start, 0..100 (% of the trace) */
  left: number;
  /** width of the bar, 0..100, never less than minWidth */
  width: number;
  durationMs: number;
  error: boolean;
}

/** Waterfall is the laid-out trace. */
export interface Waterfall {
  rows: WaterfallRow[];
  startNs: bigint;
  durationMs: number;
  services: string[];
}

function ns(s: string | undefined): bigint {
  try {
    return BigInt(s ?? "0");
  } catch {
    return 0n;
  }
}

/** isErrorStatus says whether a span status is an error (OTLP code 2 / "ERROR"). */
export function isErrorStatus(code: string | number | undefined): boolean {
  if (code === undefined) return false;
  if (typeof code === "number") return code === 2;
  return /error/i.test(code) || code === "2";
}

/** layoutWaterfall lays out spans; minWidth keeps a 0 ms span visible. */
export function layoutWaterfall(spans: Span[], minWidth = 0.5): Waterfall {
  if (spans.length === 0) return { rows: [], startNs: 0n, durationMs: 0, services: [] };
  let start = ns(spans[0].start_unix_nano);
  let end = ns(spans[0].end_unix_nano);
  for (const s of spans) {
    const a = ns(s.start_unix_nano);
    const b = ns(s.end_unix_nano);
    if (a < start) start = a;
    if (b > end) end = b;
    if (a > end) end = a;
  }
  const total = end - start;
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    const p = s.parent_span_id;
    if (p && ids.has(p) && p !== s.span_id) {
      const list = children.get(p) ?? [];
      list.push(s);
      children.set(p, list);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a: Span, b: Span) => {
    const d = ns(a.start_unix_nano) - ns(b.start_unix_nano);
    return d < 0n ? -1 : d > 0n ? 1 : a.name.localeCompare(b.name);
  };
  const rows: WaterfallRow[] = [];
  const seen = new Set<string>();
  const pct = (v: bigint) => (total > 0n ? Number((v * 1_000_000n) / total) / 10_000 : 0);
  const visit = (s: Span, depth: number) => {
    if (seen.has(s.span_id)) return; // a cycle in bad data must not hang the page
    seen.add(s.span_id);
    const a = ns(s.start_unix_nano);
    const b = ns(s.end_unix_nano);
    const d = b > a ? b - a : 0n;
    // A bar at least minWidth wide, moved left if it would overflow the track.
    const width = Math.min(Math.max(pct(d), minWidth), 100);
    const left = Math.min(pct(a - start), 100 - width);
    rows.push({
      span: s,
      depth,
      left,
      width,
      durationMs: Number(d) / 1e6,
      error: isErrorStatus(s.status?.code),
    });
    for (const c of (children.get(s.span_id) ?? []).sort(byStart)) visit(c, depth + 1);
  };
  for (const r of roots.sort(byStart)) visit(r, 0);
  const services = [...new Set(rows.map((r) => r.span.service))];
  return { rows, startNs: start, durationMs: Number(total) / 1e6, services };
}

/** formatMs prints a duration compactly: 0.42 ms, 12.3 ms, 1.20 s. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/**
 * shortName drops the proto package from an RPC span name:
 * "slipway.order.v1.OrderService/CreateOrder" -> "OrderService/CreateOrder".
 * Other names ("slipway.order.placed process") are kept.
 */
export function shortName(name: string): string {
  const m = /^(?:[a-z_][\w]*\.)+([A-Z]\w*\/\w+)$/.exec(name);
  return m ? m[1] : name;
}
