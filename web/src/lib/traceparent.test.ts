import { describe, expect, it } from "vitest";
import { newTraceparent, parseTraceparent } from "./traceparent";

describe("traceparent", () => {
  it("makes a sampled version-00 header that parses back", () => {
    const tp = newTraceparent();
    expect(tp.header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(parseTraceparent(tp.header)).toEqual({ traceId: tp.traceId, spanId: tp.spanId, sampled: true });
    expect(newTraceparent().traceId).not.toBe(tp.traceId);
  });

  it("never uses an all-zero id", () => {
    let calls = 0;
    const rand = (b: Uint8Array) => {
      b.fill(calls++ === 0 ? 0 : 7);
    };
    expect(newTraceparent(rand).traceId).toBe("07".repeat(16));
  });

  it("refuses malformed and invalid headers", () => {
    expect(parseTraceparent("00-" + "0".repeat(32) + "-" + "1".repeat(16) + "-01")).toBeUndefined();
    expect(parseTraceparent("01-abc")).toBeUndefined();
    expect(parseTraceparent("00-" + "a".repeat(32) + "-" + "b".repeat(16) + "-00")?.sampled).toBe(false);
  });
});
