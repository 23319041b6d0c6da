// One cluster: its state, the live operation with its steps, actions (resize, upgrade, restart,
// delete, deletion protection), connection details, topics, Kafka users and the plots.
import { useState } from "preact/hooks";
import { call, get, money, post } from "../api.js";
import { Confirm, Problem, useAction, useInterval, useLoad, when } from "../ui.jsx";
import { StateBadge, currentPrice, monthly } from "./clusters.jsx";
import { Plots } from "./plots.jsx";
import { Topics } from "./topics.jsx";
import { KafkaUsers } from "./users.jsx";
import { Availability } from "./alarms.jsx";

/** The steps every operation goes through, in order (see api/src/ops.rs). */
const STEPS = ["accepted", "resource written", "operator reconciling", "done"];

export function OperationPanel({ op }) {
  if (!op) return null;
  const finished = op.state === "succeeded" || op.state === "failed";
  const done = finished ? STEPS.length : Math.min(op.steps.length, STEPS.length - 1);
  return (
    <section class="card" aria-labelledby="op-title" data-testid="operation" data-state={op.state}>
      <h2 id="op-title">{finished ? "Last operation" : "Operation in progress"}: {op.kind} — <span class={`badge op-${op.state}`}>{op.state}</span></h2>
      <progress max={STEPS.length} value={done} aria-label={`${op.kind} progress`}>{done}/{STEPS.length}</progress>
      <ol class="steps">
        {op.steps.map((s, i) => (
          <li key={i}><span class={`badge op-${s.state}`}>{s.state}</span> {s.name} <small>{when(s.at)}</small></li>
        ))}
      </ol>
      {op.error ? <p class="problem" role="alert">{op.error}</p> : null}
    </section>
  );
}

function bytes(n) {
  if (n === null || n === undefined) return "unknown until the brokers' disk use is sampled";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `about ${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** What the resize will do, from the API's preview: brokers added or drained, bytes moved,
 * prices and this month's pro-rated change. */
function ResizePreview({ cluster, planId }) {
  const p = useLoad(() => post(`/v1/clusters/${cluster.id}/resize/preview`, { plan_id: planId }), [cluster.id, planId]);
  if (p.error) return <Problem error={p.error} />;
  if (!p.data) return <p class="hint">Working out what the resize does…</p>;
  const d = p.data;
  const change = Number(d.prorated_change_this_month);
  return (
    <dl class="preview" data-testid="resize-preview">
      <dt>Brokers</dt>
      <dd>{d.brokers_before} → {d.brokers_after}
        {d.brokers_added.length ? `: brokers ${d.brokers_added.join(", ")} are added and get a fair share of the replicas` : ""}
        {d.brokers_drained.length ? `: brokers ${d.brokers_drained.join(", ")} are drained (every replica moved off) before they are removed` : ""}
      </dd>
      <dt>Data moved</dt>
      <dd>{d.brokers_added.length || d.brokers_drained.length ? bytes(d.estimated_bytes_to_move) : "none"}</dd>
      <dt>Monthly price</dt>
      <dd>{money(d.monthly_price_before)} → {money(d.monthly_price_after)}</dd>
      <dt>This month</dt>
      <dd>{change === 0 ? "no change" : `${change > 0 ? "+" : "−"}${money(Math.abs(change))}, pro-rated from when the resize completes`}</dd>
    </dl>
  );
}

function Actions({ cluster, etag, catalog, onChange }) {
  const [open, setOpen] = useState(null);
  const [plan, setPlan] = useState("");
  const [version, setVersion] = useState("");
  const a = useAction();
  const current = catalog.plans.find((p) => p.id === cluster.plan_id);
  const targets = current ? catalog.plans.filter((p) => current.transitions.includes(p.id)) : [];
  const newer = catalog.versions.slice(catalog.versions.indexOf(cluster.version) + 1);
  const busy = !["active", "failed"].includes(cluster.state);
  // Every change is conditional on the ETag the page last read; a 412 (someone or the
  // operator changed the cluster since) is shown and the page re-reads it, so a retry works.
  const run = (method, path, body) =>
    a.run(async () => {
      try {
        await call(method, path, body, { "If-Match": etag });
        setOpen(null);
      } finally {
        onChange();
      }
    });
  const close = () => { setOpen(null); a.setError(null); };
  const target = targets.find((p) => p.id === plan) || targets[0];
  return (
    <section class="card" aria-labelledby="actions-title">
      <h2 id="actions-title">Change the cluster</h2>
      <div class="row wrap">
        <button type="button" disabled={busy || !targets.length} onClick={() => setOpen("resize")}>Resize…</button>
        <button type="button" disabled={busy || !newer.length} onClick={() => setOpen("upgrade")}>Upgrade…</button>
        <button type="button" disabled={busy} onClick={() => setOpen("restart")}>Restart…</button>
        <label class="inline">
          <input type="checkbox" checked={cluster.deletion_protection} disabled={a.busy || cluster.state === "deleting"}
            onChange={(e) => run("PATCH", `/v1/clusters/${cluster.id}`, { deletion_protection: e.currentTarget.checked })} />
          Deletion protection
        </label>
        <button type="button" class="danger" disabled={cluster.deletion_protection || cluster.state === "deleting"} onClick={() => setOpen("delete")}
          title={cluster.deletion_protection ? "Turn deletion protection off first" : undefined}>Delete…</button>
      </div>
      {cluster.deletion_protection ? <p class="hint">Deletion protection is on: the API refuses to delete this cluster until it is turned off.</p> : null}
      {!open ? <Problem error={a.error} /> : null}
      <Confirm open={open === "resize"} title={`Resize ${cluster.name}`} confirmLabel="Resize" busy={a.busy} error={a.error}
        onCancel={close} onConfirm={() => run("POST", `/v1/clusters/${cluster.id}/resize`, { plan_id: target.id })}>
        <label>New plan
          <select value={target && target.id} onChange={(e) => setPlan(e.currentTarget.value)}>
            {targets.map((p) => <option key={p.id} value={p.id}>{p.name} — {money(currentPrice(p))}/month</option>)}
          </select>
        </label>
        {target ? <p>New price: <strong>{money(monthly(target, cluster.storage_gb))} per month</strong>, from when the resize completes.</p> : null}
        {target ? <ResizePreview cluster={cluster} planId={target.id} /> : null}
      </Confirm>
      <Confirm open={open === "upgrade"} title={`Upgrade ${cluster.name}`} confirmLabel="Upgrade" busy={a.busy} error={a.error}
        onCancel={close} onConfirm={() => run("POST", `/v1/clusters/${cluster.id}/upgrade`, { version: version || newer[0] })}>
        <label>Version (upgrades only go forward)
          <select value={version || newer[0]} onChange={(e) => setVersion(e.currentTarget.value)}>
            {newer.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
      </Confirm>
      <Confirm open={open === "restart"} title={`Restart ${cluster.name}`} confirmLabel="Restart" busy={a.busy} error={a.error}
        onCancel={close} onConfirm={() => run("POST", `/v1/clusters/${cluster.id}/restart`, {})}>
        <p>The brokers restart one at a time.</p>
      </Confirm>
      <Confirm open={open === "delete"} title={`Delete ${cluster.name}`} confirmLabel="Delete the cluster" typed={cluster.name} busy={a.busy} error={a.error}
        onCancel={close} onConfirm={() => run("DELETE", `/v1/clusters/${cluster.id}`)}>
        <p>Every topic and message of this cluster is deleted. This cannot be undone.</p>
      </Confirm>
    </section>
  );
}

function Connection({ cluster }) {
  const [client, setClient] = useState("librdkafka");
  const [user, setUser] = useState("");
  const conn = useLoad(() => get(`/v1/clusters/${cluster.id}/connection${user ? `?user=${encodeURIComponent(user)}` : ""}`), [cluster.id, user]);
  return (
    <section class="card" aria-labelledby="conn-title">
      <h2 id="conn-title">Connection details</h2>
      <Problem error={conn.error} />
      {conn.data ? (
        <>
          <div class="scroll">
            <table data-testid="listeners">
              <thead><tr><th scope="col">Listener</th><th scope="col">Bootstrap servers</th><th scope="col">security.protocol</th><th scope="col">SASL</th></tr></thead>
              <tbody>
                {conn.data.listeners.map((l) => (
                  <tr key={l.name}><td>{l.name}</td><td><code>{l.bootstrap_servers}</code></td><td>{l.security_protocol}</td><td>{l.sasl_mechanisms.join(", ")}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="row wrap">
            <label>Client
              <select value={client} onChange={(e) => setClient(e.currentTarget.value)}>
                <option value="librdkafka">librdkafka / confluent-kafka / kcat -F</option>
                <option value="java">Java properties</option>
                <option value="kafka_python">kafka-python</option>
                <option value="kafkajs">KafkaJS</option>
              </select>
            </label>
            <label>For Kafka user
              <input value={user} onChange={(e) => setUser(e.currentTarget.value)} placeholder="<username>" />
            </label>
          </div>
          <pre data-testid="snippet">{conn.data.listeners[0] && conn.data.listeners[0].clients[client]}</pre>
          {conn.data.ca_certificate ? (
            <details><summary>Cluster CA certificate (save as ca.crt)</summary><pre>{conn.data.ca_certificate}</pre></details>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

export function ClusterPage({ id, role }) {
  const k = useLoad(() => call("GET", `/v1/clusters/${id}`), [id]);
  const ops = useLoad(() => get(`/v1/clusters/${id}/operations`), [id]);
  const catalog = useLoad(() => get("/v1/plans"), []);
  const op = ops.data && ops.data[0];
  const state = k.data && k.data.data.state;
  // While an operation runs or the cluster is between states, follow both every 2 s (they are
  // two reads: one may see the operation done before the other sees the cluster settle).
  const live = (op && (op.state === "pending" || op.state === "running")) || ["creating", "updating", "restarting", "deleting"].includes(state);
  useInterval(() => { k.reload(); ops.reload(); }, 2000, !!live);
  const canWrite = ["owner", "admin", "member"].includes(role);
  if (k.error) return <Problem error={k.error} />;
  if (!k.data) return <p aria-busy="true">Loading…</p>;
  const cluster = k.data.data;
  const refresh = () => { k.reload(); ops.reload(); };
  return (
    <section>
      <div class="heading">
        <h1>{cluster.name}</h1>
        <StateBadge state={cluster.state} />
        <button type="button" onClick={refresh}>Refresh</button>
      </div>
      <dl class="facts">
        <dt>Plan</dt><dd>{cluster.plan_id}</dd>
        <dt>Region</dt><dd>{cluster.region}</dd>
        <dt>Version</dt><dd>{cluster.version}</dd>
        <dt>Storage</dt><dd>{cluster.storage_gb} GB</dd>
        <dt>Bootstrap</dt><dd><code>{cluster.bootstrap_servers || "not yet"}</code></dd>
        <dt>Created</dt><dd>{when(cluster.created_at)}</dd>
      </dl>
      <OperationPanel op={op} />
      {canWrite && catalog.data && cluster.state !== "deleted" ? <Actions cluster={cluster} etag={k.data.etag} catalog={catalog.data} onChange={refresh} /> : null}
      {cluster.state === "active" || cluster.state === "updating" || cluster.state === "restarting" ? (
        <>
          <Plots cluster={cluster} />
          <Availability cluster={cluster} />
          {canWrite ? <Connection cluster={cluster} /> : null}
          <Topics cluster={cluster} canWrite={canWrite} />
          <KafkaUsers cluster={cluster} canWrite={canWrite} />
        </>
      ) : null}
    </section>
  );
}
