// Hash routes, so the Go side serves one index.html for every view:
// #/services, #/api/<svc>, #/shop, #/traces?service=&operation=, #/traces/<id>, #/logs.

/** Route is the parsed location hash. */
export type Route =
  | { view: "services" }
  | { view: "api"; service?: string }
  | { view: "shop" }
  | { view: "traces"; service?: string; operation?: string }
  | { view: "trace"; id: string }
  | { view: "logs" };

/** parseRoute parses a location hash such as "#/traces/abc". */
export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, "");
  const [path, query = ""] = h.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query);
  switch (parts[0]) {
    case "api":
      return { view: "api", service: parts[1] };
    case "shop":
      return { view: "shop" };
    case "traces":
      if (parts[1]) return { view: "trace", id: parts[1] };
      return { view: "traces", service: q.get("service") || undefined, operation: q.get("operation") || undefined };
    case "logs":
      return { view: "logs" };
    default:
      return { view: "services" };
  }
}

/** tracesHref links to the trace list with filters. */
export function tracesHref(f: { service?: string; operation?: string } = {}): string {
  const q = new URLSearchParams();
  if (f.service) q.set("service", f.service);
  if (f.operation) q.set("operation", f.operation);
  const s = q.toString();
  return `#/traces${s ? `?${s}` : ""}`;
}

/** traceHref links to one trace: the console's view, or Jaeger's in external mode. */
export function traceHref(id: string, tracing?: { mode: string; jaeger_url?: string }): string {
  if (tracing?.mode === "external" && tracing.jaeger_url) {
    return `${tracing.jaeger_url.replace(/\/+$/, "")}/trace/${id}`;
  }
  return `#/traces/${encodeURIComponent(id)}`;
}
