// Kafka users of a cluster: list with the operator's Ready state, create (the password shown
// once), rotate the password (shown once), delete.
import { useState } from "preact/hooks";
import { del, get, post } from "../api.js";
import { Confirm, Problem, ShownOnce, useAction, useLoad } from "../ui.jsx";

export function KafkaUsers({ cluster, canWrite }) {
  const list = useLoad(() => get(`/v1/clusters/${cluster.id}/users`), [cluster.id]);
  const [f, setF] = useState({ name: "", mechanism: "scram-sha-512", all: false });
  const [secret, setSecret] = useState(null);
  const [doomed, setDoomed] = useState(null);
  const a = useAction();
  const d = useAction();
  const create = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = { name: f.name, mechanism: f.mechanism };
      if (f.all) body.acls = [
        { resource_type: "topic", resource_name: "*", operations: ["All"] },
        { resource_type: "group", resource_name: "*", operations: ["All"] },
      ];
      const r = await post(`/v1/clusters/${cluster.id}/users`, body);
      if (r.password) setSecret({ name: r.user.name, password: r.password });
      setF({ ...f, name: "" });
      list.reload();
    });
  };
  const rotate = (u) => a.run(async () => {
    const r = await post(`/v1/clusters/${cluster.id}/users/${encodeURIComponent(u.name)}/rotate`);
    setSecret({ name: u.name, password: r.password });
  });
  return (
    <section class="card" aria-labelledby="users-title">
      <h2 id="users-title">Kafka users</h2>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="kafka-users">
            <thead><tr><th scope="col">User</th><th scope="col">Mechanism</th><th scope="col">Ready</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td><td>{u.mechanism}</td>
                  <td>{u.ready === null ? "unknown" : u.ready ? "yes" : u.reason || "no"}</td>
                  <td class="row">
                    {canWrite && u.mechanism !== "tls" ? <button type="button" class="small" onClick={() => rotate(u)}>Rotate password<span class="sr-only"> of {u.name}</span></button> : null}
                    {canWrite ? <button type="button" class="small" onClick={() => setDoomed(u)}>Delete<span class="sr-only"> {u.name}</span></button> : null}
                  </td>
                </tr>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={4}>No Kafka users yet.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
      <ShownOnce label={secret ? `Password of ${secret.name}` : ""} value={secret && secret.password} onDone={() => setSecret(null)} />
      {canWrite ? (
        <form onSubmit={create} class="row wrap" aria-label="New Kafka user">
          <label>User name <input required pattern="[A-Za-z0-9._\-]{1,64}" value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} autoComplete="off" /></label>
          <label>Mechanism
            <select value={f.mechanism} onChange={(e) => setF({ ...f, mechanism: e.currentTarget.value })}>
              <option value="scram-sha-512">SCRAM-SHA-512</option><option value="tls">TLS certificate</option>
            </select>
          </label>
          <label class="inline"><input type="checkbox" checked={f.all} onChange={(e) => setF({ ...f, all: e.currentTarget.checked })} /> all topics and groups (plans with ACLs)</label>
          <button type="submit" disabled={a.busy}>Create user</button>
        </form>
      ) : null}
      <Problem error={a.error} />
      <Confirm open={!!doomed} title={`Delete Kafka user ${doomed ? doomed.name : ""}`} confirmLabel="Delete user" busy={d.busy} error={d.error}
        onCancel={() => { setDoomed(null); d.setError(null); }}
        onConfirm={() => d.run(async () => {
          await del(`/v1/clusters/${cluster.id}/users/${encodeURIComponent(doomed.name)}`);
          setDoomed(null);
          list.reload();
        })}>
        <p>Clients using it can no longer connect.</p>
      </Confirm>
    </section>
  );
}
