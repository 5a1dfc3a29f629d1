import { useEffect, useMemo, useState } from "preact/hooks";
import type { ServiceInfo, Tracing } from "../lib/api";
import {
  edgeTone,
  fetchCallMap,
  formatMS,
  formatPercent,
  formatRate,
  layout,
  NODE_H,
  NODE_W,
  strokeWidth,
  type CallMap,
  type MapEdge,
  type MapNode,
} from "../lib/callmap";
import { traceHref, tracesHref } from "../route";

const WINDOW_SECONDS = 60;
const POLL_MS = 2000;

const KIND_LABEL: Record<MapNode["kind"], string> = {
  client: "browser, scripts",
  service: "service",
  database: "database",
  broker: "message broker",
  external: "external",
};

function edgeKey(e: { from: string; to: string }): string {
  return `${e.from}->${e.to}`;
}

// useCallMap polls GET /api/map; the last good map stays while a poll fails.
function useCallMap(): { map?: CallMap; err: string } {
  const [map, setMap] = useState<CallMap>();
  const [err, setErr] = useState("");
  useEffect(() => {
    let ctl = new AbortController();
    const poll = () => {
      ctl.abort();
      ctl = new AbortController();
      fetchCallMap(WINDOW_SECONDS, ctl.signal)
        .then((m) => {
          setMap(m);
          setErr("");
        })
        .catch((e: unknown) => ctl.signal.aborted || setErr(String(e)));
    };
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      clearInterval(timer);
      ctl.abort();
    };
  }, []);
  return { map, err };
}

function Node({ node, x, y, state }: { node: MapNode; x: number; y: number; state?: string }) {
  const href = node.kind === "service" ? tracesHref({ service: node.id }) : undefined;
  const body = (
    <g class={`map-node kind-${node.kind}${state ? ` state-${state}` : ""}`} data-testid={`map-node-${node.id}`} transform={`translate(${x},${y})`}>
      <title>{state ? `${node.label}: ${state}` : node.label}</title>
      <rect width={NODE_W} height={NODE_H} rx={8} />
      <rect class="stripe" width={5} height={NODE_H} rx={2} />
      <text class="label" x={16} y={22}>
        {node.label.length > 17 ? `${node.label.slice(0, 16)}…` : node.label}
      </text>
      <text class="sub" x={16} y={39}>
        {KIND_LABEL[node.kind]}
        {state && state !== "SERVING" ? ` · ${state.toLowerCase().replace("_", " ")}` : ""}
      </text>
      {state && <circle class="dot" cx={NODE_W - 14} cy={14} r={4.5} />}
    </g>
  );
  return href ? <a href={href}>{body}</a> : body;
}

function EdgeDetail({ edge, labels, tracing, onClose }: { edge: MapEdge; labels: Map<string, string>; tracing: Tracing; onClose: () => void }) {
  return (
    <section class="card edge-detail" data-testid="edge-detail" data-edge={edgeKey(edge)}>
      <header class="edge-detail-head">
        <h3>
          {labels.get(edge.from) ?? edge.from} → {labels.get(edge.to) ?? edge.to}
        </h3>
        <button class="link" onClick={onClose} aria-label="close">
          ×
        </button>
      </header>
      <p class="stats">
        <span>
          <b>{formatRate(edge.rate_per_sec)}</b> {edge.kind === "call" ? "calls" : edge.kind === "query" ? "queries" : edge.kind === "publish" ? "publishes" : "deliveries"}
        </span>
        <span class={edge.errors ? "error-text" : ""}>
          <b>{formatPercent(edge.error_rate)}</b> errors ({edge.errors}/{edge.count})
        </span>
        <span>
          p99 <b>{formatMS(edge.p99_ms)}</b>
        </span>
      </p>
      {edge.operations.length > 0 && (
        <p class="muted small">
          {edge.operations.map((op) => (
            <code key={op} class="op">
              {op}
            </code>
          ))}
        </p>
      )}
      <table class="table">
        <thead>
          <tr>
            <th>recent traces through this edge</th>
            <th>started</th>
            <th class="num">duration</th>
          </tr>
        </thead>
        <tbody>
          {edge.traces.map((t) => (
            <tr key={t.trace_id} data-testid="edge-trace" data-trace-id={t.trace_id}>
              <td>
                <a href={traceHref(t.trace_id, tracing)} data-testid="edge-trace-link">
                  {t.operation}
                </a>{" "}
                {t.error && <span class="badge tone-bad">error</span>}
              </td>
              <td class="nowrap">{new Date(t.start).toLocaleTimeString()}</td>
              <td class="num">{formatMS(t.duration_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/**
 * CallMapView draws the services and their dependencies as a graph from the
 * spans the console received, each edge with its rate, error rate and p99
 * over the last minute; clicking an edge lists its recent traces.
 */
export function CallMapView({ services, tracing }: { services: ServiceInfo[]; tracing: Tracing }) {
  const { map, err } = useCallMap();
  const [selected, setSelected] = useState<string>();
  const nodes = map?.nodes ?? [];
  const edges = map?.edges ?? [];
  // Lay out again only when the set of nodes and edges changes, not their figures.
  const shape = `${nodes.map((n) => n.id).join(",")}|${edges.map(edgeKey).join(",")}`;
  const laid = useMemo(() => layout(nodes, edges), [shape]);
  const byKey = new Map(edges.map((e) => [edgeKey(e), e]));
  const state = new Map(services.map((s) => [s.name, s.state]));
  const labels = new Map(nodes.map((n) => [n.id, n.label]));
  const chosen = selected ? byKey.get(selected) : undefined;

  return (
    <div class="callmap">
      <p class="muted small legend">
        Calls in the last {WINDOW_SECONDS}s, from the spans the console receives: rate · error rate · p99. Click an edge for its traces.
        {tracing.mode === "external" && " Traces go to Jaeger in this session, so the console sees none."}
        {err && <span class="error-text"> {err}</span>}
      </p>
      <div class="callmap-canvas">
        <svg
          data-testid="call-map"
          viewBox={`0 0 ${laid.width} ${laid.height}`}
          style={{ maxWidth: `${laid.width}px` }}
          role="img"
          aria-label="service map"
        >
          <defs>
            {(["ok", "warn", "bad", "sel"] as const).map((t) => (
              <marker key={t} id={`arrow-${t}`} class={`arrow tone-${t}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" />
              </marker>
            ))}
          </defs>
          {laid.edges.map(({ edge: laidEdge, path }) => {
            const e = byKey.get(edgeKey(laidEdge)) ?? laidEdge;
            const tone = selected === edgeKey(e) ? "sel" : edgeTone(e);
            return (
              <path
                key={edgeKey(e)}
                class={`map-edge tone-${tone} kind-${e.kind}`}
                d={path}
                stroke-width={strokeWidth(e.rate_per_sec)}
                marker-end={`url(#arrow-${tone})`}
              />
            );
          })}
          {[...laid.boxes.values()].map((b) => (
            <Node key={b.node.id} node={b.node} x={b.x} y={b.y} state={b.node.kind === "service" ? state.get(b.node.id) : undefined} />
          ))}
          {laid.edges.map(({ edge: laidEdge, path, mid }) => {
            const e = byKey.get(edgeKey(laidEdge)) ?? laidEdge;
            const key = edgeKey(e);
            const tone = selected === key ? "sel" : edgeTone(e);
            const text = `${formatRate(e.rate_per_sec)} · ${formatPercent(e.error_rate)} · p99 ${formatMS(e.p99_ms)}`;
            const w = text.length * 6.1 + 14;
            return (
              <g
                key={key}
                class={`map-edge-hit tone-${tone}`}
                data-testid={`edge-${e.from}-${e.to}`}
                data-rate={e.rate_per_sec}
                data-error-rate={e.error_rate}
                data-p99={e.p99_ms}
                onClick={() => setSelected(selected === key ? undefined : key)}
              >
                <title>
                  {labels.get(e.from)} → {labels.get(e.to)}: {e.count} in {WINDOW_SECONDS}s, {e.errors} failed
                </title>
                <path class="hit" d={path} />
                <rect class="edge-label" x={mid.x - w / 2} y={mid.y - 10} width={w} height={20} rx={10} />
                <text class="edge-text" x={mid.x} y={mid.y + 4} text-anchor="middle">
                  {text}
                </text>
              </g>
            );
          })}
        </svg>
        {edges.length === 0 && map && (
          <p class="muted callmap-empty" data-testid="call-map-empty">
            No calls in the last {WINDOW_SECONDS}s. Use the storefront and the calls appear here.
          </p>
        )}
      </div>
      {chosen && <EdgeDetail edge={chosen} labels={labels} tracing={tracing} onClose={() => setSelected(undefined)} />}
    </div>
  );
}
