// The cart: a pure reducer over product lines, and its totals per currency.
import type { MoneyLike } from "./money";

/** CartLine is one product in the cart. */
export interface CartLine {
  productId: string;
  name: string;
  unitPrice: MoneyLike;
  quantity: number;
  stock: number;
}

/** Cart is the ordered list of lines. */
export type Cart = CartLine[];

/** CartAction is every change the storefront makes to the cart. */
export type CartAction =
  | { type: "add"; product: Omit<CartLine, "quantity">; quantity?: number }
  | { type: "set"; productId: string; quantity: number }
  | { type: "remove"; productId: string }
  | { type: "clear" };

// The order service accepts 1..1000 per line (LineItem.quantity).
export const MAX_QUANTITY = 1000;

function clamp(q: number, stock: number): number {
  return Math.max(0, Math.min(Math.floor(q), MAX_QUANTITY, Math.max(stock, 0)));
}

/** cartReducer applies one action; lines at quantity 0 are dropped. */
export function cartReducer(cart: Cart, a: CartAction): Cart {
  switch (a.type) {
    case "add": {
      const add = a.quantity ?? 1;
      const i = cart.findIndex((l) => l.productId === a.product.productId);
      if (i < 0) {
        const q = clamp(add, a.product.stock);
        return q > 0 ? [...cart, { ...a.product, quantity: q }] : cart;
      }
      return cart.map((l, j) => (j === i ? { ...l, ...a.product, quantity: clamp(l.quantity + add, a.product.stock) } : l));
    }
    case "set":
      return cart
        .map((l) => (l.productId === a.productId ? { ...l, quantity: clamp(a.quantity, l.stock) } : l))
        .filter((l) => l.quantity > 0);
    case "remove":
      return cart.filter((l) => l.productId !== a.productId);
    case "clear":
      return [];
  }
}

/** cartTotals sums line totals per currency (a mixed cart has several). */
export function cartTotals(cart: Cart): MoneyLike[] {
  const sums = new Map<string, bigint>();
  for (const l of cart) {
    sums.set(l.unitPrice.currency, (sums.get(l.unitPrice.currency) ?? 0n) + l.unitPrice.amountMinor * BigInt(l.quantity));
  }
  return [...sums].map(([currency, amountMinor]) => ({ currency, amountMinor }));
}

/** cartCount is the number of items (sum of quantities). */
export function cartCount(cart: Cart): number {
  return cart.reduce((n, l) => n + l.quantity, 0);
}

/** lineItems is the CreateOrder request's items for the cart. */
export function lineItems(cart: Cart): { productId: string; quantity: number }[] {
  return cart.filter((l) => l.quantity > 0).map((l) => ({ productId: l.productId, quantity: l.quantity }));
}

/** idempotencyKey makes a key for one checkout (CreateOrder wants 8..128 chars). */
export function idempotencyKey(rand: () => string = () => crypto.randomUUID()): string {
  return `console-${rand()}`;
}
