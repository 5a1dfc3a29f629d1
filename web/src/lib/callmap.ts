// The live map: GET /api/map (calls between services and dependencies over
// a recent window, computed by the console from the spans it receives) and
// its layout: a deterministic layered drawing, callers left of callees.

/** MapNode is one party of the map. */
export interface MapNode {
  id: string;
  label: string;
  kind: "client" | "service" | "database" | "broker" | "external";
}

/** MapTrace is one recent trace through an edge. */
export interface MapTrace {
  trace_id: string;
  operation: string;
  start: string;
  duration_ms: number;
  error: boolean;
}

/** MapEdge is the calls from one node to another within the window. */
export interface MapEdge {
  from: string;
  to: string;
  kind: "call" | "query" | "publish" | "deliver";
  count: number;
  errors: number;
  rate_per_sec: number;
  error_rate: number;
  p99_ms: number;
  operations: string[];
  traces: MapTrace[];
}

/** CallMap is GET /api/map. */
export interface CallMap {
  window_seconds: number;
  at: string;
  nodes: MapNode[];
  edges: MapEdge[];
}

/** fetchCallMap reads the map of the last windowSeconds. */
export async function fetchCallMap(windowSeconds: number, signal?: AbortSignal): Promise<CallMap> {
  const path = `/api/map?window=${windowSeconds}s`;
  const res = await fetch(path, { signal, headers: { Accept: "application/json" } });
  if (!res.ok) {
    const body = await res.text().catch(() => "");
    throw new Error(`${path}: HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ""}`);
  }
  return (await res.json()) as CallMap;
}

/** Box is a laid-out node: its top-left corner and its column. */
export interface Box {
  node: MapNode;
  col: number;
  x: number;
  y: number;
}

/** Layout is where every node and edge goes, in SVG user units. */
export interface Layout {
  width: number;
  height: number;
  boxes: Map<string, Box>;
  edges: { edge: MapEdge; path: string; mid: { x: number; y: number }; back: boolean }[];
}

export const NODE_W = 156;
export const NODE_H = 52;
const COL_GAP = 190; // between the right of one column and the left of the next
const ROW_GAP = 40;
const PAD = 24;

/**
 * columns assigns each node a column: the clients first, then every service
 * one column right of its furthest caller (longest path over calls, cycles
 * broken), and the dependencies (databases, brokers, external peers) last
 * of all, a broker too: its deliveries to consumers are drawn back leftwards.
 */
export function columns(nodes: MapNode[], edges: MapEdge[]): Map<string, number> {
  const kind = new Map(nodes.map((n) => [n.id, n.kind]));
  // A service a broker delivers to is called, as far as columns go, by
  // the services publishing to that broker: it goes right of them.
  const publishers = (broker: string) => edges.filter((e) => e.to === broker).map((e) => e.from);
  const callers = new Map<string, string[]>();
  for (const e of edges) {
    if (e.from === e.to) continue;
    const from = kind.get(e.from) === "broker" ? publishers(e.from) : isSink(kind.get(e.from)) ? [] : [e.from];
    callers.set(e.to, [...(callers.get(e.to) ?? []), ...from.filter((f) => f !== e.to)]);
  }
  const col = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (id: string): number => {
    const known = col.get(id);
    if (known !== undefined) return known;
    if (kind.get(id) === "client") {
      col.set(id, 0);
      return 0;
    }
    visiting.add(id);
    let d = 1;
    for (const c of callers.get(id) ?? []) {
      if (!visiting.has(c)) d = Math.max(d, depth(c) + 1); // a caller being visited closes a cycle
    }
    visiting.delete(id);
    col.set(id, d);
    return d;
  };
  for (const n of nodes) if (!isSink(n.kind)) depth(n.id);
  const inner = Math.max(1, ...nodes.filter((n) => !isSink(n.kind)).map((n) => col.get(n.id) ?? 1));
  for (const n of nodes) if (isSink(n.kind)) col.set(n.id, inner + 1);
  return col;
}

function isSink(kind: MapNode["kind"] | undefined): boolean {
  return kind === "database" || kind === "broker" || kind === "external";
}

/**
 * layout places the nodes in their columns, each column ordered by the
 * mean row of its callers (so edges cross little), then by label, and
 * centred on the tallest column; edges are cubic curves from the right of
 * the caller to the left of the callee (or, going back, left to right).
 */
export function layout(nodes: MapNode[], edges: MapEdge[]): Layout {
  const col = columns(nodes, edges);
  const byCol: MapNode[][] = [];
  for (const n of nodes) (byCol[col.get(n.id) ?? 1] ??= []).push(n);
  const row = new Map<string, number>();
  const callers = (id: string) => edges.filter((e) => e.to === id && e.from !== id).map((e) => e.from);
  for (const list of byCol) {
    if (!list) continue;
    const key = (n: MapNode) => {
      const rows = callers(n.id)
        .map((c) => row.get(c))
        .filter((r): r is number => r !== undefined);
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Number.POSITIVE_INFINITY;
    };
    list.sort((a, b) => key(a) - key(b) || a.label.localeCompare(b.label));
    list.forEach((n, i) => row.set(n.id, i));
  }
  const tallest = Math.max(1, ...byCol.map((l) => l?.length ?? 0));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  const boxes = new Map<string, Box>();
  byCol.forEach((list, c) => {
    if (!list) return;
    const used = list.length * NODE_H + (list.length - 1) * ROW_GAP;
    const top = (height - used) / 2;
    list.forEach((n, i) => boxes.set(n.id, { node: n, col: c, x: PAD + c * (NODE_W + COL_GAP), y: top + i * (NODE_H + ROW_GAP) }));
  });
  const lastCol = Math.max(0, ...[...boxes.values()].map((b) => b.col));
  const width = PAD * 2 + (lastCol + 1) * NODE_W + lastCol * COL_GAP;
  const laid = edges.flatMap((edge) => {
    const a = boxes.get(edge.from);
    const b = boxes.get(edge.to);
    if (!a || !b || a === b) return [];
    const back = b.col <= a.col;
    const y1 = a.y + NODE_H / 2;
    const y2 = b.y + NODE_H / 2;
    const x1 = back ? a.x : a.x + NODE_W;
    const x2 = back ? b.x + NODE_W : b.x;
    const pull = back ? -Math.max(60, Math.abs(x2 - x1) / 2) : Math.max(40, (x2 - x1) / 2);
    const c1 = { x: x1 + pull, y: y1 };
    const c2 = { x: x2 - pull, y: y2 };
    const path = `M${x1},${y1} C${c1.x},${c1.y} ${c2.x},${c2.y} ${x2},${y2}`;
    const at = (t: number) => ({
      x: (1 - t) ** 3 * x1 + 3 * (1 - t) ** 2 * t * c1.x + 3 * (1 - t) * t ** 2 * c2.x + t ** 3 * x2,
      y: (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * c1.y + 3 * (1 - t) * t ** 2 * c2.y + t ** 3 * y2,
    });
    // An edge that skips a column has its label in the gap after the
    // caller, among its caller's other labels and clear of the columns
    // between.
    let mid = at(0.5);
    if (!back && b.col - a.col > 1) {
      const x = a.x + NODE_W + COL_GAP / 2;
      let lo = 0;
      let hi = 1;
      for (let i = 0; i < 30; i++) {
        const t = (lo + hi) / 2;
        if (at(t).x < x) lo = t;
        else hi = t;
      }
      mid = at(lo);
    }
    return [{ edge, path, mid, back }];
  });
  spreadLabels(laid.map((e) => e.mid));
  return { width, height, boxes, edges: laid };
}

/** LABEL_H is the height of an edge's label; labels closer than it in the same gap are moved apart. */
export const LABEL_H = 22;

/**
 * spreadLabels moves label centres in the same gap (close in x) apart
 * vertically until none overlap, keeping their order and, as far as it
 * can, their mean position.
 */
export function spreadLabels(mids: { x: number; y: number }[]): void {
  const groups = new Map<number, { x: number; y: number }[]>();
  for (const m of mids) {
    const band = Math.round(m.x / 80);
    groups.set(band, [...(groups.get(band) ?? []), m]);
  }
  for (const g of groups.values()) {
    g.sort((a, b) => a.y - b.y);
    const before = g.reduce((s, m) => s + m.y, 0);
    for (let i = 1; i < g.length; i++) g[i].y = Math.max(g[i].y, g[i - 1].y + LABEL_H);
    const shift = (g.reduce((s, m) => s + m.y, 0) - before) / g.length;
    for (const m of g) m.y -= shift;
  }
}

/** formatRate renders calls per second compactly: "12/s", "0.35/s", "2/min". */
export function formatRate(perSec: number): string {
  if (perSec <= 0) return "0/s";
  if (perSec >= 10) return `${Math.round(perSec)}/s`;
  if (perSec >= 0.1) return `${Number(perSec.toFixed(2))}/s`;
  const perMin = perSec * 60;
  return `${Number(perMin.toFixed(perMin >= 1 ? 1 : 2))}/min`;
}

/** formatMS renders a latency: "850µs", "12ms", "1.4s". */
export function formatMS(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Number(ms.toFixed(ms < 10 ? 1 : 0))}ms`;
  return `${Number((ms / 1000).toFixed(1))}s`;
}

/** formatPercent renders an error rate: "0%", "0.5%", "33%". */
export function formatPercent(ratio: number): string {
  const p = ratio * 100;
  if (p === 0) return "0%";
  return `${Number(p.toFixed(p < 1 ? 1 : 0))}%`;
}

/** edgeTone is how alarming an edge is: errors in one call of 20 or more are bad. */
export function edgeTone(e: MapEdge): "ok" | "warn" | "bad" {
  if (e.error_rate >= 0.05) return "bad";
  if (e.errors > 0) return "warn";
  return "ok";
}

/** strokeWidth grows with the log of the rate, from 1.5 to 6. */
export function strokeWidth(perSec: number): number {
  if (perSec <= 0) return 1.5;
  return Math.min(6, Math.max(1.5, 2.5 + Math.log10(perSec) * 1.5));
}
