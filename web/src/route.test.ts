import { describe, expect, it } from "vitest";
import { parseRoute, traceHref, tracesHref } from "./route";

describe("routes", () => {
  it("parses every view", () => {
    expect(parseRoute("")).toEqual({ view: "services" });
    expect(parseRoute("#/api/order")).toEqual({ view: "api", service: "order" });
    expect(parseRoute("#/shop")).toEqual({ view: "shop" });
    expect(parseRoute("#/traces?service=order&operation=CreateOrder")).toEqual({ view: "traces", service: "order", operation: "CreateOrder" });
    expect(parseRoute("#/traces/0af7651916cd43dd8448eb211c80319c")).toEqual({ view: "trace", id: "0af7651916cd43dd8448eb211c80319c" });
    expect(parseRoute("#/logs")).toEqual({ view: "logs" });
  });
  it("links traces to the console, or to Jaeger in external mode", () => {
    expect(tracesHref({ service: "order", operation: "CreateOrder" })).toBe("#/traces?service=order&operation=CreateOrder");
    expect(traceHref("abc", { mode: "local" })).toBe("#/traces/abc");
    expect(traceHref("abc", { mode: "external", jaeger_url: "http://127.0.0.1:16686/" })).toBe("http://127.0.0.1:16686/trace/abc");
  });
});
