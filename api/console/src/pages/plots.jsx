// A cluster's metrics (the last hour by default) (GET /v1/clusters/{id}/metrics), drawn with uPlot: one
// chart per question a user asks (how much flows, how slow, how full, how far behind).
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { get } from "../api.js";
import { Problem, useInterval, useLoad } from "../ui.jsx";

/** The charts: a title, the unit of the y axis, and which series (and label) make its lines. */
const CHARTS = [
  { id: "throughput", title: "Produce and consume throughput", unit: "bytes/s",
    lines: (s) => (s.name === "produce_throughput" || s.name === "consume_throughput") && !s.labels.topic ? s.name.replace("_throughput", "") : null },
  { id: "messages", title: "Messages in", unit: "messages/s",
    lines: (s) => (s.name === "messages_in" && !s.labels.topic ? "all topics" : null) },
  { id: "topic-throughput", title: "Produce throughput by topic", unit: "bytes/s",
    lines: (s) => (s.name === "produce_throughput" && s.labels.topic ? s.labels.topic : null) },
  { id: "latency", title: "Request latency p99 by API", unit: "seconds",
    lines: (s) => (s.name === "request_latency_p99" ? s.labels.api : null) },
  { id: "partitions", title: "Partitions per broker", unit: "partitions",
    lines: (s) => (s.name === "partitions" ? s.labels.broker : null) },
  { id: "disk", title: "Disk used per broker", unit: "bytes",
    lines: (s) => (s.name === "disk_used" ? `${s.labels.broker} ${s.labels.dir || ""}`.trim() : null) },
  { id: "lag", title: "Consumer lag per group", unit: "messages",
    lines: (s) => (s.name === "consumer_lag" ? s.labels.group : null) },
  { id: "health", title: "Under-replicated, under-min-ISR and offline partitions", unit: "partitions",
    lines: (s) => ({ under_replicated_partitions: "under-replicated", under_min_isr_partitions: "under min ISR", offline_partitions: "offline" })[s.name] || null },
  { id: "controller", title: "Active controllers (1 is healthy)", unit: "brokers",
    lines: (s) => (s.name === "active_controllers" ? "active controllers" : null) },
];

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

export function human(v, unit) {
  if (v === null || v === undefined) return "–";
  if (unit === "seconds") return v < 1 ? `${(v * 1000).toPrecision(3)} ms` : `${v.toPrecision(3)} s`;
  const [d, p] = Math.abs(v) >= 1e9 ? [1e9, "G"] : Math.abs(v) >= 1e6 ? [1e6, "M"] : Math.abs(v) >= 1e3 ? [1e3, "k"] : [1, ""];
  const u = unit === "bytes/s" ? "B/s" : unit === "bytes" ? "B" : unit === "messages/s" ? "msg/s" : "";
  return `${Number((v / d).toPrecision(3))} ${p}${u}`.trim();
}

/** Aligns the lines' points on the union of their instants (uPlot's data layout). */
export function align(lines) {
  const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((l) => {
    const y = new Array(xs.length).fill(null);
    for (const [t, v] of l.points) y[at.get(t)] = v;
    return y;
  });
  return [xs, ...ys];
}

function Chart({ chart, lines, from, to }) {
  const box = useRef(null);
  const points = lines.reduce((n, l) => n + l.points.length, 0);
  const max = Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p[1])));
  const last = lines.map((l) => `${l.label} ${human(l.points.length ? l.points[l.points.length - 1][1] : null, chart.unit)}`).join(", ");
  useEffect(() => {
    const el = box.current;
    if (!el || !points) return undefined;
    const width = Math.max(260, el.clientWidth || 300);
    const plot = new uPlot(
      {
        width,
        height: 170,
        scales: { x: { time: true, min: from, max: to } },
        axes: [{}, { size: 84, values: (u, vals) => vals.map((v) => human(v, chart.unit)) }],
        series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
          value: (u, v) => human(v, chart.unit) }))],
        legend: { live: true },
      },
      align(lines),
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(260, el.clientWidth), height: 170 }));
    ro.observe(el);
    return () => { ro.disconnect(); plot.destroy(); };
  }, [JSON.stringify(lines), from, to]);
  return (
    <figure class="plot" data-testid={`plot-${chart.id}`} data-points={points} data-max={max}>
      <figcaption>{chart.title} <small>({chart.unit})</small></figcaption>
      {points ? <div ref={box} role="img" aria-label={`${chart.title}, latest: ${last}`} /> : <p class="hint">No data in this range.</p>}
    </figure>
  );
}

/** Look-back choices: the API's `since`, its length, and a `step` that keeps ~300 points. */
const RANGES = [
  ["15m", "Last 15 minutes", 900, null],
  ["1h", "Last hour", 3600, null],
  ["24h", "Last 24 hours", 86400, 300],
  ["7d", "Last 7 days", 604800, 1800],
];

export function Plots({ cluster }) {
  const [range, setRange] = useState("1h");
  const [since, label, secs, step] = RANGES.find((r) => r[0] === range);
  const m = useLoad(() => get(`/v1/clusters/${cluster.id}/metrics?since=${since}${step ? `&step=${step}` : ""}`), [cluster.id, range]);
  useInterval(() => m.reload(), 15000);
  const to = Math.floor(Date.now() / 1000);
  const from = to - secs;
  const series = (m.data && m.data.series) || [];
  return (
    <section class="card" aria-labelledby="plots-title">
      <div class="heading">
        <h2 id="plots-title">{label}</h2>
        <label class="inline">Range
          <select value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
        </label>
        <button type="button" onClick={m.reload}>Refresh plots</button>
      </div>
      <Problem error={m.error} />
      {m.data && series.length === 0 ? <p>No samples yet: the API reads the brokers' metrics every interval (30 s by default).</p> : null}
      {series.length ? (
        <div class="plots">
          {CHARTS.map((c) => {
            // The 8 highest lines (by their peak) keep a legend readable: latency per API can
            // have twenty.
            const lines = series
              .map((s) => ({ label: c.lines(s), points: s.points, peak: Math.max(0, ...s.points.map((p) => p[1])) }))
              .filter((l) => l.label)
              .sort((a, b) => b.peak - a.peak)
              .slice(0, 8);
            return <Chart key={c.id} chart={c} lines={lines} from={from} to={to} />;
          })}
        </div>
      ) : null}
    </section>
  );
}
