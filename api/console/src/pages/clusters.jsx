// The cluster list and the create-cluster flow (plan, region, version, name, storage, with price).
import { useState } from "preact/hooks";
import { call, get, money } from "../api.js";
import { Problem, useAction, useInterval, useLoad, when } from "../ui.jsx";

export const currentPrice = (plan) => plan.prices[plan.prices.length - 1].monthly;

export function StateBadge({ state }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function ClusterList({ role }) {
  const list = useLoad(() => get("/v1/clusters?limit=100"), []);
  // Clusters between states are followed every 3 s.
  const moving = !!list.data && list.data.items.some((c) => ["creating", "updating", "restarting", "deleting"].includes(c.state));
  useInterval(list.reload, 3000, moving);
  const canWrite = ["owner", "admin", "member"].includes(role);
  return (
    <section>
      <div class="heading">
        <h1>Clusters</h1>
        {canWrite ? <a class="button" href="#/clusters/new" id="create-cluster">Create cluster</a> : null}
        <button type="button" onClick={list.reload}>Refresh</button>
      </div>
      <Problem error={list.error} />
      {list.data && list.data.items.length === 0 ? <p>No clusters yet.</p> : null}
      {list.data && list.data.items.length > 0 ? (
        <div class="scroll">
          <table data-testid="clusters">
            <thead><tr><th scope="col">Name</th><th scope="col">Plan</th><th scope="col">Region</th><th scope="col">Version</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr key={c.id}>
                  <td><a href={`#/clusters/${c.id}`}>{c.name}</a></td>
                  <td>{c.plan_id}</td><td>{c.region}</td><td>{c.version}</td>
                  <td><StateBadge state={c.state} /></td><td>{when(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** Monthly price of a plan with `storage` GB (storage above the included GB billed per GB-month). */
export function monthly(plan, storage) {
  const extra = Math.max(0, storage - plan.included_storage_gb) * Number(plan.extra_storage_price_gb_month);
  return Number(currentPrice(plan)) + extra;
}

export function CreateCluster() {
  const cat = useLoad(() => get("/v1/plans"), []);
  const [f, setF] = useState({ name: "", plan_id: "", region: "", version: "", storage_gb: "" });
  const a = useAction();
  // One key per attempt of this form: a retried submit creates nothing twice.
  const [key] = useState(() => crypto.randomUUID());
  if (cat.error) return <Problem error={cat.error} />;
  if (!cat.data) return <p aria-busy="true">Loading plans…</p>;
  const plans = cat.data.plans;
  const plan = plans.find((p) => p.id === f.plan_id) || plans[0];
  const region = f.region || cat.data.regions[0].id;
  const version = f.version || cat.data.versions[cat.data.versions.length - 1];
  const storage = f.storage_gb === "" ? plan.included_storage_gb : Number(f.storage_gb);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = { name: f.name, plan_id: plan.id, region, version, storage_gb: storage };
      const r = await call("POST", "/v1/clusters", body, { "Idempotency-Key": key });
      location.hash = `#/clusters/${r.data.cluster.id}`;
    });
  };
  return (
    <section>
      <h1>Create a cluster</h1>
      <form onSubmit={submit} class="stack" aria-describedby="price">
        <fieldset>
          <legend>Plan</legend>
          <div class="plans">
            {plans.map((p) => (
              <label key={p.id} class={`plan-choice ${p.id === plan.id ? "chosen" : ""}`}>
                <input type="radio" name="plan" value={p.id} checked={p.id === plan.id} onChange={set("plan_id")} />
                <strong>{p.name}</strong> <span>{money(currentPrice(p))}/month</span>
                <small>{p.tier}, {p.brokers} broker{p.brokers > 1 ? "s" : ""}, {p.included_storage_gb} GB included</small>
              </label>
            ))}
          </div>
        </fieldset>
        <label>Region
          <select value={region} onChange={set("region")}>
            {cat.data.regions.map((r) => <option key={r.id} value={r.id}>{r.id}</option>)}
          </select>
        </label>
        <label>Version
          <select value={version} onChange={set("version")}>
            {cat.data.versions.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </label>
        <label>Storage (GB, {plan.included_storage_gb}–{plan.max_storage_gb})
          <input type="number" min={plan.included_storage_gb} max={plan.max_storage_gb} value={storage} onInput={set("storage_gb")} />
        </label>
        <label>Name
          <input required pattern="[a-z][a-z0-9\-]{1,38}[a-z0-9]" title="3-40 of a-z, 0-9 and -, starting with a letter" value={f.name} onInput={set("name")} autoComplete="off" />
        </label>
        <p id="price" class="price" data-testid="price">
          Price: <strong>{money(monthly(plan, storage))} per month</strong>, billed by the second from when the cluster is ready.
        </p>
        <Problem error={a.error} />
        <div class="row">
          <button type="submit" disabled={a.busy}>{a.busy ? "Creating…" : "Create cluster"}</button>
          <a href="#/clusters">Cancel</a>
        </div>
      </form>
    </section>
  );
}
