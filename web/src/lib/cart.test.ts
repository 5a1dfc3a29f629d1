import { describe, expect, it } from "vitest";
import { cartCount, cartReducer, cartTotals, idempotencyKey, lineItems, MAX_QUANTITY, type Cart } from "./cart";
import { formatMoney } from "./money";

const espresso = { productId: "espresso-blend-1kg", name: "Espresso", unitPrice: { currency: "EUR", amountMinor: 2450n }, stock: 60 };
const mug = { productId: "mug", name: "Mug", unitPrice: { currency: "EUR", amountMinor: 999n }, stock: 2 };

describe("cartReducer", () => {
  it("adds a product, then increases its quantity", () => {
    let c: Cart = [];
    c = cartReducer(c, { type: "add", product: espresso });
    c = cartReducer(c, { type: "add", product: espresso, quantity: 2 });
    expect(c).toHaveLength(1);
    expect(c[0].quantity).toBe(3);
  });

  it("never exceeds the stock or the per-line limit", () => {
    let c = cartReducer([], { type: "add", product: mug, quantity: 5 });
    expect(c[0].quantity).toBe(2);
    c = cartReducer([], { type: "add", product: { ...espresso, stock: 5000 }, quantity: 4000 });
    expect(c[0].quantity).toBe(MAX_QUANTITY);
  });

  it("does not add an out-of-stock product", () => {
    expect(cartReducer([], { type: "add", product: { ...mug, stock: 0 } })).toEqual([]);
  });

  it("sets, drops at zero, removes and clears", () => {
    let c = cartReducer(cartReducer([], { type: "add", product: espresso }), { type: "add", product: mug });
    c = cartReducer(c, { type: "set", productId: "espresso-blend-1kg", quantity: 4 });
    expect(c.map((l) => l.quantity)).toEqual([4, 1]);
    c = cartReducer(c, { type: "set", productId: "mug", quantity: 0 });
    expect(c.map((l) => l.productId)).toEqual(["espresso-blend-1kg"]);
    c = cartReducer(c, { type: "remove", productId: "espresso-blend-1kg" });
    expect(c).toEqual([]);
    expect(cartReducer([{ ...mug, quantity: 1 }], { type: "clear" })).toEqual([]);
  });
});

describe("cart totals", () => {
  it("sums minor units per currency without floating point", () => {
    let c = cartReducer([], { type: "add", product: espresso, quantity: 3 });
    c = cartReducer(c, { type: "add", product: mug, quantity: 2 });
    c = cartReducer(c, { type: "add", product: { productId: "tea", name: "Tea", unitPrice: { currency: "USD", amountMinor: 10n }, stock: 9 } });
    expect(cartTotals(c)).toEqual([
      { currency: "EUR", amountMinor: 3n * 2450n + 2n * 999n },
      { currency: "USD", amountMinor: 10n },
    ]);
    expect(cartCount(c)).toBe(6);
    expect(formatMoney(cartTotals(c)[0])).toBe("EUR 93.48");
  });

  it("builds the CreateOrder items", () => {
    const c = cartReducer([], { type: "add", product: espresso, quantity: 2 });
    expect(lineItems(c)).toEqual([{ productId: "espresso-blend-1kg", quantity: 2 }]);
  });

  it("makes idempotency keys the order service accepts (8..128 chars), fresh each time", () => {
    const a = idempotencyKey();
    const b = idempotencyKey();
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(8);
    expect(a.length).toBeLessThanOrEqual(128);
  });
});

describe("formatMoney", () => {
  it("pads minor digits and handles none", () => {
    expect(formatMoney({ currency: "EUR", amountMinor: 5n })).toBe("EUR 0.05");
    expect(formatMoney({ currency: "EUR", amountMinor: -1234n })).toBe("-EUR 12.34");
    expect(formatMoney(undefined)).toBe("—");
  });
});
