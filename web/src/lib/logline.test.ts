import { describe, expect, it } from "vitest";
import { logDetail } from "./logline";

describe("logDetail", () => {
  it("lists the fields that are not columns, nested ones dotted", () => {
    const line = JSON.stringify({
      time: "t",
      level: "INFO",
      msg: "rpc",
      service: "order",
      trace_id: "x",
      span_id: "y",
      method: "/slipway.order.v1.OrderService/CreateOrder",
      code: "OK",
      duration_ms: 12.5,
      peer: { addr: "127.0.0.1" },
    });
    expect(logDetail(line)).toBe("method=/slipway.order.v1.OrderService/CreateOrder code=OK duration_ms=12.5 peer.addr=127.0.0.1");
  });
  it("is empty for a line that is not a JSON object, and bounded", () => {
    expect(logDetail("plain text")).toBe("");
    expect(logDetail("[1,2]")).toBe("");
    expect(logDetail(undefined)).toBe("");
    expect(logDetail(JSON.stringify({ a: "x".repeat(500) }), 20)).toHaveLength(20);
  });
});
