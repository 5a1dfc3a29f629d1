// State of the service map: snapshots from GET /api/services and the SSE
// stream, plus the connection state of the stream itself.
import type { ServiceInfo, ServicesSnapshot, ServiceState, Tracing } from "./api";

/** Connection is the state of the SSE stream. */
export type Connection = "connecting" | "live" | "reconnecting";

/** ServicesModel is what the service map renders. */
export interface ServicesModel {
  services: ServiceInfo[];
  tracing: Tracing;
  connection: Connection;
  updatedAt?: number;
}

/** ServicesEvent is every input of the reducer. */
export type ServicesEvent =
  | { type: "snapshot"; snapshot: ServicesSnapshot; at: number }
  | { type: "open" }
  | { type: "error" };

export const initialServices: ServicesModel = {
  services: [],
  tracing: { mode: "local" },
  connection: "connecting",
};

// The services in the order of the README table (user, order, inventory,
// notification); unknown names go after them, alphabetically.
const ORDER = ["user", "order", "inventory", "notification"];

function rank(name: string): number {
  const i = ORDER.indexOf(name);
  return i < 0 ? ORDER.length : i;
}

/** sortServices orders services as the README does. */
export function sortServices(list: ServiceInfo[]): ServiceInfo[] {
  return [...list].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** servicesReducer applies one event. A snapshot replaces the whole list. */
export function servicesReducer(m: ServicesModel, e: ServicesEvent): ServicesModel {
  switch (e.type) {
    case "snapshot":
      return {
        services: sortServices(e.snapshot.services ?? []),
        tracing: e.snapshot.tracing ?? m.tracing,
        connection: "live",
        updatedAt: e.at,
      };
    case "open":
      return { ...m, connection: "live" };
    case "error":
      return { ...m, connection: "reconnecting" };
  }
}

/** parseSnapshot parses the data of one `services` SSE event. */
export function parseSnapshot(data: string): ServicesSnapshot | undefined {
  try {
    const v = JSON.parse(data) as ServicesSnapshot;
    return Array.isArray(v?.services) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** healthSummary counts services per state, and says whether all serve. */
export function healthSummary(list: ServiceInfo[]): { counts: Record<ServiceState, number>; allServing: boolean } {
  const counts: Record<ServiceState, number> = { SERVING: 0, NOT_SERVING: 0, DOWN: 0, STARTING: 0 };
  for (const s of list) counts[s.state] = (counts[s.state] ?? 0) + 1;
  return { counts, allServing: list.length > 0 && counts.SERVING === list.length };
}

/**
 * serviceURL is the HTTP base URL of a service by name, from the service map
 * only: "" while the map has not arrived or lacks the service. No default
 * ports are guessed, since `slipway dev --http-port-base` moves them.
 */
export function serviceURL(list: ServiceInfo[], name: string): string {
  return list.find((s) => s.name === name)?.http_url || "";
}

/** STOREFRONT_SERVICES are the services the storefront calls. */
export const STOREFRONT_SERVICES = ["user", "order", "inventory", "notification"] as const;

/**
 * storefrontURLs maps each storefront service to its HTTP base URL, or is
 * undefined until the service map names every one of them: callers wait
 * rather than call a guessed port.
 */
export function storefrontURLs(list: ServiceInfo[]): Record<(typeof STOREFRONT_SERVICES)[number], string> | undefined {
  const out: Record<string, string> = {};
  for (const n of STOREFRONT_SERVICES) {
    const u = serviceURL(list, n);
    if (!u) return undefined;
    out[n] = u;
  }
  return out as Record<(typeof STOREFRONT_SERVICES)[number], string>;
}

/** serviceOrigins are the origins of the services' HTTP URLs in the map. */
export function serviceOrigins(list: ServiceInfo[]): string[] {
  const out = new Set<string>();
  for (const s of list) {
    try {
      if (s.http_url) out.add(new URL(s.http_url).origin);
    } catch {
      // not an absolute URL: no origin to trust
    }
  }
  return [...out];
}

/** shortHash shortens a config hash ("sha256:ab12..." or hex) for display. */
export function shortHash(h: string | undefined): string {
  if (!h) return "—";
  const hex = h.replace(/^sha256:/, "");
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}
