// Sign in, sign up and accepting an invitation: each ends with a session (access + refresh token).
import { useState } from "preact/hooks";
import { post } from "../api.js";
import { Problem, useAction } from "../ui.jsx";

function Field({ label, ...props }) {
  return (
    <label>
      {label}
      <input {...props} />
    </label>
  );
}

export function SignIn({ onSession }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const a = useAction();
  const submit = (e) => {
    e.preventDefault();
    a.run(async () => onSession(await post("/v1/auth/signin", { email, password })));
  };
  return (
    <section>
      <h1>Sign in</h1>
      <form onSubmit={submit} class="stack">
        <Field label="Email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <Problem error={a.error} />
        <button type="submit" disabled={a.busy}>{a.busy ? "Signing in…" : "Sign in"}</button>
      </form>
      <p>No account yet? <a href="#/signup">Sign up</a>. Invited? <a href="#/accept">Accept the invitation</a>.</p>
    </section>
  );
}

export function SignUp({ onSession }) {
  const [f, setF] = useState({ name: "", email: "", password: "", account_name: "" });
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const a = useAction();
  const submit = (e) => {
    e.preventDefault();
    a.run(async () => {
      onSession(await post("/v1/auth/signup", f));
    });
  };
  return (
    <section>
      <h1>Sign up</h1>
      <form onSubmit={submit} class="stack">
        <Field label="Your name" required value={f.name} onInput={set("name")} autoComplete="name" />
        <Field label="Email" type="email" required value={f.email} onInput={set("email")} autoComplete="email" />
        <Field label="Password" type="password" required value={f.password} onInput={set("password")} autoComplete="new-password" />
        <Field label="Account (company) name" required value={f.account_name} onInput={set("account_name")} />
        <Problem error={a.error} />
        <button type="submit" disabled={a.busy}>{a.busy ? "Creating…" : "Create account"}</button>
      </form>
      <p>Already signed up? <a href="#/signin">Sign in</a>.</p>
    </section>
  );
}

export function AcceptInvitation({ onSession, token: initial }) {
  const [f, setF] = useState({ token: initial, name: "", password: "" });
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const a = useAction();
  const submit = (e) => {
    e.preventDefault();
    a.run(async () => onSession(await post("/v1/auth/accept-invitation", { token: f.token, password: f.password, name: f.name || undefined })));
  };
  return (
    <section>
      <h1>Accept an invitation</h1>
      <form onSubmit={submit} class="stack">
        <Field label="Invitation token" required value={f.token} onInput={set("token")} autoComplete="off" />
        <Field label="Your name (new users)" value={f.name} onInput={set("name")} autoComplete="name" />
        <Field label="Password (new users choose one; existing users enter theirs)" type="password" required value={f.password} onInput={set("password")} autoComplete="new-password" />
        <Problem error={a.error} />
        <button type="submit" disabled={a.busy}>Join the account</button>
      </form>
    </section>
  );
}
