import { useEffect, useState } from "preact/hooks";
import { fetchTrace, fetchTraces, type LogLine, type TraceDetail, type TraceSummary, type Tracing } from "../lib/api";
import { logDetail } from "../lib/logline";
import type { ServicesModel } from "../lib/services";
import { formatMs, layoutWaterfall, shortName } from "../lib/waterfall";
import { traceHref, tracesHref } from "../route";

function errored(t: TraceSummary): boolean {
  return Boolean(t.error);
}

/** TraceList lists recent traces, filtered by service and operation. */
export function TraceList({ services, service, operation }: { services: ServicesModel; service?: string; operation?: string }) {
  const [traces, setTraces] = useState<TraceSummary[]>([]);
  const [err, setErr] = useState("");
  const [tick, setTick] = useState(0);
  const tracing = services.tracing;

  useEffect(() => {
    const ctl = new AbortController();
    fetchTraces({ service, limit: 200 }, ctl.signal)
      .then((t) => {
        setTraces(t);
        setErr("");
      })
      .catch((e: unknown) => ctl.signal.aborted || setErr(String(e)));
    return () => ctl.abort();
  }, [service, tick]);

  const op = (operation ?? "").toLowerCase();
  const shown = op ? traces.filter((t) => t.root_name.toLowerCase().includes(op)) : traces;
  const go = (f: { service?: string; operation?: string }) => (location.hash = tracesHref(f));

  return (
    <div>
      <div class="toolbar">
        <h2>Traces</h2>
        <label>
          service{" "}
          <select value={service ?? ""} onChange={(e) => go({ service: e.currentTarget.value || undefined, operation })} data-testid="trace-service">
            <option value="">all</option>
            {services.services.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          operation{" "}
          <input
            value={operation ?? ""}
            placeholder="e.g. CreateOrder"
            onChange={(e) => go({ service, operation: e.currentTarget.value || undefined })}
            data-testid="trace-operation"
          />
        </label>
        <button onClick={() => setTick(tick + 1)} data-testid="trace-refresh">
          refresh
        </button>
        {tracing.mode === "external" && tracing.jaeger_url && (
          <a href={tracing.jaeger_url} target="_blank" rel="noreferrer" data-testid="jaeger-link">
            open Jaeger
          </a>
        )}
      </div>
      {tracing.mode === "external" && (
        <p class="muted">Traces go to Jaeger (OTLP); each trace below opens there.</p>
      )}
      {err && <p class="error-text">{err}</p>}
      <table class="table" data-testid="traces">
        <thead>
          <tr>
            <th>started</th>
            <th>service</th>
            <th>operation</th>
            <th class="num">duration</th>
            <th class="num">spans</th>
            <th>services</th>
            <th>status</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((t) => (
            <tr key={t.trace_id} data-testid="trace-row" data-trace-id={t.trace_id}>
              <td class="small">{new Date(t.start).toLocaleTimeString()}</td>
              <td>{t.root_service}</td>
              <td>
                <a href={traceHref(t.trace_id, tracing)} title={t.root_name}>
                  {shortName(t.root_name)}
                </a>
              </td>
              <td class="num">{formatMs(t.duration_ms)}</td>
              <td class="num">{t.span_count}</td>
              <td class="small">{(t.services ?? []).join(", ")}</td>
              <td>{errored(t) ? <span class="badge DOWN">error</span> : <span class="badge SERVING">ok</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 && !err && <p class="muted">no traces yet{op || service ? " for this filter" : ""}</p>}
    </div>
  );
}

function Attr({ attrs }: { attrs?: Record<string, unknown> }) {
  const keys = Object.keys(attrs ?? {}).sort();
  if (keys.length === 0) return <p class="muted">no attributes</p>;
  return (
    <table class="table attrs" data-testid="span-attributes">
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <td>
              <code>{k}</code>
            </td>
            <td>{typeof attrs![k] === "string" ? (attrs![k] as string) : JSON.stringify(attrs![k])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** LogTable shows log lines; each links to its trace when it has one. */
export function LogTable({ logs, tracing, onSpan }: { logs: LogLine[]; tracing: Tracing; onSpan?: (id: string) => void }) {
  return (
    <table class="table logs" data-testid="logs">
      <tbody>
        {logs.map((l, i) => (
          <tr key={i} data-testid="log-line" class={`lvl-${l.level?.toLowerCase()}`}>
            <td class="small nowrap w-time">{l.time ? new Date(l.time).toLocaleTimeString() : ""}</td>
            <td class="w-svc">{l.service}</td>
            <td class="small w-lvl">{l.level}</td>
            <td class="w-msg" title={l.line}>
              {l.msg} <span class="muted small">{logDetail(l.line)}</span>
            </td>
            <td class="small nowrap">
              {l.span_id && onSpan && (
                <button class="link" onClick={() => onSpan(l.span_id!)}>
                  span
                </button>
              )}{" "}
              {l.trace_id && (
                <a href={traceHref(l.trace_id, tracing)} data-testid="log-trace-link">
                  trace
                </a>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** TraceView draws one trace as a waterfall with its log lines. */
export function TraceView({ id, tracing }: { id: string; tracing: Tracing }) {
  const [trace, setTrace] = useState<TraceDetail>();
  const [err, setErr] = useState("");
  const [sel, setSel] = useState<string>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    fetchTrace(id, ctl.signal)
      .then((t) => {
        setTrace(t);
        setErr("");
      })
      .catch((e: unknown) => ctl.signal.aborted || setErr(String(e)));
    return () => ctl.abort();
  }, [id, tick]);

  const wf = layoutWaterfall(trace?.spans ?? []);
  const selected = wf.rows.find((r) => r.span.span_id === sel);
  return (
    <div>
      <div class="toolbar">
        <h2>
          Trace <code data-testid="trace-id">{id}</code>
        </h2>
        <span class="muted" data-testid="trace-summary" data-services={wf.services.join(",")}>
          {wf.rows.length} spans · {formatMs(wf.durationMs)} · {wf.services.join(", ")}
        </span>
        <button onClick={() => setTick(tick + 1)} data-testid="trace-reload">
          reload
        </button>
        <a href={tracesHref()}>all traces</a>
        {tracing.mode === "external" && tracing.jaeger_url && (
          <a href={traceHref(id, tracing)} target="_blank" rel="noreferrer">
            open in Jaeger
          </a>
        )}
      </div>
      {err && <p class="error-text">{err}</p>}
      {trace && wf.rows.length === 0 && <p class="muted">no spans (yet): reload in a moment</p>}
      <div class="waterfall" data-testid="waterfall">
        {wf.rows.length > 0 && (
          <div class="axis">
            <div />
            <div class="ticks">
              {[0, 0.25, 0.5, 0.75, 1].map((f) => (
                <span key={f} style={{ left: `${f * 100}%` }}>
                  {formatMs(wf.durationMs * f)}
                </span>
              ))}
            </div>
          </div>
        )}
        {wf.rows.map((r) => (
          <div
            key={r.span.span_id}
            class={`span-row${r.error ? " err" : ""}${sel === r.span.span_id ? " sel" : ""}`}
            data-testid="span-row"
            data-service={r.span.service}
            data-name={r.span.name}
            onClick={() => setSel(r.span.span_id)}
          >
            <div class="span-label" style={{ paddingLeft: `${r.depth * 14 + 4}px` }} title={r.span.name}>
              <span class={`svc-dot svc-${r.span.service}`} />
              <span class="svc-name">{r.span.service}</span> {shortName(r.span.name)}
            </div>
            <div class="span-track">
              <div class={`span-bar svc-${r.span.service}`} style={{ left: `${r.left}%`, width: `${r.width}%` }} />
              <span
                class="span-ms"
                style={r.left + r.width > 85 ? { right: `${100 - r.left}%`, marginRight: "6px" } : { left: `${r.left + r.width}%`, marginLeft: "6px" }}
              >
                {formatMs(r.durationMs)}
              </span>
            </div>
          </div>
        ))}
      </div>
      {selected && (
        <section class="card" data-testid="span-detail">
          <h3>
            {selected.span.service} · {shortName(selected.span.name)}
          </h3>
          <p class="muted small">
            span {selected.span.span_id} · {String(selected.span.kind ?? "")} · {formatMs(selected.durationMs)}
            {selected.span.status?.message ? ` · ${selected.span.status.message}` : ""}
          </p>
          <Attr attrs={selected.span.attributes} />
        </section>
      )}
      <h3>Logs of this trace</h3>
      {(trace?.logs ?? []).length === 0 ? (
        <p class="muted">no log lines</p>
      ) : (
        <LogTable logs={(trace?.logs ?? []).map((l) => ({ ...l, trace_id: undefined }))} tracing={tracing} onSpan={setSel} />
      )}
    </div>
  );
}
