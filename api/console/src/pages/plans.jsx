// The plans catalog with prices and limits.
import { get, money } from "../api.js";
import { Problem, useLoad } from "../ui.jsx";
import { currentPrice } from "./clusters.jsx";

const rate = (b) => (b >= 1048576 ? `${(b / 1048576).toFixed(0)} MiB/s` : `${(b / 1024).toFixed(0)} KiB/s`);

export function Plans() {
  const cat = useLoad(() => get("/v1/plans"), []);
  if (cat.error) return <Problem error={cat.error} />;
  if (!cat.data) return <p aria-busy="true">Loading…</p>;
  return (
    <section>
      <h1>Plans</h1>
      <p>Versions: {cat.data.versions.join(", ")}. Regions: {cat.data.regions.map((r) => r.id).join(", ")}.</p>
      <div class="scroll">
        <table data-testid="plans">
          <thead><tr><th scope="col">Plan</th><th scope="col">Tier</th><th scope="col">Brokers</th><th scope="col">Price / month</th><th scope="col">Storage</th><th scope="col">In / out</th><th scope="col">Partitions</th><th scope="col">Features</th></tr></thead>
          <tbody>
            {cat.data.plans.map((p) => (
              <tr key={p.id}>
                <th scope="row">{p.name}</th><td>{p.tier}</td><td>{p.brokers}</td>
                <td>{money(currentPrice(p))}</td>
                <td>{p.included_storage_gb} GB (up to {p.max_storage_gb}, {money(p.extra_storage_price_gb_month)}/GB-month)</td>
                <td>{rate(p.limits.ingress_bytes_per_sec)} / {rate(p.limits.egress_bytes_per_sec)}</td>
                <td>{p.limits.max_partitions}</td><td>{(p.features || []).join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
