import { useEffect, useState } from "preact/hooks";
import { fetchLogs, type LogLine, type Tracing } from "../lib/api";
import { LogTable } from "./traces";

/** Logs shows the services' recent log lines; a line links to its trace. */
export function Logs({ tracing }: { tracing: Tracing }) {
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [err, setErr] = useState("");
  const [filter, setFilter] = useState("");
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    fetchLogs(undefined, ctl.signal)
      .then((l) => {
        setLogs(l);
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
        <input placeholder="filter" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} data-testid="log-filter" />
        <button onClick={() => setTick(tick + 1)}>refresh</button>
      </div>
      {err && <p class="error-text">{err}</p>}
      <LogTable logs={shown} tracing={tracing} />
    </div>
  );
}
