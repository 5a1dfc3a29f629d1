import { describe, expect, it } from "vitest";
import type { Span } from "./api";
import { formatMs, isErrorStatus, layoutWaterfall, shortName } from "./waterfall";

const T0 = 1_700_000_000_000_000_000n;
function span(id: string, parent: string, service: string, startMs: number, endMs: number, code = "UNSET"): Span {
  return {
    span_id: id,
    parent_span_id: parent,
    service,
    name: `${service}/${id}`,
    start_unix_nano: String(T0 + BigInt(startMs * 1e6)),
    end_unix_nano: String(T0 + BigInt(endMs * 1e6)),
    status: { code },
  };
}

describe("layoutWaterfall", () => {
  it("orders spans as a tree, siblings by start, with depth", () => {
    const w = layoutWaterfall([
      span("n", "r", "notification", 60, 80),
      span("i", "c", "inventory", 10, 40),
      span("r", "browser", "order", 0, 100), // parent not in the trace: a root
      span("c", "r", "order", 5, 45),
      span("p", "r", "order", 50, 55),
    ]);
    expect(w.rows.map((r) => [r.span.span_id, r.depth])).toEqual([
      ["r", 0],
      ["c", 1],
      ["i", 2],
      ["p", 1],
      ["n", 1],
    ]);
    expect(w.durationMs).toBe(100);
    expect(w.services).toEqual(["order", "inventory", "notification"]);
  });

  it("places bars by start and duration as a percentage of the trace", () => {
    const w = layoutWaterfall([span("r", "", "order", 0, 200), span("c", "r", "inventory", 50, 150)]);
    const c = w.rows[1];
    expect(c.left).toBeCloseTo(25);
    expect(c.width).toBeCloseTo(50);
    expect(c.durationMs).toBeCloseTo(100);
    expect(w.rows[0]).toMatchObject({ left: 0, width: 100 });
  });

  it("keeps a zero-length span visible and inside the track", () => {
    const w = layoutWaterfall([span("r", "", "order", 0, 100), span("z", "r", "order", 100, 100)], 1);
    const z = w.rows[1];
    expect(z.width).toBe(1);
    expect(z.left + z.width).toBeLessThanOrEqual(100.0001);
  });

  it("marks error spans", () => {
    const w = layoutWaterfall([span("r", "", "order", 0, 10, "ERROR"), span("c", "r", "order", 1, 2, "OK")]);
    expect(w.rows.map((r) => r.error)).toEqual([true, false]);
  });

  it("survives a parent cycle and an empty trace", () => {
    const w = layoutWaterfall([span("a", "b", "x", 0, 1), span("b", "a", "x", 0, 2)]);
    expect(w.rows.length).toBeLessThanOrEqual(2);
    expect(layoutWaterfall([])).toMatchObject({ rows: [], durationMs: 0 });
  });
});

describe("isErrorStatus and formatMs", () => {
  it("reads OTLP status codes in either spelling", () => {
    expect(isErrorStatus("ERROR")).toBe(true);
    expect(isErrorStatus("STATUS_CODE_ERROR")).toBe(true);
    expect(isErrorStatus(2)).toBe(true);
    expect(isErrorStatus("OK")).toBe(false);
    expect(isErrorStatus(undefined)).toBe(false);
  });
  it("prints durations compactly", () => {
    expect(formatMs(0.4242)).toBe("0.42 ms");
    expect(formatMs(12.34)).toBe("12.3 ms");
    expect(formatMs(1200)).toBe("1.20 s");
  });
});

describe("shortName", () => {
  it("drops the proto package of RPC names only", () => {
    expect(shortName("slipway.order.v1.OrderService/CreateOrder")).toBe("OrderService/CreateOrder");
    expect(shortName("grpc.health.v1.Health/Check")).toBe("Health/Check");
    expect(shortName("slipway.order.placed process")).toBe("slipway.order.placed process");
    expect(shortName("GET /v1/orders")).toBe("GET /v1/orders");
  });
});
