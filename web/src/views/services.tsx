import type { ServiceInfo } from "../lib/api";
import { healthSummary, shortHash, type ServicesModel } from "../lib/services";
import { tracesHref } from "../route";
import { CallMapView } from "./callmap";

function since(iso: string | undefined): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleTimeString();
}

function Card({ s }: { s: ServiceInfo }) {
  return (
    <section class={`card svc state-${s.state}`} data-testid={`service-${s.name}`}>
      <header>
        <h3>{s.name}</h3>
        <span class={`badge ${s.state}`} data-testid={`service-state-${s.name}`}>
          {s.state}
        </span>
      </header>
      <dl>
        <dt>version</dt>
        <dd data-testid={`service-version-${s.name}`}>{s.version || "—"}</dd>
        <dt>config</dt>
        <dd>
          <code title={s.config_hash}>{shortHash(s.config_hash)}</code>
        </dd>
        <dt>gRPC</dt>
        <dd>
          <code>{s.grpc_addr || "—"}</code>
        </dd>
        <dt>HTTP</dt>
        <dd>
          <code>{s.http_url || "—"}</code>
        </dd>
        <dt>started</dt>
        <dd>{since(s.started_at)}</dd>
        <dt>checked</dt>
        <dd>{since(s.checked_at)}</dd>
      </dl>
      {s.error && (
        <p class="error-text" data-testid={`service-error-${s.name}`}>
          {s.error}
        </p>
      )}
      <footer>
        <a href={`#/api/${s.name}`}>API explorer</a>
        {s.docs_url && (
          <a href={s.docs_url} target="_blank" rel="noreferrer">
            docs
          </a>
        )}
        {s.http_url && (
          <a href={`${s.http_url}/metrics`} target="_blank" rel="noreferrer">
            metrics
          </a>
        )}
        <a href={tracesHref({ service: s.name })}>traces</a>
      </footer>
    </section>
  );
}

/** ServiceMap shows the live map of calls, then every service's details. */
export function ServiceMap({ model }: { model: ServicesModel }) {
  const { counts, allServing } = healthSummary(model.services);
  return (
    <div>
      <div class="toolbar">
        <h2>Services</h2>
        <span class={`pill ${model.connection}`} data-testid="stream-state" title="the /api/services/stream connection">
          {model.connection === "live" ? "live" : model.connection}
        </span>
        <span class="muted" data-testid="health-summary" data-all-serving={String(allServing)}>
          {model.services.length === 0
            ? "waiting for the dev runner…"
            : `${counts.SERVING}/${model.services.length} serving`}
        </span>
        <span class="muted">
          traces:{" "}
          {model.tracing.mode === "external" && model.tracing.jaeger_url ? (
            <a href={model.tracing.jaeger_url} target="_blank" rel="noreferrer">
              Jaeger
            </a>
          ) : (
            "in the console"
          )}
        </span>
      </div>
      <CallMapView services={model.services} tracing={model.tracing} />
      <h3 class="section">Details</h3>
      <div class="grid" data-testid="service-map">
        {model.services.map((s) => (
          <Card key={s.name} s={s} />
        ))}
      </div>
    </div>
  );
}
