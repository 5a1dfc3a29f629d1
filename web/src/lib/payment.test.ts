import { describe, expect, it } from "vitest";
import { OrderStatus, PaymentState } from "../gen/slipway/order/v1/order_pb";
// The sandbox provider's own list of test cards, to hold the console's to it.
import sandboxCards from "../../../services/payment/internal/provider/sandbox/cards.go?raw";
import {
  DEFAULT_CARD,
  paymentStateName,
  paymentTone,
  SANDBOX_CARDS,
  sandboxCard,
  settling,
  statusName,
  statusTone,
} from "./payment";

describe("sandbox cards", () => {
  it("offers the succeeding, declining and transient cards, Visa first and by default", () => {
    expect(SANDBOX_CARDS.map((c) => c.paymentMethod)).toEqual([
      "pm_card_visa",
      "pm_card_chargeDeclined",
      "pm_card_chargeDeclinedInsufficientFunds",
      "pm_card_transient",
    ]);
    expect(DEFAULT_CARD).toBe(SANDBOX_CARDS[0].paymentMethod);
  });

  it("are cards the payment service's sandbox provider knows", () => {
    const known = [...sandboxCards.matchAll(/=\s*"(pm_[A-Za-z0-9_]+)"/g)].map((m) => m[1]);
    expect(known.length).toBeGreaterThan(0);
    for (const c of SANDBOX_CARDS) expect(known).toContain(c.paymentMethod);
  });

  it("say what each card does, with the decline code a declining card answers", () => {
    expect(sandboxCard("pm_card_visa")?.label).toMatch(/succeeds/);
    expect(sandboxCard("pm_card_chargeDeclined")?.label).toContain("card_declined");
    expect(sandboxCard("pm_card_chargeDeclinedInsufficientFunds")?.label).toContain("insufficient_funds");
    expect(sandboxCard("pm_card_transient")?.label).toMatch(/transient/);
    expect(new Set(SANDBOX_CARDS.map((c) => c.label)).size).toBe(SANDBOX_CARDS.length);
  });

  it("finds no card for a method the storefront does not offer", () => {
    expect(sandboxCard("pm_card_amex")).toBeUndefined();
    expect(sandboxCard("")).toBeUndefined();
  });

  it("carry payment methods CreateOrderRequest accepts (at most 64 of [A-Za-z0-9_:-])", () => {
    for (const c of SANDBOX_CARDS) expect(c.paymentMethod).toMatch(/^[A-Za-z0-9_:-]{1,64}$/);
  });
});

describe("order status and payment state", () => {
  it("name every status, and an unknown one UNKNOWN", () => {
    expect(statusName(OrderStatus.PLACED)).toBe("PLACED");
    expect(statusName(OrderStatus.PENDING)).toBe("PENDING");
    expect(statusName(OrderStatus.FAILED)).toBe("FAILED");
    expect(statusName(OrderStatus.CANCELLED)).toBe("CANCELLED");
    expect(statusName(99 as OrderStatus)).toBe("UNKNOWN");
  });

  it("name every payment state, and an unknown one UNKNOWN", () => {
    const names = [
      PaymentState.NONE,
      PaymentState.AUTHORIZED,
      PaymentState.CAPTURED,
      PaymentState.VOIDED,
      PaymentState.REFUNDED,
      PaymentState.DECLINED,
    ].map(paymentStateName);
    expect(names).toEqual(["NONE", "AUTHORIZED", "CAPTURED", "VOIDED", "REFUNDED", "DECLINED"]);
    expect(paymentStateName(99 as PaymentState)).toBe("UNKNOWN");
  });

  it("tone a status: placed ok, pending and cancelled in between, failed bad", () => {
    expect(statusTone(OrderStatus.PLACED)).toBe("ok");
    expect(statusTone(OrderStatus.PENDING)).toBe("warn");
    expect(statusTone(OrderStatus.CANCELLED)).toBe("warn");
    expect(statusTone(OrderStatus.FAILED)).toBe("bad");
    expect(statusTone(OrderStatus.UNSPECIFIED)).toBe("none");
  });

  it("tone a payment: held or taken ok, given back in between, declined bad", () => {
    expect(paymentTone(PaymentState.AUTHORIZED)).toBe("ok");
    expect(paymentTone(PaymentState.CAPTURED)).toBe("ok");
    expect(paymentTone(PaymentState.VOIDED)).toBe("warn");
    expect(paymentTone(PaymentState.REFUNDED)).toBe("warn");
    expect(paymentTone(PaymentState.DECLINED)).toBe("bad");
    expect(paymentTone(PaymentState.NONE)).toBe("none");
    expect(paymentTone(PaymentState.UNSPECIFIED)).toBe("none");
  });

  it("settling: pending, or placed and authorized but not yet captured", () => {
    const o = (status: OrderStatus, paymentState: PaymentState) => settling({ status, paymentState });
    expect(o(OrderStatus.PENDING, PaymentState.NONE)).toBe(true);
    expect(o(OrderStatus.PENDING, PaymentState.AUTHORIZED)).toBe(true);
    expect(o(OrderStatus.PLACED, PaymentState.AUTHORIZED)).toBe(true);
    expect(o(OrderStatus.PLACED, PaymentState.CAPTURED)).toBe(false);
    expect(o(OrderStatus.FAILED, PaymentState.DECLINED)).toBe(false);
    expect(o(OrderStatus.CANCELLED, PaymentState.VOIDED)).toBe(false);
    expect(o(OrderStatus.CANCELLED, PaymentState.REFUNDED)).toBe(false);
  });
});
