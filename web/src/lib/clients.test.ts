import { afterEach, describe, expect, it } from "vitest";
import { makeClients, recentCalls } from "./clients";
import { setSession } from "./session";
import { parseTraceparent } from "./traceparent";

// grpcWebOK is a successful gRPC-Web response: an empty message, then trailers.
function grpcWebOK(): Response {
  const trailer = new TextEncoder().encode("grpc-status: 0\r\n");
  const body = new Uint8Array(5 + 5 + trailer.length);
  body.set([0, 0, 0, 0, 0], 0); // data frame, length 0
  body.set([0x80, 0, 0, 0, trailer.length], 5); // trailer frame
  body.set(trailer, 10);
  return new Response(body, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
}

function recorder() {
  const seen: { url: string; headers: Headers }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    seen.push({ url: String(input), headers: new Headers(init?.headers) });
    return grpcWebOK();
  };
  return { seen, fetch };
}

const urls = { user: "http://u", inventory: "http://i", order: "http://o", notification: "http://n", payment: "http://p" };

afterEach(() => setSession(undefined));

describe("clients", () => {
  it("calls each service over gRPC-Web (binary) at its URL", async () => {
    const r = recorder();
    const c = makeClients((s) => urls[s], r.fetch);
    await c.inventory.listProducts({ pageSize: 3 });
    await c.notification.listMyNotifications({});
    await c.payment.listMyPayments({});
    expect(r.seen.map((s) => s.url)).toEqual([
      "http://i/slipway.inventory.v1.InventoryService/ListProducts",
      "http://n/slipway.notification.v1.NotificationService/ListMyNotifications",
      "http://p/slipway.payment.v1.PaymentService/ListMyPayments",
    ]);
    expect(r.seen[0].headers.get("content-type")).toBe("application/grpc-web+proto");
  });

  it("sends the session's bearer token, and none without a session", async () => {
    const r = recorder();
    const c = makeClients((s) => urls[s], r.fetch);
    await c.order.listMyOrders({});
    setSession({ token: "tok", userId: "u", email: "e", displayName: "" });
    await c.order.listMyOrders({});
    expect(r.seen[0].headers.get("authorization")).toBeNull();
    expect(r.seen[1].headers.get("authorization")).toBe("Bearer tok");
  });

  it("starts a sampled trace per call and records it, keeping a traceparent the caller set", async () => {
    const r = recorder();
    const c = makeClients((s) => urls[s], r.fetch);
    await c.inventory.getProduct({ id: "a" });
    const tp = parseTraceparent(r.seen[0].headers.get("traceparent") ?? "");
    expect(tp?.sampled).toBe(true);
    expect(recentCalls()[0]).toMatchObject({ method: "GetProduct", traceId: tp?.traceId, ok: true });

    const mine = `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`;
    await c.order.createOrder({ idempotencyKey: "k-12345678", items: [] }, { headers: { traceparent: mine } });
    expect(r.seen[1].headers.get("traceparent")).toBe(mine);
    expect(recentCalls()[0]).toMatchObject({ method: "CreateOrder", traceId: "ab".repeat(16) });
  });

  it("records a failed call as not ok", async () => {
    const fetch: typeof globalThis.fetch = async () =>
      new Response(null, { status: 200, headers: { "content-type": "application/grpc-web+proto", "grpc-status": "16", "grpc-message": "no" } });
    const c = makeClients((s) => urls[s], fetch);
    await expect(c.user.getMe({})).rejects.toThrow();
    expect(recentCalls()[0]).toMatchObject({ method: "GetMe", ok: false });
  });
});
