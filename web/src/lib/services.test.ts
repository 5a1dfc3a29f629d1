import { describe, expect, it } from "vitest";
import type { ServiceInfo } from "./api";
import {
  healthSummary,
  initialServices,
  parseSnapshot,
  serviceOrigins,
  serviceURL,
  servicesReducer,
  shortHash,
  sortServices,
  storefrontURLs,
} from "./services";

function svc(name: string, state: ServiceInfo["state"], http_url = ""): ServiceInfo {
  return { name, state, grpc_addr: "", http_url };
}

describe("servicesReducer", () => {
  it("replaces the list on each snapshot, sorted as the README, and goes live", () => {
    const m = servicesReducer(initialServices, {
      type: "snapshot",
      at: 1,
      snapshot: { services: [svc("notification", "SERVING"), svc("user", "STARTING"), svc("order", "DOWN")], tracing: { mode: "local" } },
    });
    expect(m.services.map((s) => s.name)).toEqual(["user", "order", "notification"]);
    expect(m.connection).toBe("live");
    const m2 = servicesReducer(m, { type: "snapshot", at: 2, snapshot: { services: [svc("user", "SERVING")] } });
    expect(m2.services).toHaveLength(1);
    expect(m2.tracing).toEqual({ mode: "local" }); // kept when a snapshot has none
  });

  it("tracks the stream connection", () => {
    const down = servicesReducer(initialServices, { type: "error" });
    expect(down.connection).toBe("reconnecting");
    expect(servicesReducer(down, { type: "open" }).connection).toBe("live");
  });
});

describe("parseSnapshot", () => {
  it("parses an SSE payload and refuses anything else", () => {
    expect(parseSnapshot('{"services":[{"name":"user","state":"SERVING"}],"tracing":{"mode":"external","jaeger_url":"http://j"}}')?.tracing?.mode).toBe("external");
    expect(parseSnapshot("not json")).toBeUndefined();
    expect(parseSnapshot('{"other":1}')).toBeUndefined();
  });
});

describe("healthSummary", () => {
  it("counts states and says whether all serve", () => {
    expect(healthSummary([svc("a", "SERVING"), svc("b", "SERVING")]).allServing).toBe(true);
    const h = healthSummary([svc("a", "SERVING"), svc("b", "DOWN"), svc("c", "STARTING")]);
    expect(h.allServing).toBe(false);
    expect(h.counts).toEqual({ SERVING: 1, NOT_SERVING: 0, DOWN: 1, STARTING: 1 });
    expect(healthSummary([]).allServing).toBe(false);
  });
});

describe("helpers", () => {
  it("finds a service URL in the map only, never guessing a default port", () => {
    expect(serviceURL([svc("order", "SERVING", "http://127.0.0.1:9182")], "order")).toBe("http://127.0.0.1:9182");
    expect(serviceURL([], "inventory")).toBe("");
  });
  it("has the storefront's URLs only once the map names all four services", () => {
    const four = ["user", "order", "inventory", "notification"].map((n, i) => svc(n, "STARTING", `http://127.0.0.1:${18181 + i}`));
    expect(storefrontURLs([])).toBeUndefined();
    expect(storefrontURLs(four.slice(0, 3))).toBeUndefined();
    expect(storefrontURLs([...four.slice(0, 3), svc("notification", "DOWN")])).toBeUndefined();
    expect(storefrontURLs(four)).toEqual({
      user: "http://127.0.0.1:18181",
      order: "http://127.0.0.1:18182",
      inventory: "http://127.0.0.1:18183",
      notification: "http://127.0.0.1:18184",
    });
  });
  it("lists the services' origins, skipping URLs that are not absolute", () => {
    expect(serviceOrigins([svc("a", "SERVING", "http://127.0.0.1:1/x"), svc("b", "SERVING", "http://127.0.0.1:1"), svc("c", "SERVING", "/rel"), svc("d", "DOWN")])).toEqual(["http://127.0.0.1:1"]);
  });
  it("sorts unknown services last, alphabetically", () => {
    expect(sortServices([svc("zeta", "SERVING"), svc("alpha", "SERVING"), svc("user", "SERVING")]).map((s) => s.name)).toEqual(["user", "alpha", "zeta"]);
  });
  it("shortens config hashes", () => {
    expect(shortHash("sha256:0123456789abcdef0123")).toBe("0123456789ab");
    expect(shortHash("")).toBe("—");
  });
});
