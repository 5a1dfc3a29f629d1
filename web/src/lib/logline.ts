// The interesting fields of a JSON log line, for one line of the log table:
// "rpc" says little alone; "rpc method=/slipway.order.v1.OrderService/CreateOrder code=OK" says it all.

// Fields every line has, shown in their own columns or not at all.
const SKIP = new Set(["time", "level", "msg", "service", "trace_id", "span_id", "source"]);

/** logDetail returns "key=value" pairs of a JSON log line, bounded in length. */
export function logDetail(line: string | undefined, max = 240): string {
  if (!line) return "";
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "";
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return "";
  const parts: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, val] of Object.entries(obj)) {
      if (!prefix && SKIP.has(k)) continue;
      const key = prefix + k;
      if (val && typeof val === "object" && !Array.isArray(val)) walk(val as Record<string, unknown>, `${key}.`);
      else parts.push(`${key}=${typeof val === "string" ? val : JSON.stringify(val)}`);
    }
  };
  walk(v as Record<string, unknown>, "");
  const s = parts.join(" ");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
