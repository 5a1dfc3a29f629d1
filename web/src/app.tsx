import { useEffect, useMemo, useReducer, useState } from "preact/hooks";
import { fetchServices } from "./lib/api";
import { makeClients } from "./lib/clients";
import { getSession, onSessionChange, setSession } from "./lib/session";
import { initialServices, parseSnapshot, servicesReducer, STOREFRONT_SERVICES, storefrontURLs } from "./lib/services";
import { parseRoute, type Route } from "./route";
import { ApiDocs } from "./views/apidocs";
import { Logs } from "./views/logs";
import { ServiceMap } from "./views/services";
import { Shop } from "./views/shop";
import { TraceList, TraceView } from "./views/traces";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

// useServices keeps the service map live: one GET, then the SSE stream
// (EventSource reconnects by itself; the model shows when it is down).
function useServices() {
  const [model, dispatch] = useReducer(servicesReducer, initialServices);
  useEffect(() => {
    const ctl = new AbortController();
    fetchServices(ctl.signal)
      .then((snapshot) => dispatch({ type: "snapshot", snapshot, at: Date.now() }))
      .catch(() => dispatch({ type: "error" }));
    const es = new EventSource("/api/services/stream");
    es.addEventListener("services", (ev) => {
      const snapshot = parseSnapshot((ev as MessageEvent<string>).data);
      if (snapshot) dispatch({ type: "snapshot", snapshot, at: Date.now() });
    });
    es.onopen = () => dispatch({ type: "open" });
    es.onerror = () => dispatch({ type: "error" });
    return () => {
      ctl.abort();
      es.close();
    };
  }, []);
  return model;
}

function useSession() {
  const [s, set] = useState(getSession());
  useEffect(() => onSessionChange(() => set(getSession())), []);
  return s;
}

const NAV: { view: Route["view"]; href: string; label: string }[] = [
  { view: "services", href: "#/services", label: "Services" },
  { view: "api", href: "#/api", label: "API explorer" },
  { view: "shop", href: "#/shop", label: "Storefront" },
  { view: "traces", href: "#/traces", label: "Traces" },
  { view: "logs", href: "#/logs", label: "Logs" },
];

/** App is the console: navigation, session and the current view. */
export function App() {
  const route = useRoute();
  const services = useServices();
  const session = useSession();
  // Clients follow the service map's URLs; rebuilt only when one changes.
  // None exist until the map names every storefront service: no call goes
  // to a guessed port (dev may run on moved ones).
  const urls = storefrontURLs(services.services);
  const urlKey = urls ? STOREFRONT_SERVICES.map((n) => urls[n]).join(" ") : "";
  const clients = useMemo(() => {
    if (!urlKey) return undefined;
    const [user, order, inventory, notification] = urlKey.split(" ");
    const by: Record<string, string> = { user, order, inventory, notification };
    return makeClients((svc) => by[svc]);
  }, [urlKey]);
  const active = route.view === "trace" ? "traces" : route.view;

  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/services">
          Slipway <span>console</span>
        </a>
        <nav>
          {NAV.map((n) => (
            <a key={n.view} href={n.href} class={active === n.view ? "active" : ""} data-testid={`nav-${n.view}`}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="who" data-testid="session">
          {session ? (
            <>
              <span title={session.email}>{session.displayName || session.email}</span>
              <button class="link" onClick={() => setSession(undefined)} data-testid="logout">
                log out
              </button>
            </>
          ) : (
            <a href="#/shop">log in</a>
          )}
        </div>
      </header>
      <main>
        {route.view === "services" && <ServiceMap model={services} />}
        {route.view === "api" && <ApiDocs services={services.services} service={route.service} session={session} />}
        {route.view === "shop" &&
          (clients ? (
            <Shop clients={clients} session={session} tracing={services.tracing} />
          ) : (
            <p class="muted" data-testid="shop-waiting">
              {services.updatedAt === undefined
                ? "Waiting for the service map…"
                : `The storefront needs ${STOREFRONT_SERVICES.join(", ")}; this dev session lacks ${STOREFRONT_SERVICES.filter(
                    (n) => !services.services.some((s) => s.name === n && s.http_url),
                  ).join(", ")}.`}
            </p>
          ))}
        {route.view === "traces" && (
          <TraceList services={services} service={route.service} operation={route.operation} />
        )}
        {route.view === "trace" && <TraceView id={route.id} tracing={services.tracing} />}
        {route.view === "logs" && <Logs tracing={services.tracing} />}
      </main>
    </div>
  );
}
