// The audit log, newest first, paged with `before`.
import { useState } from "preact/hooks";
import { get } from "../api.js";
import { Problem, useAction, when } from "../ui.jsx";
import { useEffect } from "preact/hooks";

export function Audit() {
  const [items, setItems] = useState([]);
  const [next, setNext] = useState(undefined);
  const a = useAction();
  const load = (before) => a.run(async () => {
    const page = await get(`/v1/audit?limit=50${before ? `&before=${encodeURIComponent(before)}` : ""}`);
    setItems((old) => (before ? [...old, ...page.items] : page.items));
    setNext(page.next_before);
  });
  useEffect(() => { load(null); }, []);
  return (
    <section>
      <h1>Audit log</h1>
      <Problem error={a.error} />
      <div class="scroll">
        <table data-testid="audit">
          <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Details</th><th scope="col">Request id</th></tr></thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td>{when(e.at)}</td><td>{e.actor}</td><td>{e.action}</td><td><code>{e.target}</code></td>
                <td><code class="details">{JSON.stringify(e.details)}</code></td><td><code>{e.request_id}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {next ? <button type="button" onClick={() => load(next)} disabled={a.busy}>Older entries</button> : null}
    </section>
  );
}
