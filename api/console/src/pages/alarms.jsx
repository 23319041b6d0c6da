// Alarms: open and recent alarms (every role that reads clusters), notification channels with
// their delivery log and a test button, and alarm rules (owners and admins), each editable in
// place (PATCH). A channel's secret is typed once into the form and never shown again: the API
// answers only a hint, and an edit replaces the secret only when a new one is typed.
import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { del, get, patch, post } from "../api.js";
import { Confirm, Problem, useAction, useLoad, when } from "../ui.jsx";

const KINDS = {
  pagerduty: { label: "PagerDuty (Events API v2)", secret: "Integration key" },
  opsgenie: { label: "OpsGenie", secret: "API key", region: true },
  victorops: { label: "VictorOps / Splunk On-Call", secret: "REST API key", routing: true },
  slack: { label: "Slack (incoming webhook)", url: "Webhook URL" },
  webhook: { label: "Webhook (signed, X-Eddy-Signature)", url: "URL", secret: "HMAC secret (16+ characters)" },
};

const RULES = {
  consumer_lag: { label: "Consumer lag above N messages", threshold: true, group: true },
  disk_used_percent: { label: "Disk used above X %", threshold: true },
  broker_down: { label: "A broker down" },
  under_replicated_partitions: { label: "Under-replicated partitions above N", threshold: true },
  offline_partitions: { label: "Offline partitions above N", threshold: true },
  operation_failed: { label: "An operation failed", noFor: true },
};

function AlarmList() {
  const [all, setAll] = useState(false);
  const list = useLoad(() => get(`/v1/alarms?state=${all ? "all" : "open"}&limit=100`), [all]);
  return (
    <section class="card" aria-labelledby="alarms-title">
      <div class="heading">
        <h2 id="alarms-title">{all ? "Open and recent alarms" : "Open alarms"}</h2>
        <label class="inline"><input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> include resolved</label>
        <button type="button" onClick={list.reload}>Refresh</button>
      </div>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="alarms">
            <thead><tr><th scope="col">State</th><th scope="col">Alarm</th><th scope="col">Opened</th><th scope="col">Resolved</th></tr></thead>
            <tbody>
              {list.data.map((a) => (
                <tr key={a.id}>
                  <td><span class={`badge ${a.state === "open" ? "op-failed" : "op-succeeded"}`}>{a.state}</span></td>
                  <td>{a.summary}</td><td>{when(a.opened_at)}</td><td>{when(a.resolved_at)}</td>
                </tr>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={4}>No alarms.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function DeliveryLog({ channel }) {
  const log = useLoad(() => get(`/v1/channels/${channel.id}/deliveries?limit=50`), [channel.id]);
  return (
    <div data-testid="delivery-log">
      <Problem error={log.error} />
      {log.data ? (
        <table>
          <caption>Delivery log of {channel.name}</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">State</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {log.data.map((e, i) => (
              <tr key={i}>
                <td>{when(e.at)}</td><td>{e.action}: {e.summary}</td><td>{e.attempt}</td>
                <td>{e.status_code ?? "—"}</td><td>{e.state}</td><td>{e.error || ""}</td>
              </tr>
            ))}
            {log.data.length === 0 ? <tr><td colSpan={6}>Nothing sent yet.</td></tr> : null}
          </tbody>
        </table>
      ) : null}
      <button type="button" class="small" onClick={log.reload}>Refresh log</button>
    </div>
  );
}

/** Edits one channel: its name, and a new URL or secret only when typed (blank keeps them). */
function EditChannel({ channel, onDone }) {
  const k = KINDS[channel.kind] || {};
  const [f, setF] = useState({ name: channel.name, url: "", secret: "" });
  const a = useAction();
  const set = (key) => (e) => setF({ ...f, [key]: e.currentTarget.value });
  const save = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = {};
      if (f.name !== channel.name) body.name = f.name;
      if (k.url && f.url) body.url = f.url;
      if (k.secret && f.secret) body.secret = f.secret;
      await patch(`/v1/channels/${channel.id}`, body);
      onDone(true);
    });
  };
  return (
    <form onSubmit={save} class="row wrap" aria-label={`Edit channel ${channel.name}`} data-testid="edit-channel">
      <label>Rename {channel.name} <input required value={f.name} onInput={set("name")} autoComplete="off" /></label>
      {k.url ? <label>New {k.url} (blank keeps it) <input type="url" value={f.url} onInput={set("url")} autoComplete="off" /></label> : null}
      {k.secret ? <label>New {k.secret} (blank keeps it) <input type="password" value={f.secret} onInput={set("secret")} autoComplete="new-password" /></label> : null}
      <button type="submit" disabled={a.busy}>Save channel</button>
      <button type="button" onClick={() => onDone(false)}>Cancel</button>
      <Problem error={a.error} />
    </form>
  );
}

function Channels({ list }) {
  const empty = { name: "", kind: "pagerduty", secret: "", url: "", region: "us", routing_key: "" };
  const [f, setF] = useState(empty);
  const [open, setOpen] = useState(null);
  const [editing, setEditing] = useState(null);
  const [doomed, setDoomed] = useState(null);
  const [queued, setQueued] = useState(null);
  const a = useAction();
  const d = useAction();
  const k = KINDS[f.kind];
  const create = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = { name: f.name, kind: f.kind };
      if (k.secret) body.secret = f.secret;
      if (k.url) body.url = f.url;
      if (k.region) body.region = f.region;
      if (k.routing) body.routing_key = f.routing_key;
      await post("/v1/channels", body);
      // The secret leaves the page with the request: the form forgets it.
      setF({ ...empty, kind: f.kind });
      list.reload();
    });
  };
  const test = (c) => a.run(async () => {
    await post(`/v1/channels/${c.id}/test`);
    setQueued(c.id);
    setOpen(c.id);
  });
  const set = (key) => (e) => setF({ ...f, [key]: e.currentTarget.value });
  return (
    <section class="card" aria-labelledby="channels-title">
      <h2 id="channels-title">Notification channels</h2>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="channels">
            <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Secret</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((c) => (
                <Fragment key={c.id}>
                  <tr>
                    <td>{c.name}</td><td>{(KINDS[c.kind] || {}).label || c.kind}{c.region ? ` (${c.region})` : ""}</td>
                    <td><code>{c.secret_hint}</code></td>
                    <td class="row">
                      <button type="button" class="small" onClick={() => test(c)} disabled={a.busy}>Send test<span class="sr-only"> to {c.name}</span></button>
                      <button type="button" class="small" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>Delivery log<span class="sr-only"> of {c.name}</span></button>
                      <button type="button" class="small" aria-expanded={editing === c.id} onClick={() => setEditing(editing === c.id ? null : c.id)}>Edit<span class="sr-only"> {c.name}</span></button>
                      <button type="button" class="small" onClick={() => setDoomed(c)}>Delete<span class="sr-only"> {c.name}</span></button>
                    </td>
                  </tr>
                  {editing === c.id ? <tr><td colSpan={4}><EditChannel channel={c} onDone={(saved) => { setEditing(null); if (saved) list.reload(); }} /></td></tr> : null}
                  {open === c.id ? <tr><td colSpan={4}>{queued === c.id ? <p role="status">Test notification queued.</p> : null}<DeliveryLog channel={c} /></td></tr> : null}
                </Fragment>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={4}>No channels yet.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
      <form onSubmit={create} class="row wrap" aria-label="New channel" data-testid="new-channel">
        <label>Name <input required value={f.name} onInput={set("name")} autoComplete="off" /></label>
        <label>Kind
          <select value={f.kind} onChange={set("kind")}>
            {Object.entries(KINDS).map(([id, v]) => <option key={id} value={id}>{v.label}</option>)}
          </select>
        </label>
        {k.url ? <label>{k.url} <input required type="url" value={f.url} onInput={set("url")} autoComplete="off" /></label> : null}
        {k.secret ? <label>{k.secret} <input required type="password" value={f.secret} onInput={set("secret")} autoComplete="new-password" /></label> : null}
        {k.region ? (
          <label>Region
            <select value={f.region} onChange={set("region")}><option value="us">US</option><option value="eu">EU</option></select>
          </label>
        ) : null}
        {k.routing ? <label>Routing key <input required value={f.routing_key} onInput={set("routing_key")} /></label> : null}
        <button type="submit" disabled={a.busy}>Add channel</button>
      </form>
      <Problem error={a.error} />
      <Confirm open={!!doomed} title={`Delete channel ${doomed ? doomed.name : ""}`} confirmLabel="Delete channel" busy={d.busy} error={d.error}
        onCancel={() => { setDoomed(null); d.setError(null); }}
        onConfirm={() => d.run(async () => { await del(`/v1/channels/${doomed.id}`); setDoomed(null); list.reload(); })}>
        <p>Its pending notifications and its delivery log go with it.</p>
      </Confirm>
    </section>
  );
}

/** Edits one rule's terms: threshold, duration and group (its kind and cluster stay). */
function EditRule({ rule, onDone }) {
  const r = RULES[rule.kind] || {};
  const [f, setF] = useState({ threshold: rule.threshold ?? "", for_minutes: String(rule.for_minutes), group: rule.group || "" });
  const a = useAction();
  const set = (key) => (e) => setF({ ...f, [key]: e.currentTarget.value });
  const save = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = {};
      if (r.threshold && f.threshold !== "") body.threshold = Number(f.threshold);
      if (!r.noFor && f.for_minutes !== "") body.for_minutes = Number(f.for_minutes);
      if (r.group) body.group = f.group || null;
      await patch(`/v1/alarm-rules/${rule.id}`, body);
      onDone(true);
    });
  };
  return (
    <form onSubmit={save} class="row wrap" aria-label={`Edit rule ${rule.name}`} data-testid="edit-rule">
      {r.threshold ? <label>New threshold <input type="number" step="any" min="0" value={f.threshold} onInput={set("threshold")} /></label> : null}
      {!r.noFor ? <label>New duration (minutes) <input type="number" min="0" max="1440" value={f.for_minutes} onInput={set("for_minutes")} /></label> : null}
      {r.group ? <label>New group (blank: every group) <input value={f.group} onInput={set("group")} /></label> : null}
      <button type="submit" disabled={a.busy}>Save rule</button>
      <button type="button" onClick={() => onDone(false)}>Cancel</button>
      <Problem error={a.error} />
    </form>
  );
}

function Rules({ channels }) {
  const list = useLoad(() => get("/v1/alarm-rules"), []);
  const clusters = useLoad(() => get("/v1/clusters?limit=100"), []);
  const empty = { kind: "consumer_lag", threshold: "", for_minutes: "5", group: "", cluster_id: "", channel_ids: [] };
  const [f, setF] = useState(empty);
  const [editing, setEditing] = useState(null);
  const a = useAction();
  const r = RULES[f.kind];
  const set = (key) => (e) => setF({ ...f, [key]: e.currentTarget.value });
  const create = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = { kind: f.kind };
      if (r.threshold && f.threshold !== "") body.threshold = Number(f.threshold);
      if (!r.noFor && f.for_minutes !== "") body.for_minutes = Number(f.for_minutes);
      if (r.group && f.group) body.group = f.group;
      if (f.cluster_id) body.cluster_id = f.cluster_id;
      if (f.channel_ids.length) body.channel_ids = f.channel_ids;
      await post("/v1/alarm-rules", body);
      setF({ ...empty, kind: f.kind });
      list.reload();
    });
  };
  const names = Object.fromEntries(((clusters.data && clusters.data.items) || []).map((c) => [c.id, c.name]));
  const channelNames = Object.fromEntries((channels || []).map((c) => [c.id, c.name]));
  return (
    <section class="card" aria-labelledby="rules-title">
      <h2 id="rules-title">Alarm rules</h2>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="rules">
            <thead><tr><th scope="col">Rule</th><th scope="col">Cluster</th><th scope="col">Threshold</th><th scope="col">For</th><th scope="col">Notifies</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((x) => (
                <Fragment key={x.id}>
                  <tr>
                    <td>{(RULES[x.kind] || {}).label || x.kind}{x.group ? ` (group ${x.group})` : ""}</td>
                    <td>{x.cluster_id ? names[x.cluster_id] || x.cluster_id : "every cluster"}</td>
                    <td>{x.threshold ?? "—"}</td><td>{x.for_minutes} min</td>
                    <td>{x.channel_ids ? x.channel_ids.map((id) => channelNames[id] || id).join(", ") : "every channel"}</td>
                    <td class="row">
                      <button type="button" class="small" aria-expanded={editing === x.id} onClick={() => setEditing(editing === x.id ? null : x.id)}>Edit<span class="sr-only"> rule {x.kind}</span></button>
                      <button type="button" class="small" onClick={() => a.run(async () => { await del(`/v1/alarm-rules/${x.id}`); list.reload(); })}>Delete<span class="sr-only"> rule {x.kind}</span></button>
                    </td>
                  </tr>
                  {editing === x.id ? <tr><td colSpan={6}><EditRule rule={x} onDone={(saved) => { setEditing(null); if (saved) list.reload(); }} /></td></tr> : null}
                </Fragment>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={6}>No rules yet.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
      <form onSubmit={create} class="row wrap" aria-label="New alarm rule" data-testid="new-rule">
        <label>Watch
          <select value={f.kind} onChange={set("kind")}>
            {Object.entries(RULES).map(([id, v]) => <option key={id} value={id}>{v.label}</option>)}
          </select>
        </label>
        <label>Cluster
          <select value={f.cluster_id} onChange={set("cluster_id")}>
            <option value="">every cluster</option>
            {((clusters.data && clusters.data.items) || []).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </select>
        </label>
        {r.threshold ? <label>Threshold <input type="number" step="any" min="0" value={f.threshold} onInput={set("threshold")} /></label> : null}
        {!r.noFor ? <label>For (minutes) <input type="number" min="0" max="1440" value={f.for_minutes} onInput={set("for_minutes")} /></label> : null}
        {r.group ? <label>Group (optional) <input value={f.group} onInput={set("group")} /></label> : null}
        {channels && channels.length ? (
          <label>Notify (none selected: every channel)
            <select multiple value={f.channel_ids} onChange={(e) => setF({ ...f, channel_ids: [...e.currentTarget.selectedOptions].map((o) => o.value) })}>
              {channels.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
            </select>
          </label>
        ) : null}
        <button type="submit" disabled={a.busy}>Add rule</button>
      </form>
      <Problem error={a.error} />
    </section>
  );
}

function Manage() {
  const channels = useLoad(() => get("/v1/channels"), []);
  return (
    <>
      <Rules channels={channels.data} />
      <Channels list={channels} />
    </>
  );
}

export function Alarms({ role }) {
  const manage = ["owner", "admin"].includes(role);
  return (
    <section>
      <h1>Alarms</h1>
      <AlarmList />
      {manage ? <Manage /> : null}
    </section>
  );
}

/** The cluster's availability this month as the SLA probe measured it. */
export function Availability({ cluster }) {
  const a = useLoad(() => get(`/v1/clusters/${cluster.id}/availability`), [cluster.id]);
  if (a.error) return <Problem error={a.error} />;
  if (!a.data) return null;
  const v = a.data;
  return (
    <section class="card" aria-labelledby="sla-title" data-testid="availability">
      <h2 id="sla-title">Availability this month</h2>
      <dl class="facts">
        <dt>Measured</dt><dd>{v.availability_percent} % ({v.down_minutes} of {v.minutes} minutes down; {v.probed_minutes} minutes probed)</dd>
        <dt>SLA</dt><dd>{v.sla ? `${v.sla_target_percent} % — credit on the invoice: ${v.credit_percent} %` : "none (shared plan)"}</dd>
      </dl>
    </section>
  );
}
