import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useReducer, useState } from "preact/hooks";
import type { Tracing } from "../lib/api";
import { cartCount, cartReducer, cartTotals, idempotencyKey, lineItems } from "../lib/cart";
import { onCall, recentCalls, type Clients } from "../lib/clients";
import { describeError, type ReadableError } from "../lib/errors";
import { formatMoney } from "../lib/money";
import { DEFAULT_CARD, paymentStateName, paymentTone, SANDBOX_CARDS, settling, statusName, statusTone } from "../lib/payment";
import { setSession, type Session } from "../lib/session";
import { newTraceparent } from "../lib/traceparent";
import type { Product } from "../gen/slipway/inventory/v1/inventory_pb";
import type { Notification } from "../gen/slipway/notification/v1/notification_pb";
import { NotificationKind } from "../gen/slipway/notification/v1/notification_pb";
import { OrderStatus, type Order } from "../gen/slipway/order/v1/order_pb";
import { traceHref, tracesHref } from "../route";
import { ErrorBox } from "./errorbox";

// The trace id of each order placed in this tab (the storefront started that
// trace). In memory only, like the session. Orders placed elsewhere link to
// the CreateOrder traces instead.
const orderTraces = new Map<string, string>();

function when(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toLocaleString() : "—";
}

function kindName(k: NotificationKind): string {
  return (NotificationKind[k] ?? "UNKNOWN").replace(/^NOTIFICATION_KIND_/, "");
}

function Auth({ clients }: { clients: Clients }) {
  const [reg, setReg] = useState({ email: "", password: "", displayName: "" });
  const [login, setLogin] = useState({ email: "", password: "" });
  const [regErr, setRegErr] = useState<ReadableError>();
  const [loginErr, setLoginErr] = useState<ReadableError>();
  const [note, setNote] = useState("");

  const doRegister = async (e: Event) => {
    e.preventDefault();
    setRegErr(undefined);
    try {
      const r = await clients.user.register(reg);
      setNote(`Registered ${r.user?.email ?? reg.email}: log in below.`);
      setLogin({ email: reg.email, password: "" });
    } catch (err) {
      setRegErr(describeError(err));
    }
  };
  const doLogin = async (e: Event) => {
    e.preventDefault();
    setLoginErr(undefined);
    try {
      const r = await clients.user.login(login);
      setSession({
        token: r.accessToken,
        userId: r.user?.id ?? "",
        email: r.user?.email ?? login.email,
        displayName: r.user?.displayName ?? "",
        expiresAt: r.expiresAt ? timestampDate(r.expiresAt) : undefined,
      });
    } catch (err) {
      setLoginErr(describeError(err));
    }
  };

  return (
    <div class="grid two">
      <form class="card" onSubmit={doRegister} noValidate data-testid="register-form">
        <h3>Register</h3>
        <label>
          email
          <input type="email" value={reg.email} onInput={(e) => setReg({ ...reg, email: e.currentTarget.value })} data-testid="reg-email" />
        </label>
        <label>
          password
          <input type="password" value={reg.password} onInput={(e) => setReg({ ...reg, password: e.currentTarget.value })} data-testid="reg-password" />
        </label>
        <label>
          display name
          <input value={reg.displayName} onInput={(e) => setReg({ ...reg, displayName: e.currentTarget.value })} data-testid="reg-name" />
        </label>
        <button type="submit" data-testid="reg-submit">
          Register
        </button>
        {note && (
          <p class="ok-text" data-testid="reg-ok">
            {note}
          </p>
        )}
        <ErrorBox err={regErr} testid="reg-error" />
      </form>
      <form class="card" onSubmit={doLogin} noValidate data-testid="login-form">
        <h3>Log in</h3>
        <label>
          email
          <input type="email" value={login.email} onInput={(e) => setLogin({ ...login, email: e.currentTarget.value })} data-testid="login-email" />
        </label>
        <label>
          password
          <input type="password" value={login.password} onInput={(e) => setLogin({ ...login, password: e.currentTarget.value })} data-testid="login-password" />
        </label>
        <button type="submit" data-testid="login-submit">
          Log in
        </button>
        <p class="muted">The token stays in this tab's memory: a reload logs out.</p>
        <ErrorBox err={loginErr} testid="login-error" />
      </form>
    </div>
  );
}

// RecentCalls lists this tab's last calls, each with a link to its trace.
function RecentCalls({ tracing }: { tracing: Tracing }) {
  const [, setTick] = useState(0);
  useEffect(() => onCall(() => setTick((t) => t + 1)), []);
  const calls = recentCalls().slice(0, 8);
  if (calls.length === 0) return null;
  return (
    <section class="card">
      <h3>Recent calls</h3>
      <ul class="calls" data-testid="recent-calls">
        {calls.map((c) => (
          <li key={c.traceId + c.at}>
            <span class={`badge ${c.ok ? "SERVING" : "DOWN"}`}>{c.ok ? "ok" : "error"}</span>{" "}
            <code>{c.method}</code>{" "}
            <a href={traceHref(c.traceId, tracing)} class="small">
              trace
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Shop is the storefront: every call over gRPC-Web with the generated clients. */
export function Shop({ clients, session, tracing }: { clients: Clients; session?: Session; tracing: Tracing }) {
  const [products, setProducts] = useState<Product[]>([]);
  const [orders, setOrders] = useState<Order[]>([]);
  const [notes, setNotes] = useState<Notification[]>([]);
  const [cart, dispatch] = useReducer(cartReducer, []);
  const [err, setErr] = useState<ReadableError>();
  const [busy, setBusy] = useState(false);
  const [placed, setPlaced] = useState<{ id: string; traceId: string; status: OrderStatus }>();
  const [card, setCard] = useState(DEFAULT_CARD);

  const loadProducts = async () => {
    try {
      const r = await clients.inventory.listProducts({ pageSize: 100 });
      setProducts(r.products);
    } catch (e) {
      setErr(describeError(e));
    }
  };
  const loadMine = async (): Promise<{ notes: number; settling: boolean }> => {
    if (!session) return { notes: 0, settling: false };
    const [o, n] = await Promise.all([
      clients.order.listMyOrders({ pageSize: 50 }),
      clients.notification.listMyNotifications({ pageSize: 50 }),
    ]);
    setOrders(o.orders);
    setNotes(n.notifications);
    return { notes: n.notifications.length, settling: o.orders.some(settling) };
  };
  const refresh = () => loadMine().catch((e) => setErr(describeError(e)));
  // Stock moves with orders too: a failed order's stock is released when
  // inventory hears of it.
  const refreshAll = () => Promise.all([loadProducts(), refresh()]);

  // Events reach notification and inventory asynchronously, and a pending
  // order or an uncaptured payment settles in the background: after a
  // change, poll a few times (bounded) until the notifications catch up and
  // no order is still settling.
  const pollMine = async (want: number) => {
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      void loadProducts();
      const got = await loadMine().catch(() => ({ notes: 0, settling: true }));
      if (got.notes >= want && !got.settling) return;
    }
  };

  useEffect(() => {
    void loadProducts();
  }, [clients]);
  useEffect(() => {
    setOrders([]);
    setNotes([]);
    if (session) void refresh();
  }, [clients, session?.token]);

  const placeOrder = async () => {
    setErr(undefined);
    setBusy(true);
    const tp = newTraceparent();
    try {
      const r = await clients.order.createOrder(
        { idempotencyKey: idempotencyKey(), items: lineItems(cart), paymentMethod: card },
        { headers: { traceparent: tp.header } },
      );
      const id = r.order?.id ?? "";
      orderTraces.set(id, tp.traceId);
      setPlaced({ id, traceId: tp.traceId, status: r.order?.status ?? OrderStatus.UNSPECIFIED });
      dispatch({ type: "clear" });
      await loadProducts();
      await refresh();
      void pollMine(notes.length + 1);
    } catch (e) {
      setErr(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const cancel = async (id: string) => {
    setErr(undefined);
    try {
      await clients.order.cancelOrder({ id, reason: "cancelled in the console" });
      await loadProducts();
      await refresh();
      void pollMine(notes.length + 1);
    } catch (e) {
      setErr(describeError(e));
    }
  };

  const totals = cartTotals(cart);
  // The last order placed here, as the latest listing has it (a PENDING
  // answer settles later).
  const placedStatus = orders.find((o) => o.id === placed?.id)?.status ?? placed?.status ?? OrderStatus.UNSPECIFIED;
  return (
    <div class="shop">
      <div class="toolbar">
        <h2>Storefront</h2>
        <span class="muted">gRPC-Web through the generated clients; each call starts its own trace.</span>
      </div>
      {!session && <Auth clients={clients} />}
      <ErrorBox err={err} testid="shop-error" />
      {placed && (
        <p
          class={placedStatus === OrderStatus.FAILED ? "error-text" : "ok-text"}
          data-testid="order-placed"
          data-order-id={placed.id}
          data-status={statusName(placedStatus)}
        >
          Order <code>{placed.id}</code>: <span class={`badge tone-${statusTone(placedStatus)}`}>{statusName(placedStatus)}</span>{" "}
          <a href={traceHref(placed.traceId, tracing)} data-testid="placed-trace">
            its trace
          </a>
        </p>
      )}
      <div class="grid shop-grid">
        <section class="card">
          <h3>Products</h3>
          <div class="scroll">
          <table class="table" data-testid="products">
            <thead>
              <tr>
                <th>product</th>
                <th>price</th>
                <th>stock</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {products.map((p) => (
                <tr key={p.id} data-testid="product-row" data-product-id={p.id}>
                  <td>
                    <strong>{p.name}</strong>
                    <div class="muted small">{p.description}</div>
                  </td>
                  <td>{formatMoney(p.price)}</td>
                  <td data-testid={`stock-${p.id}`}>{p.stock.toString()}</td>
                  <td>
                    <button
                      disabled={p.stock <= 0n || !p.price}
                      data-testid={`add-${p.id}`}
                      onClick={() =>
                        p.price &&
                        dispatch({
                          type: "add",
                          product: { productId: p.id, name: p.name, unitPrice: p.price, stock: Number(p.stock) },
                        })
                      }
                    >
                      add
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        </section>
        <div class="stack">
        <section class="card" data-testid="cart">
          <h3>
            Cart <span class="muted">({cartCount(cart)})</span>
          </h3>
          {cart.length === 0 && <p class="muted">empty</p>}
          <ul class="lines">
            {cart.map((l) => (
              <li key={l.productId} data-testid="cart-line" data-product-id={l.productId}>
                <span>{l.name}</span>
                <input
                  type="number"
                  min={0}
                  max={l.stock}
                  value={l.quantity}
                  data-testid={`qty-${l.productId}`}
                  onInput={(e) => dispatch({ type: "set", productId: l.productId, quantity: Number(e.currentTarget.value) })}
                />
                <span>{formatMoney({ ...l.unitPrice, amountMinor: l.unitPrice.amountMinor * BigInt(l.quantity) })}</span>
                <button class="link" onClick={() => dispatch({ type: "remove", productId: l.productId })}>
                  remove
                </button>
              </li>
            ))}
          </ul>
          <p data-testid="cart-total">
            total: <strong>{totals.length ? totals.map(formatMoney).join(" + ") : "—"}</strong>
          </p>
          <label class="card-choice">
            payment: sandbox test card <span class="muted small">(the payment service's sandbox; no real card is charged)</span>
            <select value={card} onChange={(e) => setCard(e.currentTarget.value)} data-testid="payment-card">
              {SANDBOX_CARDS.map((c) => (
                <option key={c.paymentMethod} value={c.paymentMethod}>
                  {c.label} ({c.paymentMethod})
                </option>
              ))}
            </select>
          </label>
          <button
            class="primary"
            disabled={!session || cart.length === 0 || busy}
            onClick={placeOrder}
            data-testid="place-order"
            title={session ? "" : "log in first"}
          >
            {busy ? "placing…" : "Place order"}
          </button>
        </section>
        <RecentCalls tracing={tracing} />
        </div>
      </div>
      {session && (
        <div class="grid two">
          <section class="card">
            <h3>
              My orders{" "}
              <button class="link" onClick={refreshAll} data-testid="refresh-mine">
                refresh
              </button>
            </h3>
            <table class="table" data-testid="orders">
              <thead>
                <tr>
                  <th>order</th>
                  <th>status</th>
                  <th>payment</th>
                  <th>total</th>
                  <th>placed</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {orders.map((o) => {
                  const tid = orderTraces.get(o.id);
                  return (
                    <tr
                      key={o.id}
                      data-testid="order-row"
                      data-order-id={o.id}
                      data-status={statusName(o.status)}
                      data-payment={paymentStateName(o.paymentState)}
                    >
                      <td>
                        <code title={o.id}>{o.id.slice(0, 8)}</code>
                        <div class="muted small">{o.items.map((i) => `${i.quantity}× ${i.name || i.productId}`).join(", ")}</div>
                      </td>
                      <td>
                        <span class={`badge tone-${statusTone(o.status)}`} data-testid={`status-${o.id}`}>
                          {statusName(o.status)}
                        </span>
                        {o.status === OrderStatus.FAILED && o.failureReason && (
                          <div class="error-text small" data-testid={`failure-${o.id}`}>
                            {o.failureReason}
                          </div>
                        )}
                      </td>
                      <td>
                        <span class={`badge tone-${paymentTone(o.paymentState)}`} data-testid={`payment-${o.id}`}>
                          {paymentStateName(o.paymentState)}
                        </span>
                      </td>
                      <td>{formatMoney(o.total)}</td>
                      <td class="small">{when(o.createdAt)}</td>
                      <td class="actions">
                        <a
                          href={tid ? traceHref(tid, tracing) : tracesHref({ service: "order", operation: "CreateOrder" })}
                          data-testid={`order-trace-${o.id}`}
                        >
                          trace
                        </a>
                        {o.status === OrderStatus.PLACED && (
                          <button class="link" onClick={() => cancel(o.id)} data-testid={`cancel-${o.id}`}>
                            cancel
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </section>
          <section class="card">
            <h3>My notifications</h3>
            <ul class="notes" data-testid="notifications">
              {notes.length === 0 && <li class="muted">none yet</li>}
              {notes.map((n) => (
                <li key={n.id} data-testid="notification-row" data-order-id={n.orderId} data-kind={kindName(n.kind)}>
                  <strong>{n.title}</strong> <span class="muted small">{when(n.createdAt)}</span>
                  <div>{n.body}</div>
                </li>
              ))}
            </ul>
          </section>
        </div>
      )}
    </div>
  );
}
