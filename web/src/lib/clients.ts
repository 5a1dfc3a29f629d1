// Clients of the four services over gRPC-Web (binary), generated from the
// same protos as the Go code. Every call carries the session's bearer token
// and a fresh sampled traceparent, so its trace can be opened afterwards.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { InventoryService } from "../gen/slipway/inventory/v1/inventory_pb";
import { NotificationService } from "../gen/slipway/notification/v1/notification_pb";
import { OrderService } from "../gen/slipway/order/v1/order_pb";
import { PaymentService } from "../gen/slipway/payment/v1/payment_pb";
import { UserService } from "../gen/slipway/user/v1/user_pb";
import { authHeader } from "./session";
import { newTraceparent } from "./traceparent";

/** CallRecord is one storefront call, kept so the page can link its trace. */
export interface CallRecord {
  service: string;
  method: string;
  traceId: string;
  at: number;
  ok: boolean;
}

const calls: CallRecord[] = [];
const callListeners = new Set<() => void>();

/** recentCalls returns the last calls, newest first. */
export function recentCalls(): CallRecord[] {
  return calls;
}

/** onCall calls fn after each recorded call; it returns the unsubscribe. */
export function onCall(fn: () => void): () => void {
  callListeners.add(fn);
  return () => callListeners.delete(fn);
}

// The interceptor of every call: token, trace context, and the record.
const session: Interceptor = (next) => async (req) => {
  const auth = authHeader();
  if (auth) req.header.set("Authorization", auth);
  let traceId = "";
  const given = req.header.get("traceparent");
  if (given) {
    traceId = given.split("-")[1] ?? "";
  } else {
    const tp = newTraceparent();
    req.header.set("traceparent", tp.header);
    traceId = tp.traceId;
  }
  const rec: CallRecord = {
    service: req.service.name,
    method: req.method.name,
    traceId,
    at: Date.now(),
    ok: false,
  };
  try {
    const res = await next(req);
    rec.ok = true;
    return res;
  } finally {
    calls.unshift(rec);
    calls.length = Math.min(calls.length, 50);
    for (const l of callListeners) l();
  }
};

/** Clients is one generated client per service. */
export interface Clients {
  user: Client<typeof UserService>;
  inventory: Client<typeof InventoryService>;
  order: Client<typeof OrderService>;
  notification: Client<typeof NotificationService>;
  payment: Client<typeof PaymentService>;
}

/**
 * makeClients builds the clients for the services' HTTP base URLs; fetch is
 * the browser's unless a test passes its own.
 */
export function makeClients(url: (svc: keyof Clients) => string, fetch?: typeof globalThis.fetch): Clients {
  const transport = (baseUrl: string): Transport =>
    createGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors: [session], fetch });
  return {
    user: createClient(UserService, transport(url("user"))),
    inventory: createClient(InventoryService, transport(url("inventory"))),
    order: createClient(OrderService, transport(url("order"))),
    notification: createClient(NotificationService, transport(url("notification"))),
    payment: createClient(PaymentService, transport(url("payment"))),
  };
}
