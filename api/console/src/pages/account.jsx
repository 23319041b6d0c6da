// The account and its billing details (PO number included), members and roles, invitations,
// API keys (the secret shown once).
import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post } from "../api.js";
import { Confirm, Problem, ShownOnce, useAction, useLoad, when } from "../ui.jsx";

const ROLES = ["owner", "admin", "member", "viewer", "billing_manager"];
const roleName = (r) => r.replace("_", " ");

export function Account({ role }) {
  const acc = useLoad(() => get("/v1/account"), []);
  const [f, setF] = useState(null);
  const a = useAction();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (acc.data) setF({ name: acc.data.name, payment_terms: acc.data.payment_terms, po_number: acc.data.po_number || "",
      billing_email: acc.data.billing_email || "", billing_notes: acc.data.billing_notes || "" });
  }, [acc.data]);
  if (acc.error) return <Problem error={acc.error} />;
  if (!f) return <p aria-busy="true">Loading…</p>;
  const canEdit = ["owner", "admin", "billing_manager"].includes(role);
  const set = (k) => (e) => { setSaved(false); setF({ ...f, [k]: e.currentTarget.value }); };
  const submit = (e) => {
    e.preventDefault();
    a.run(async () => {
      const body = { payment_terms: f.payment_terms, po_number: f.po_number || null, billing_email: f.billing_email || null, billing_notes: f.billing_notes || null };
      if (role !== "billing_manager") body.name = f.name;
      await patch("/v1/account", body);
      setSaved(true);
      acc.reload();
    });
  };
  return (
    <section>
      <h1>Account</h1>
      <p>Account id <code>{acc.data.id}</code>, created {when(acc.data.created_at)}.</p>
      <form onSubmit={submit} class="stack" aria-label="Account and billing details">
        <label>Account name <input value={f.name} onInput={set("name")} disabled={!canEdit || role === "billing_manager"} required /></label>
        <fieldset disabled={!canEdit}>
          <legend>Billing details</legend>
          <label>Payment terms
            <select value={f.payment_terms} onChange={set("payment_terms")}>
              <option value="card">Card (due at issue)</option>
              <option value="wire_net15">Bank transfer, NET 15</option>
            </select>
          </label>
          <label>PO number (printed on invoices) <input value={f.po_number} onInput={set("po_number")} /></label>
          <label>Billing email <input type="email" value={f.billing_email} onInput={set("billing_email")} /></label>
          <label>Billing notes (printed on invoices) <textarea value={f.billing_notes} onInput={set("billing_notes")} rows={3} /></label>
        </fieldset>
        <Problem error={a.error} />
        {saved ? <p role="status">Saved.</p> : null}
        {canEdit ? <button type="submit" disabled={a.busy}>Save</button> : null}
      </form>
    </section>
  );
}

export function Members({ role, s }) {
  const members = useLoad(() => get("/v1/members"), []);
  const manage = ["owner", "admin"].includes(role);
  const invites = useLoad(() => (manage ? get("/v1/invitations") : Promise.resolve([])), [manage]);
  const [inv, setInv] = useState({ email: "", role: "member" });
  const [token, setToken] = useState(null);
  const [doomed, setDoomed] = useState(null);
  const a = useAction();
  const d = useAction();
  const invite = (e) => {
    e.preventDefault();
    a.run(async () => {
      const r = await post("/v1/invitations", inv);
      setToken(r.token);
      setInv({ ...inv, email: "" });
      invites.reload();
    });
  };
  const grantable = ROLES.filter((r) => role === "owner" || r !== "owner");
  return (
    <section>
      <h1>Members</h1>
      <Problem error={members.error || a.error} />
      {members.data ? (
        <div class="scroll">
          <table data-testid="members">
            <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {members.data.map((m) => (
                <tr key={m.user_id}>
                  <td>{m.name}{m.user_id === s.user_id ? " (you)" : ""}</td><td>{m.email}</td>
                  <td>
                    {manage ? (
                      <select aria-label={`Role of ${m.email}`} value={m.role}
                        onChange={(e) => { const r = e.currentTarget.value; a.run(async () => { await patch(`/v1/members/${m.user_id}`, { role: r }); members.reload(); }); }}>
                        {ROLES.map((r) => <option key={r} value={r} disabled={!grantable.includes(r)}>{roleName(r)}</option>)}
                      </select>
                    ) : roleName(m.role)}
                  </td>
                  <td>{when(m.since)}</td>
                  <td>{manage ? <button type="button" class="small" onClick={() => setDoomed(m)}>Remove<span class="sr-only"> {m.email}</span></button> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {manage ? (
        <>
          <h2>Invitations</h2>
          <form onSubmit={invite} class="row wrap" aria-label="Invite a member">
            <label>Email <input type="email" required value={inv.email} onInput={(e) => setInv({ ...inv, email: e.currentTarget.value })} /></label>
            <label>Role
              <select value={inv.role} onChange={(e) => setInv({ ...inv, role: e.currentTarget.value })}>
                {grantable.map((r) => <option key={r} value={r}>{roleName(r)}</option>)}
              </select>
            </label>
            <button type="submit" disabled={a.busy}>Invite</button>
          </form>
          <ShownOnce label="Invitation token (send it, or the link below, to the invitee)" value={token && `${token}\n${location.origin}/#/accept?token=${token}`} onDone={() => setToken(null)} />
          <Problem error={invites.error} />
          {invites.data && invites.data.length ? (
            <div class="scroll">
              <table>
                <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Expires</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {invites.data.map((i) => (
                    <tr key={i.id}>
                      <td>{i.email}</td><td>{roleName(i.role)}</td><td>{when(i.expires_at)}</td>
                      <td>{i.accepted ? "accepted" : i.revoked ? "revoked" : "open"}</td>
                      <td>{!i.accepted && !i.revoked ? <button type="button" class="small" onClick={() => a.run(async () => { await del(`/v1/invitations/${i.id}`); invites.reload(); })}>Revoke<span class="sr-only"> {i.email}</span></button> : null}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      ) : null}
      <Confirm open={!!doomed} title={`Remove ${doomed ? doomed.email : ""}`} confirmLabel="Remove member" busy={d.busy} error={d.error}
        onCancel={() => { setDoomed(null); d.setError(null); }}
        onConfirm={() => d.run(async () => { await del(`/v1/members/${doomed.user_id}`); setDoomed(null); members.reload(); })}>
        <p>They lose access to this account at once.</p>
      </Confirm>
    </section>
  );
}

export function ApiKeys({ role }) {
  const keys = useLoad(() => get("/v1/api-keys"), []);
  const [f, setF] = useState({ name: "", role: "member", expires_in_days: "90" });
  const [secret, setSecret] = useState(null);
  const a = useAction();
  const create = (e) => {
    e.preventDefault();
    a.run(async () => {
      const r = await post("/v1/api-keys", { name: f.name, role: f.role, expires_in_days: f.expires_in_days ? Number(f.expires_in_days) : null });
      setSecret(r.secret);
      setF({ ...f, name: "" });
      keys.reload();
    });
  };
  return (
    <section>
      <h1>API keys</h1>
      <Problem error={keys.error} />
      <form onSubmit={create} class="row wrap" aria-label="New API key">
        <label>Name <input required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} /></label>
        <label>Role
          <select value={f.role} onChange={(e) => setF({ ...f, role: e.currentTarget.value })}>
            {ROLES.filter((r) => role === "owner" || r !== "owner").map((r) => <option key={r} value={r}>{roleName(r)}</option>)}
          </select>
        </label>
        <label>Expires in (days, empty: never) <input type="number" min="1" value={f.expires_in_days} onInput={(e) => setF({ ...f, expires_in_days: e.currentTarget.value })} /></label>
        <button type="submit" disabled={a.busy}>Create key</button>
      </form>
      <Problem error={a.error} />
      <ShownOnce label="The new API key" value={secret} onDone={() => setSecret(null)} />
      {keys.data ? (
        <div class="scroll">
          <table data-testid="api-keys">
            <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td><td>{roleName(k.role)}</td><td>{when(k.created_at)}</td><td>{when(k.expires_at) || "never"}</td>
                  <td>{when(k.last_used_at) || "never"}</td>
                  <td>{k.revoked ? "revoked" : <button type="button" class="small" onClick={() => a.run(async () => { await del(`/v1/api-keys/${k.id}`); keys.reload(); })}>Revoke<span class="sr-only"> {k.name}</span></button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
