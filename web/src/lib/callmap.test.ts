import { describe, expect, it } from "vitest";
import {
  columns,
  edgeTone,
  formatMS,
  formatPercent,
  formatRate,
  LABEL_H,
  layout,
  NODE_W,
  spreadLabels,
  strokeWidth,
  type MapEdge,
  type MapNode,
} from "./callmap";

const node = (id: string, kind: MapNode["kind"] = "service"): MapNode => ({ id, label: id.replace(/^\w+:/, ""), kind });
const edge = (from: string, to: string, over: Partial<MapEdge> = {}): MapEdge => ({
  from,
  to,
  kind: "call",
  count: 1,
  errors: 0,
  rate_per_sec: 1 / 60,
  error_rate: 0,
  p99_ms: 3,
  operations: [],
  traces: [],
  ...over,
});

// The map of a storefront order, as GET /api/map draws it.
const nodes = [
  node("broker:nats", "broker"),
  node("clients", "client"),
  node("database:postgresql", "database"),
  node("inventory"),
  node("notification"),
  node("order"),
  node("payment"),
  node("user"),
];
const edges = [
  edge("broker:nats", "notification", { kind: "deliver" }),
  edge("clients", "notification"),
  edge("clients", "order"),
  edge("clients", "user"),
  edge("order", "broker:nats", { kind: "publish" }),
  edge("order", "database:postgresql", { kind: "query" }),
  edge("order", "inventory"),
  edge("order", "payment"),
  edge("order", "user"),
];

describe("columns", () => {
  it("puts callers left of callees and the dependencies last, whatever a broker delivers to", () => {
    const col = columns(nodes, edges);
    expect(Object.fromEntries(col)).toEqual({
      clients: 0,
      order: 1,
      inventory: 2,
      payment: 2,
      user: 2,
      notification: 2,
      "broker:nats": 3,
      "database:postgresql": 3,
    });
  });

  it("breaks cycles and puts idle services next to the clients", () => {
    const col = columns([node("a"), node("b"), node("idle")], [edge("a", "b"), edge("b", "a")]);
    expect(col.get("idle")).toBe(1);
    expect(Math.abs(col.get("a")! - col.get("b")!)).toBe(1);
  });
});

describe("layout", () => {
  it("is deterministic, whatever order the nodes come in", () => {
    const a = layout(nodes, edges);
    const b = layout([...nodes].reverse(), [...edges].reverse());
    for (const [id, box] of a.boxes) expect(b.boxes.get(id), id).toMatchObject({ x: box.x, y: box.y, col: box.col });
  });

  it("places no two nodes on each other and draws every edge between its nodes", () => {
    const l = layout(nodes, edges);
    const seen = new Set<string>();
    for (const b of l.boxes.values()) {
      const at = `${b.x},${b.y}`;
      expect(seen.has(at), at).toBe(false);
      seen.add(at);
      expect(b.x + NODE_W).toBeLessThanOrEqual(l.width);
    }
    expect(l.edges).toHaveLength(edges.length);
    const order = l.boxes.get("order")!;
    const inv = l.edges.find((e) => e.edge.to === "inventory")!;
    expect(inv.path.startsWith(`M${order.x + NODE_W},`)).toBe(true);
    expect(inv.back).toBe(false);
    expect(inv.mid.x).toBeGreaterThan(order.x + NODE_W);
    expect(inv.mid.x).toBeLessThan(l.boxes.get("inventory")!.x);
  });

  it("labels an edge that skips a column in the gap after its caller", () => {
    const l = layout(nodes, edges);
    const clients = l.boxes.get("clients")!;
    const order = l.boxes.get("order")!;
    const long = l.edges.find((e) => e.edge.from === "clients" && e.edge.to === "notification")!;
    expect(long.mid.x).toBeGreaterThan(clients.x + NODE_W);
    expect(long.mid.x).toBeLessThan(order.x);
    const delivery = l.edges.find((e) => e.edge.kind === "deliver")!;
    expect(delivery.back).toBe(true);
  });

  it("moves overlapping labels in a gap apart, in their order", () => {
    const mids = [
      { x: 100, y: 50 },
      { x: 104, y: 52 },
      { x: 400, y: 51 },
    ];
    spreadLabels(mids);
    expect(mids[1].y - mids[0].y).toBeGreaterThanOrEqual(LABEL_H);
    expect(mids[0].y + mids[1].y).toBeCloseTo(102);
    expect(mids[2].y).toBe(51);
  });

  it("draws an edge to an earlier column as a back edge, left side to right side", () => {
    const l = layout([node("a"), node("b")], [edge("a", "b"), edge("b", "a")]);
    const back = l.edges.filter((e) => e.back);
    expect(back).toHaveLength(1);
    const from = l.boxes.get(back[0].edge.from)!;
    expect(back[0].path.startsWith(`M${from.x},`)).toBe(true);
  });

  it("is empty without nodes", () => {
    const l = layout([], []);
    expect(l.boxes.size).toBe(0);
    expect(l.edges).toEqual([]);
    expect(l.width).toBeGreaterThan(0);
  });
});

describe("figures", () => {
  it.each([
    [0, "0/s"],
    [25.4, "25/s"],
    [1.234, "1.23/s"],
    [2 / 60, "2/min"],
    [0.5 / 60, "0.5/min"],
  ])("formatRate(%s) = %s", (v, want) => expect(formatRate(v)).toBe(want));

  it.each([
    [0.25, "250µs"],
    [3.14, "3.1ms"],
    [120.4, "120ms"],
    [1450, "1.4s"],
  ])("formatMS(%s) = %s", (v, want) => expect(formatMS(v)).toBe(want));

  it.each([
    [0, "0%"],
    [0.005, "0.5%"],
    [1 / 3, "33%"],
  ])("formatPercent(%s) = %s", (v, want) => expect(formatPercent(v)).toBe(want));

  it("tones an edge by its errors", () => {
    expect(edgeTone(edge("a", "b"))).toBe("ok");
    expect(edgeTone(edge("a", "b", { errors: 1, count: 100, error_rate: 0.01 }))).toBe("warn");
    expect(edgeTone(edge("a", "b", { errors: 1, count: 2, error_rate: 0.5 }))).toBe("bad");
  });

  it("draws busier edges thicker, within bounds", () => {
    expect(strokeWidth(0)).toBe(1.5);
    expect(strokeWidth(1)).toBeLessThan(strokeWidth(10));
    expect(strokeWidth(1e6)).toBe(6);
  });
});
