// Money is minor units (int64, a bigint in protobuf-es) plus an ISO currency.

/** MoneyLike is the shape of slipway.money.v1.Money. */
export interface MoneyLike {
  currency: string;
  amountMinor: bigint;
}

/** formatMoney prints 1234n EUR as "EUR 12.34" (two minor digits). */
export function formatMoney(m: MoneyLike | undefined): string {
  if (!m) return "—";
  const neg = m.amountMinor < 0n;
  const abs = neg ? -m.amountMinor : m.amountMinor;
  const major = abs / 100n;
  const minor = (abs % 100n).toString().padStart(2, "0");
  return `${neg ? "-" : ""}${m.currency} ${major}.${minor}`;
}
