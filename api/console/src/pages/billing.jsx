// Invoices and credit notes: the list, issuing a closed month's invoice, one invoice's lines,
// and correcting it with a credit note.
import { useState } from "preact/hooks";
import { get, money, post } from "../api.js";
import { Problem, useAction, useLoad, when } from "../ui.jsx";

const day = (iso) => (iso ? iso.slice(0, 10) : "");

export function Billing({ role }) {
  const list = useLoad(() => get("/v1/invoices"), []);
  const prev = new Date();
  prev.setUTCDate(1);
  prev.setUTCMonth(prev.getUTCMonth() - 1);
  const [f, setF] = useState({ year: String(prev.getUTCFullYear()), month: String(prev.getUTCMonth() + 1) });
  const a = useAction();
  const canWrite = ["owner", "admin", "billing_manager"].includes(role);
  const issue = (e) => {
    e.preventDefault();
    a.run(async () => {
      const inv = await post("/v1/invoices", { year: Number(f.year), month: Number(f.month) });
      location.hash = `#/invoices/${inv.id}`;
    });
  };
  return (
    <section>
      <h1>Billing</h1>
      <p><a href="#/account">Billing details and PO number</a></p>
      <Problem error={list.error} />
      {list.data ? (
        <div class="scroll">
          <table data-testid="invoices">
            <thead><tr><th scope="col">Number</th><th scope="col">Kind</th><th scope="col">Period</th><th scope="col">Issued</th><th scope="col">Due</th><th scope="col">Total</th></tr></thead>
            <tbody>
              {list.data.map((i) => (
                <tr key={i.id}>
                  <td><a href={`#/invoices/${i.id}`}>{i.number}</a></td><td>{i.kind.replace("_", " ")}</td>
                  <td>{day(i.period_start)} – {day(i.period_end)}</td><td>{day(i.issued_at)}</td><td>{day(i.due_at)}</td>
                  <td class="num">{money(i.total, i.currency)}</td>
                </tr>
              ))}
              {list.data.length === 0 ? <tr><td colSpan={6}>No invoices yet.</td></tr> : null}
            </tbody>
          </table>
        </div>
      ) : null}
      {canWrite ? (
        <form onSubmit={issue} class="row wrap" aria-label="Issue an invoice">
          <label>Year <input type="number" min="2000" max="2100" required value={f.year} onInput={(e) => setF({ ...f, year: e.currentTarget.value })} /></label>
          <label>Month <input type="number" min="1" max="12" required value={f.month} onInput={(e) => setF({ ...f, month: e.currentTarget.value })} /></label>
          <button type="submit" disabled={a.busy}>Issue the month's invoice</button>
        </form>
      ) : null}
      <Problem error={a.error} />
    </section>
  );
}

export function InvoicePage({ id, role }) {
  const inv = useLoad(() => get(`/v1/invoices/${id}`), [id]);
  const [f, setF] = useState({ amount: "", reason: "" });
  const a = useAction();
  if (inv.error) return <Problem error={inv.error} />;
  if (!inv.data) return <p aria-busy="true">Loading…</p>;
  const i = inv.data;
  const credit = (e) => {
    e.preventDefault();
    a.run(async () => {
      const note = await post(`/v1/invoices/${i.id}/credit-notes`, f);
      location.hash = `#/invoices/${note.id}`;
    });
  };
  return (
    <section>
      <h1>{i.kind === "credit_note" ? "Credit note" : "Invoice"} {i.number}</h1>
      <dl class="facts">
        <dt>Period</dt><dd>{day(i.period_start)} – {day(i.period_end)}</dd>
        <dt>Issued</dt><dd>{when(i.issued_at)}</dd>
        <dt>Due</dt><dd>{when(i.due_at)}</dd>
        <dt>Terms</dt><dd>{i.payment_terms}</dd>
        <dt>PO number</dt><dd>{i.po_number || "–"}</dd>
        {i.billing_notes ? <><dt>Notes</dt><dd>{i.billing_notes}</dd></> : null}
        {i.corrects ? <><dt>Corrects</dt><dd><a href={`#/invoices/${i.corrects}`}>the invoice</a></dd></> : null}
      </dl>
      <div class="scroll">
        <table data-testid="invoice-lines">
          <thead><tr><th scope="col">Line</th><th scope="col">Kind</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th></tr></thead>
          <tbody>
            {i.lines.map((l, n) => (
              <tr key={n}><td>{l.description}</td><td>{l.kind}</td><td class="num">{l.quantity}</td><td class="num">{money(l.unit_price, i.currency)}</td><td class="num">{money(l.amount, i.currency)}</td></tr>
            ))}
            {i.lines.length === 0 ? <tr><td colSpan={5}>No usage in this period.</td></tr> : null}
          </tbody>
          <tfoot><tr><th scope="row" colSpan={4}>Total</th><td class="num" data-testid="invoice-total">{money(i.total, i.currency)}</td></tr></tfoot>
        </table>
      </div>
      {i.kind === "invoice" && ["owner", "admin", "billing_manager"].includes(role) ? (
        <form onSubmit={credit} class="row wrap" aria-label="Issue a credit note">
          <label>Credit amount <input required inputMode="decimal" value={f.amount} onInput={(e) => setF({ ...f, amount: e.currentTarget.value })} /></label>
          <label>Reason <input required value={f.reason} onInput={(e) => setF({ ...f, reason: e.currentTarget.value })} /></label>
          <button type="submit" disabled={a.busy}>Issue credit note</button>
        </form>
      ) : null}
      <Problem error={a.error} />
      <p><a href="#/billing">All invoices</a></p>
    </section>
  );
}
