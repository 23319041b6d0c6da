// Topics of a cluster: list, create, edit (partitions grow, retention, Kafka configurations),
// delete.
import { useState } from "preact/hooks";
import { del, get, patch, post } from "../api.js";
import { Confirm, Problem, useAction, useLoad } from "../ui.jsx";

// The topic configurations the API sets (api/src/domain/topic_configs.rs checks the values).
const CONFIG_KEYS = [
  "cleanup.policy", "compression.type", "delete.retention.ms", "max.compaction.lag.ms",
  "max.message.bytes", "message.timestamp.type", "min.cleanable.dirty.ratio",
  "min.compaction.lag.ms", "min.insync.replicas", "retention.bytes", "segment.bytes",
];

// What a PATCH sends for the edited configurations: changed or added values, null for removed.
function configChanges(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) out[k] = v;
  for (const k of Object.keys(before)) if (!(k in after)) out[k] = null;
  return out;
}

function ConfigEditor({ configs, onChange }) {
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const free = CONFIG_KEYS.filter((k) => !(k in configs));
  return (
    <fieldset>
      <legend>Configurations</legend>
      {Object.entries(configs).map(([k, v]) => (
        <div class="row" key={k}>
          <label>{k} <input value={v} onInput={(ev) => onChange({ ...configs, [k]: ev.currentTarget.value })} /></label>
          <button type="button" class="small" onClick={() => { const c = { ...configs }; delete c[k]; onChange(c); }}>Remove<span class="sr-only"> {k}</span></button>
        </div>
      ))}
      {free.length ? (
        <div class="row wrap">
          <label>Add configuration
            <select value={key} onChange={(ev) => setKey(ev.currentTarget.value)}>
              <option value="">Choose…</option>
              {free.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </label>
          <label>Value <input value={value} onInput={(ev) => setValue(ev.currentTarget.value)} /></label>
          <button type="button" class="small" disabled={!key || value === ""} onClick={() => { onChange({ ...configs, [key]: value }); setKey(""); setValue(""); }}>Add</button>
        </div>
      ) : null}
    </fieldset>
  );
}

export function Topics({ cluster, canWrite }) {
  const list = useLoad(() => get(`/v1/clusters/${cluster.id}/topics`), [cluster.id]);
  const [f, setF] = useState({ name: "", partitions: "3", retention_hours: "24" });
  const [doomed, setDoomed] = useState(null);
  const [editing, setEditing] = useState(null);
  const a = useAction();
  const d = useAction();
  const e = useAction();
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const create = (e) => {
    e.preventDefault();
    a.run(async () => {
      await post(`/v1/clusters/${cluster.id}/topics`, {
        name: f.name,
        partitions: Number(f.partitions),
        retention_hours: Number(f.retention_hours),
      });
      setF({ ...f, name: "" });
      list.reload();
    });
  };
  return (
    <section class="card" aria-labelledby="topics-title">
      <h2 id="topics-title">Topics</h2>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="topics">
            <thead><tr><th scope="col">Topic</th><th scope="col">Partitions</th><th scope="col">Replicas</th><th scope="col">Retention</th><th scope="col">Configurations</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td><td>{t.partitions}</td><td>{t.replicas}</td><td>{t.retention_hours} h</td>
                  <td>{Object.entries(t.configs || {}).map(([k, v]) => <code key={k} class="config">{k}={v}</code>)}</td>
                  <td class="row">
                    {canWrite ? <button type="button" class="small" onClick={() => setEditing({ name: t.name, partitions: String(t.partitions), retention_hours: String(t.retention_hours), min: t.partitions, before: t.configs || {}, configs: { ...(t.configs || {}) } })}>Edit<span class="sr-only"> {t.name}</span></button> : null}
                    {canWrite ? <button type="button" class="small" onClick={() => setDoomed(t)}>Delete<span class="sr-only"> {t.name}</span></button> : null}
                  </td>
                </tr>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={6}>No topics yet.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
      {canWrite ? (
        <form onSubmit={create} class="row wrap" aria-label="New topic">
          <label>Topic name <input required value={f.name} onInput={set("name")} autoComplete="off" /></label>
          <label>Partitions <input type="number" min="1" value={f.partitions} onInput={set("partitions")} /></label>
          <label>Retention (hours) <input type="number" min="1" value={f.retention_hours} onInput={set("retention_hours")} /></label>
          <button type="submit" disabled={a.busy}>Create topic</button>
        </form>
      ) : null}
      <Problem error={a.error} />
      <Confirm open={!!editing} title={`Edit topic ${editing ? editing.name : ""}`} confirmLabel="Save" busy={e.busy} error={e.error}
        onCancel={() => { setEditing(null); e.setError(null); }}
        onConfirm={() => e.run(async () => {
          await patch(`/v1/clusters/${cluster.id}/topics/${encodeURIComponent(editing.name)}`, {
            partitions: Number(editing.partitions),
            retention_hours: Number(editing.retention_hours),
            configs: configChanges(editing.before, editing.configs),
          });
          setEditing(null);
          list.reload();
        })}>
        {editing ? (
          <>
            <label>Partitions (they only grow)
              <input type="number" min={editing.min} value={editing.partitions} onInput={(ev) => setEditing({ ...editing, partitions: ev.currentTarget.value })} />
            </label>
            <label>Retention (hours)
              <input type="number" min="1" value={editing.retention_hours} onInput={(ev) => setEditing({ ...editing, retention_hours: ev.currentTarget.value })} />
            </label>
            <ConfigEditor configs={editing.configs} onChange={(configs) => setEditing({ ...editing, configs })} />
          </>
        ) : null}
      </Confirm>
      <Confirm open={!!doomed} title={`Delete topic ${doomed ? doomed.name : ""}`} confirmLabel="Delete topic" busy={d.busy} error={d.error}
        onCancel={() => { setDoomed(null); d.setError(null); }}
        onConfirm={() => d.run(async () => {
          await del(`/v1/clusters/${cluster.id}/topics/${encodeURIComponent(doomed.name)}`);
          setDoomed(null);
          list.reload();
        })}>
        <p>Its messages are deleted with it.</p>
      </Confirm>
    </section>
  );
}
