// How the storefront pays and shows payment: the payment service's sandbox
// test cards to choose from, and the words and tones of an order's status
// and payment state.
import { OrderStatus, PaymentState, type Order } from "../gen/slipway/order/v1/order_pb";

/** SandboxCard is one of the sandbox provider's test payment methods. */
export interface SandboxCard {
  /** paymentMethod is what CreateOrderRequest.payment_method carries. */
  paymentMethod: string;
  label: string;
}

/**
 * SANDBOX_CARDS are the test cards the storefront offers, as the payment
 * service's sandbox provider knows them: no real card is ever charged.
 */
export const SANDBOX_CARDS: readonly SandboxCard[] = [
  { paymentMethod: "pm_card_visa", label: "Visa: succeeds" },
  { paymentMethod: "pm_card_chargeDeclined", label: "Declined: card_declined" },
  { paymentMethod: "pm_card_chargeDeclinedInsufficientFunds", label: "Declined: insufficient_funds" },
  { paymentMethod: "pm_card_transient", label: "Flaky: fails transiently, then succeeds" },
];

/** DEFAULT_CARD is the card chosen until the user picks another. */
export const DEFAULT_CARD = "pm_card_visa";

/** sandboxCard returns the card paying with paymentMethod, if it is one of SANDBOX_CARDS. */
export function sandboxCard(paymentMethod: string): SandboxCard | undefined {
  return SANDBOX_CARDS.find((c) => c.paymentMethod === paymentMethod);
}

/** statusName is an order status without its enum prefix: PLACED, FAILED, ... */
export function statusName(s: OrderStatus): string {
  return OrderStatus[s] ?? "UNKNOWN";
}

/** paymentStateName is a payment state without its enum prefix: CAPTURED, DECLINED, ... */
export function paymentStateName(s: PaymentState): string {
  return PaymentState[s] ?? "UNKNOWN";
}

/** Tone is how a badge reads: done well, in between, gone wrong, or nothing to say. */
export type Tone = "ok" | "warn" | "bad" | "none";

/** statusTone is the tone of an order status. */
export function statusTone(s: OrderStatus): Tone {
  switch (s) {
    case OrderStatus.PLACED:
      return "ok";
    case OrderStatus.PENDING:
    case OrderStatus.CANCELLED:
      return "warn";
    case OrderStatus.FAILED:
      return "bad";
    default:
      return "none";
  }
}

/** paymentTone is the tone of a payment state. */
export function paymentTone(s: PaymentState): Tone {
  switch (s) {
    case PaymentState.AUTHORIZED:
    case PaymentState.CAPTURED:
      return "ok";
    case PaymentState.VOIDED:
    case PaymentState.REFUNDED:
      return "warn";
    case PaymentState.DECLINED:
      return "bad";
    default:
      return "none";
  }
}

/**
 * settling says whether the order is still moving on its own: PENDING (stock
 * or payment in flight), or PLACED with its payment authorized but not yet
 * captured. The storefront keeps polling while any order is settling.
 */
export function settling(o: Pick<Order, "status" | "paymentState">): boolean {
  return o.status === OrderStatus.PENDING || (o.status === OrderStatus.PLACED && o.paymentState === PaymentState.AUTHORIZED);
}
