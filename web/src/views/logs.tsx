import { useEffect, useState } from "preact/hooks";
import { fetchLogs, fetchTraces, mergeLogs, type LogLine, type Tracing } from "../lib/api";
import { LogTable } from "./traces";

// The console indexes log lines by trace: this view gathers the lines of the
// most recent traces, so every line shown links to its trace.
const TRACES = 30;

/** Logs shows the services' recent log lines (those written inside a request). */
export function Logs({ tracing }: { tracing: Tracing }) {
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [err, setErr] = useState("");
  const [filter, setFilter] = useState("");
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    fetchTraces({ limit: TRACES }, ctl.signal)
      .then((traces) => Promise.all(traces.map((t) => fetchLogs(t.trace_id, ctl.signal).catch(() => []))))
      .then((groups) => {
        setLogs(mergeLogs(groups));
        setErr("");
      })
      .catch((e: unknown) => ctl.signal.aborted || setErr(String(e)));
    return () => ctl.abort();
  }, [tick]);
  const f = filter.toLowerCase();
  const shown = f ? logs.filter((l) => `${l.service} ${l.level} ${l.msg}`.toLowerCase().includes(f)) : logs;
  return (
    <div>
      <div class="toolbar">
        <h2>Logs</h2>
        <span class="muted">lines written inside the last {TRACES} traces, newest first</span>
        <input placeholder="filter" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} data-testid="log-filter" />
        <button onClick={() => setTick(tick + 1)}>refresh</button>
      </div>
      {err && <p class="error-text">{err}</p>}
      {shown.length === 0 && !err && <p class="muted">no log lines yet</p>}
      <LogTable logs={shown} tracing={tracing} />
    </div>
  );
}
