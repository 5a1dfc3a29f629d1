// The console's own HTTP API, served by `slipway dev` beside this page.

/** ServiceState is what the dev runner knows about one service. */
export type ServiceState = "SERVING" | "NOT_SERVING" | "DOWN" | "STARTING";

/** ServiceInfo is one entry of GET /api/services. */
export interface ServiceInfo {
  name: string;
  state: ServiceState;
  grpc_addr: string;
  http_url: string;
  version?: string;
  config_hash?: string;
  started_at?: string;
  checked_at?: string;
  docs_url?: string;
  openapi_url?: string;
  error?: string;
}

/** Tracing says where traces go: the console's receiver or Jaeger. */
export interface Tracing {
  mode: "local" | "external";
  jaeger_url?: string;
}

/** ServicesSnapshot is GET /api/services and each `services` SSE event. */
export interface ServicesSnapshot {
  services: ServiceInfo[];
  tracing?: Tracing;
}

/** TraceSummary is one row of GET /api/traces. */
export interface TraceSummary {
  trace_id: string;
  root_service: string;
  root_name: string;
  start: string;
  duration_ms: number;
  span_count: number;
  services: string[];
  error?: boolean | string;
}

/** Span is one span of GET /api/traces/{id}. Times are decimal strings of ns. */
export interface Span {
  span_id: string;
  parent_span_id?: string;
  service: string;
  name: string;
  kind?: string | number;
  start_unix_nano: string;
  end_unix_nano: string;
  duration_ms?: number;
  status?: { code?: string | number; message?: string };
  attributes?: Record<string, unknown>;
}

/** LogLine is one structured log line a service wrote. */
export interface LogLine {
  time: string;
  service: string;
  level: string;
  msg: string;
  span_id?: string;
  trace_id?: string;
  line?: string;
}

/** TraceDetail is GET /api/traces/{id}. */
export interface TraceDetail {
  trace_id: string;
  spans: Span[];
  logs?: LogLine[];
}

async function getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, headers: { Accept: "application/json" } });
  if (!res.ok) {
    const body = await res.text().catch(() => "");
    throw new Error(`${path}: HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ""}`);
  }
  return (await res.json()) as T;
}

/** fetchServices reads the service map once. */
export function fetchServices(signal?: AbortSignal): Promise<ServicesSnapshot> {
  return getJSON<ServicesSnapshot>("/api/services", signal);
}

/** fetchTraces lists recent traces, optionally of one service. */
export async function fetchTraces(q: { service?: string; limit?: number }, signal?: AbortSignal): Promise<TraceSummary[]> {
  const p = new URLSearchParams();
  if (q.service) p.set("service", q.service);
  p.set("limit", String(q.limit ?? 100));
  const r = await getJSON<{ traces?: TraceSummary[] }>(`/api/traces?${p}`, signal);
  return r.traces ?? [];
}

/** fetchTrace reads one trace with its spans and log lines. */
export function fetchTrace(id: string, signal?: AbortSignal): Promise<TraceDetail> {
  return getJSON<TraceDetail>(`/api/traces/${encodeURIComponent(id)}`, signal);
}

/** fetchLogs reads the log lines of one trace, each tagged with the trace id. */
export async function fetchLogs(traceId: string, signal?: AbortSignal): Promise<LogLine[]> {
  const r = await getJSON<{ logs?: LogLine[] }>(`/api/logs?trace_id=${encodeURIComponent(traceId)}`, signal);
  return (r.logs ?? []).map((l) => ({ ...l, trace_id: l.trace_id || traceId }));
}

/** mergeLogs merges the lines of several traces, newest first. */
export function mergeLogs(groups: LogLine[][], limit = 500): LogLine[] {
  const all = groups.flat();
  all.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return all.slice(0, limit);
}
