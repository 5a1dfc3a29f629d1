import { useEffect, useRef, useState } from "preact/hooks";
import type { ServiceInfo } from "../lib/api";
import type { Session } from "../lib/session";
import { withToken } from "../lib/swagger";
import { serviceOrigins, sortServices } from "../lib/services";

/** ApiDocs renders a service's OpenAPI with swagger-ui (bundled, no CDN). */
export function ApiDocs({ services, service, session }: { services: ServiceInfo[]; service?: string; session?: Session }) {
  const list = sortServices(services);
  const name = service || list[0]?.name || "user";
  const svc = list.find((s) => s.name === name);
  // Nothing is fetched until the service map has arrived: the spec URL and
  // the origins that may receive the token come from it.
  const specURL = list.length ? svc?.openapi_url || `/api/openapi/${name}` : "";
  // Read by the interceptor at call time, so it follows the live map.
  const origins = useRef<string[]>([]);
  origins.current = serviceOrigins(list);
  const node = useRef<HTMLDivElement>(null);
  const [err, setErr] = useState("");

  useEffect(() => {
    let cancelled = false;
    setErr("");
    if (!specURL) return;
    // swagger-ui is large: loaded only when this view opens.
    Promise.all([import("swagger-ui-dist/swagger-ui-es-bundle.js"), import("swagger-ui-dist/swagger-ui.css")])
      .then(([mod]) => {
        if (cancelled || !node.current) return;
        const SwaggerUI = (mod as { default: (o: object) => unknown }).default;
        node.current.innerHTML = "";
        SwaggerUI({
          url: specURL,
          domNode: node.current,
          deepLinking: false,
          tryItOutEnabled: true,
          validatorUrl: null, // never send the spec to validator.swagger.io
          requestInterceptor: (req: { url: string; headers: Record<string, string> }) => withToken(req, origins.current),
        });
      })
      .catch((e: unknown) => setErr(String(e)));
    return () => {
      cancelled = true;
    };
  }, [specURL]);

  return (
    <div>
      <div class="toolbar">
        <h2>API explorer</h2>
        <nav class="tabs">
          {(list.length ? list.map((s) => s.name) : ["user", "order", "inventory", "notification"]).map((n) => (
            <a key={n} href={`#/api/${n}`} class={n === name ? "active" : ""} data-testid={`api-tab-${n}`}>
              {n}
            </a>
          ))}
        </nav>
        <span class="muted" data-testid="api-auth">
          {session ? `"Try it out" calls carry ${session.email}'s token` : "log in on the storefront to call authenticated methods"}
        </span>
      </div>
      {!specURL && (
        <p class="muted" data-testid="api-waiting">
          Waiting for the service map…
        </p>
      )}
      {err && <p class="error-text">{err}</p>}
      <div class="swagger" ref={node} data-testid="swagger" />
    </div>
  );
}
