// The Eddy console: a single-page app over the public API. Hash routes, one module per page.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, session, setSession } from "./api.js";
import { AcceptInvitation, SignIn, SignUp } from "./pages/auth.jsx";
import { ClusterList, CreateCluster } from "./pages/clusters.jsx";
import { ClusterPage } from "./pages/cluster.jsx";
import { Account, ApiKeys, Members } from "./pages/account.jsx";
import { Billing, InvoicePage } from "./pages/billing.jsx";
import { Audit } from "./pages/audit.jsx";
import { Alarms } from "./pages/alarms.jsx";
import { Plans } from "./pages/plans.jsx";
import "./style.css";

function useHash() {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

/** The signed-in member's role, read from the member list (every role may read it). */
function useRole(s) {
  const [role, setRole] = useState(null);
  useEffect(() => {
    setRole(null);
    if (!s) return;
    get("/v1/members").then(
      (ms) => setRole((ms.find((m) => m.user_id === s.user_id) || {}).role || "viewer"),
      () => setRole("viewer"),
    );
  }, [s && s.access_token && s.user_id, s && s.account_id]);
  return role;
}

const NAV = [
  ["#/clusters", "Clusters", (r) => r !== "billing_manager"],
  ["#/alarms", "Alarms", (r) => r !== "billing_manager"],
  ["#/plans", "Plans", () => true],
  ["#/billing", "Billing", (r) => ["owner", "admin", "billing_manager"].includes(r)],
  ["#/members", "Members", () => true],
  ["#/api-keys", "API keys", (r) => ["owner", "admin"].includes(r)],
  ["#/audit", "Audit log", (r) => ["owner", "admin"].includes(r)],
  ["#/account", "Account", () => true],
];

function Shell({ hash, s, onSignOut }) {
  const role = useRole(s);
  if (!role) return <main><p aria-busy="true">Loading…</p></main>;
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query || "");
  let page;
  const billingOnly = role === "billing_manager";
  if (parts[0] === "clusters" && parts[1] === "new") page = <CreateCluster />;
  else if (parts[0] === "clusters" && parts[1]) page = <ClusterPage id={parts[1]} role={role} />;
  else if (parts[0] === "plans") page = <Plans />;
  else if (parts[0] === "billing") page = <Billing role={role} />;
  else if (parts[0] === "invoices" && parts[1]) page = <InvoicePage id={parts[1]} role={role} />;
  else if (parts[0] === "members") page = <Members role={role} s={s} />;
  else if (parts[0] === "api-keys") page = <ApiKeys role={role} />;
  else if (parts[0] === "audit") page = <Audit />;
  else if (parts[0] === "alarms") page = <Alarms role={role} />;
  else if (parts[0] === "account") page = <Account role={role} />;
  else page = billingOnly ? <Billing role={role} /> : <ClusterList role={role} page={params.get("after")} />;
  const current = `#/${parts[0] || (billingOnly ? "billing" : "clusters")}`;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/">Eddy</a>
        <nav aria-label="Main">
          <ul>
            {NAV.filter(([, , show]) => show(role)).map(([href, label]) => (
              <li key={href}>
                <a href={href} aria-current={current === href ? "page" : undefined}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">{role.replace("_", " ")}</span>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </>
  );
}

function App() {
  const hash = useHash();
  const [s, setS] = useState(session());
  useEffect(() => {
    const out = () => setS(null);
    addEventListener("eddy-signed-out", out);
    return () => removeEventListener("eddy-signed-out", out);
  }, []);
  const signedIn = (next) => {
    setSession(next);
    setS(next);
    if (hash.startsWith("#/signin") || hash.startsWith("#/signup") || hash.startsWith("#/accept")) location.hash = "#/";
  };
  if (!s) {
    let page = <SignIn onSession={signedIn} />;
    if (hash.startsWith("#/signup")) page = <SignUp onSession={signedIn} />;
    else if (hash.startsWith("#/accept")) page = <AcceptInvitation onSession={signedIn} token={new URLSearchParams(hash.split("?")[1] || "").get("token") || ""} />;
    return (
      <>
        <header class="top"><span class="brand">Eddy</span></header>
        <main id="main" class="narrow">{page}</main>
      </>
    );
  }
  return <Shell hash={hash} s={s} onSignOut={() => { setSession(null); setS(null); location.hash = "#/signin"; }} />;
}

render(<App />, document.getElementById("root"));
