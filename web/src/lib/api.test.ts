import { describe, expect, it } from "vitest";
import { mergeLogs } from "./api";

describe("mergeLogs", () => {
  it("merges the lines of several traces newest first, bounded", () => {
    const l = (time: string, trace_id: string) => ({ time, trace_id, service: "order", level: "INFO", msg: "m" });
    const got = mergeLogs([[l("2026-01-01T00:00:01Z", "a"), l("2026-01-01T00:00:03Z", "a")], [l("2026-01-01T00:00:02Z", "b")]], 2);
    expect(got.map((x) => x.time)).toEqual(["2026-01-01T00:00:03Z", "2026-01-01T00:00:02Z"]);
  });
});
