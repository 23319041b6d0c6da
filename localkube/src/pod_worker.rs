//! Pod worker: the kubelet's job for one pod, from volumes to processes to reported status.
//!
//! One task per pod owns its processes. It reacts to three things: a newer version of the pod
//! (deletion starts graceful termination), container events (exit, probe verdicts) and timers
//! (restart backoff, retrying set-up, refreshing ConfigMap/Secret volumes). After each it reports
//! the status derived by [`crate::status`], patching only when something changed.

use crate::agent::Ctx;
use crate::probe::{self, Verdict};
use crate::process::{self, Launch};
use crate::status::{self, ContainerView, Phase, PodView, Terminated, Transitions};
use crate::volumes::{self, Materialised};
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use nix::sys::signal::Signal;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

/// The latest pod as seen by the API watch; `None` once it is gone from the API.
pub type PodRx = watch::Receiver<Option<Arc<Pod>>>;

const REFRESH: Duration = Duration::from_secs(3);
/// Longest grace given to containers when the agent itself stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the worker stops.
enum Exit {
    /// The pod has a deletion timestamp: graceful stop, then remove it from the API.
    Deleted,
    /// The pod vanished from the API (force-deleted): kill at once.
    Gone,
    /// The agent is stopping: graceful stop, the pod object stays.
    Shutdown,
}

enum Event {
    Exited {
        slot: usize,
        generation: u64,
        status: std::process::ExitStatus,
    },
    Probe {
        slot: usize,
        generation: u64,
        verdict: Verdict,
    },
}

struct Run {
    pid: u32,
    generation: u64,
    started_at: Timestamp,
    started_instant: Instant,
    prober: tokio::task::JoinHandle<()>,
    exited: Arc<AtomicBool>,
    started: bool,
    ready: bool,
    kill_reason: Option<String>,
}

struct Slot {
    spec: Container,
    init: bool,
    view: ContainerView,
    run: Option<Run>,
    crashes: u32,
    restart_at: Option<Instant>,
    done: bool,
}

struct Worker {
    ctx: Arc<Ctx>,
    pod: Arc<Pod>,
    ns: String,
    name: String,
    dir: PathBuf,
    ip: Ipv4Addr,
    start_time: Timestamp,
    slots: Vec<Slot>,
    volumes: Option<Materialised>,
    setup_error: Option<(String, String)>,
    failed: Option<(String, String)>,
    retry_at: Instant,
    refresh_at: Instant,
    generation: u64,
    tx: mpsc::UnboundedSender<Event>,
    transitions: Transitions,
    reported: Option<serde_json::Value>,
}

/// Runs the pod until it is deleted (gracefully) or vanishes from the API.
pub async fn run(ctx: Arc<Ctx>, mut pod_rx: PodRx) {
    let Some(pod) = pod_rx.borrow_and_update().clone() else {
        return;
    };
    let ip = match ctx.ipam.lock().map(|mut i| i.allocate()) {
        Ok(Ok(ip)) => ip,
        Ok(Err(e)) => {
            warn!(error = %e, "no pod ip left");
            return;
        }
        Err(_) => return,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut w = Worker::new(ctx.clone(), pod, ip, tx);
    let uid = w.pod.metadata.uid.clone().unwrap_or_default();
    ctx.hosts.add(
        &uid,
        crate::hosts::PodRecord::of(&w.pod, ip),
        w.hosts_file(),
    );
    info!(pod = %w.name, namespace = %w.ns, ip = %ip, "pod worker started");
    let mut shutdown = ctx.shutdown.clone();
    let exit = loop {
        if w.pod.metadata.deletion_timestamp.is_some() {
            break Exit::Deleted;
        }
        if *shutdown.borrow_and_update() {
            break Exit::Shutdown;
        }
        w.step().await;
        w.report().await;
        let next = w.next_deadline();
        tokio::select! {
            changed = pod_rx.changed() => {
                let latest = pod_rx.borrow_and_update().clone();
                match (changed, latest) {
                    (Ok(()), Some(p)) => w.pod = p,
                    _ => break Exit::Gone,
                }
            }
            _ = shutdown.changed() => {}
            Some(ev) = rx.recv() => w.handle(ev),
            () = tokio::time::sleep_until(next) => {}
        }
    };
    let grace = match exit {
        Exit::Deleted => w.grace_period(),
        Exit::Shutdown => w.grace_period().min(SHUTDOWN_GRACE),
        Exit::Gone => Duration::ZERO,
    };
    w.terminate_all(grace, &mut rx).await;
    if matches!(exit, Exit::Deleted) {
        w.delete_from_api().await;
    }
    ctx.hosts.remove(&uid);
    if let Ok(mut ipam) = ctx.ipam.lock() {
        ipam.release(ip);
    }
    if let Err(e) = std::fs::remove_dir_all(&w.dir) {
        warn!(error = %e, dir = %w.dir.display(), "removing pod directory");
    }
    info!(pod = %w.name, namespace = %w.ns, "pod worker finished");
}

impl Worker {
    fn new(ctx: Arc<Ctx>, pod: Arc<Pod>, ip: Ipv4Addr, tx: mpsc::UnboundedSender<Event>) -> Self {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let dir = ctx
            .state_dir
            .join("pods")
            .join(format!("{ns}_{name}_{uid}"));
        let spec = pod.spec.clone().unwrap_or_default();
        let slot = |spec: Container, init: bool| Slot {
            view: ContainerView {
                name: spec.name.clone(),
                image: spec.image.clone().unwrap_or_default(),
                phase: Phase::Waiting {
                    reason: if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    }
                    .into(),
                    message: None,
                },
                last: None,
                restart_count: 0,
                will_restart: true,
            },
            spec,
            init,
            run: None,
            crashes: 0,
            restart_at: None,
            done: false,
        };
        let slots = spec
            .init_containers
            .into_iter()
            .flatten()
            .map(|c| slot(c, true))
            .chain(spec.containers.into_iter().map(|c| slot(c, false)))
            .collect();
        let now = Instant::now();
        Self {
            ctx,
            pod,
            ns,
            name,
            dir,
            ip,
            start_time: Timestamp::now(),
            slots,
            volumes: None,
            setup_error: None,
            failed: None,
            retry_at: now,
            refresh_at: now + REFRESH,
            generation: 0,
            tx,
            transitions: Transitions::default(),
            reported: None,
        }
    }

    /// This pod's `/etc/hosts`, bind-mounted into each container (see [`crate::hosts`]).
    fn hosts_file(&self) -> PathBuf {
        self.dir.join("etc-hosts")
    }

    fn restart_policy(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }

    fn grace_period(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }

    fn next_deadline(&self) -> Instant {
        let mut next = self.refresh_at;
        if self.volumes.is_none() {
            next = next.min(self.retry_at);
        }
        for s in &self.slots {
            if let Some(t) = s.restart_at {
                next = next.min(t);
            }
        }
        next
    }

    /// Sets up volumes once (retrying), refreshes them, and starts whatever is due.
    async fn step(&mut self) {
        let now = Instant::now();
        if self.failed.is_some() {
            return;
        }
        if self.volumes.is_none() || now >= self.refresh_at {
            if self.volumes.is_none() && now < self.retry_at {
                return;
            }
            if let Err(e) = std::fs::create_dir_all(&self.dir) {
                self.setup_error = Some((
                    "CreateContainerConfigError".into(),
                    format!("creating pod directory: {e}"),
                ));
            }
            match volumes::materialise(&self.ctx.client, &self.pod, &self.dir).await {
                Ok(m) => {
                    self.volumes = Some(m);
                    self.setup_error = None;
                }
                Err(e) if self.volumes.is_none() => {
                    self.setup_error = Some(("CreateContainerConfigError".into(), e.to_string()));
                    self.retry_at = now + Duration::from_secs(2);
                    return;
                }
                Err(e) => warn!(pod = %self.name, error = %e, "refreshing volumes"),
            }
            self.refresh_at = now + REFRESH;
        }
        let due = |s: &Slot| s.run.is_none() && !s.done && s.restart_at.is_none_or(|t| t <= now);
        // Init containers run one at a time, in order; app containers once all of them are done.
        let next_init = self.slots.iter().position(|s| s.init && !s.done);
        let candidates: Vec<usize> = match next_init {
            Some(i) => vec![i],
            None => (0..self.slots.len())
                .filter(|&i| !self.slots[i].init)
                .collect(),
        };
        for i in candidates {
            if due(&self.slots[i]) {
                self.start(i).await;
            }
        }
    }

    async fn start(&mut self, i: usize) {
        self.slots[i].restart_at = None;
        let c = self.slots[i].spec.clone();
        let image = c.image.clone().unwrap_or_default();
        let mapped = match self.ctx.images.resolve(&image) {
            Ok(p) => p.to_path_buf(),
            Err(e) => {
                self.slots[i].view.phase = Phase::Waiting {
                    reason: "ErrImagePull".into(),
                    message: Some(e.to_string()),
                };
                self.slots[i].restart_at = Some(Instant::now() + Duration::from_secs(10));
                return;
            }
        };
        match self.launch(&c, &mapped).await {
            Ok(launch) => match process::spawn(&launch) {
                Ok(child) => self.started(i, child),
                Err(e) => self.start_failed(i, "StartError", e.to_string()),
            },
            Err(msg) => {
                self.slots[i].view.phase = Phase::Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: Some(msg),
                };
                self.slots[i].restart_at = Some(Instant::now() + Duration::from_secs(2));
            }
        }
    }

    /// Everything needed to start container `c` whose image maps to `mapped`.
    async fn launch(&self, c: &Container, mapped: &std::path::Path) -> Result<Launch, String> {
        let mut pod = (*self.pod).clone();
        let status = pod.status.get_or_insert_with(Default::default);
        status.pod_ip = Some(self.ip.to_string());
        status.host_ip = Some(self.ctx.host_ip.to_string());
        let cdir = self.dir.join("containers").join(&c.name);
        let logs = self.dir.join("logs").join(&c.name);
        for d in [&cdir, &logs] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        let env = crate::env::container_env(
            &self.ctx.client,
            &pod,
            c,
            &self.ctx.api,
            &cdir.display().to_string(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let plan = crate::launch::plan(
            mapped,
            c.command.as_deref().unwrap_or_default(),
            c.args.as_deref().unwrap_or_default(),
        );
        let mut binds = match &self.volumes {
            Some(v) => v.binds(c).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        // Like the kubelet: the managed hosts file, unless the container mounts its own.
        if !binds
            .iter()
            .any(|b| b.dst == std::path::Path::new("/etc/hosts"))
        {
            binds.push(crate::mount_exec::Bind {
                src: self.hosts_file(),
                dst: PathBuf::from("/etc/hosts"),
                read_only: false,
            });
        }
        let restarts = self
            .slots
            .iter()
            .find(|s| s.spec.name == c.name)
            .map_or(0, |s| s.view.restart_count);
        Ok(Launch {
            program: plan.program,
            args: crate::env::expand_all(&plan.args, &env),
            env,
            cwd: c.working_dir.as_ref().map_or(cdir, PathBuf::from),
            binds,
            log: logs.join(format!("{restarts}.log")),
            pid_file: self.dir.join(format!("{}.pid", c.name)),
            agent_exe: self.ctx.agent_exe.clone(),
        })
    }

    fn started(&mut self, i: usize, mut child: tokio::process::Child) {
        self.generation += 1;
        let generation = self.generation;
        let pid = child.id().unwrap_or_default();
        let exited = Arc::new(AtomicBool::new(false));
        let (tx, flag) = (self.tx.clone(), exited.clone());
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s,
                Err(_) => std::process::ExitStatus::from_raw(128 << 8),
            };
            flag.store(true, Ordering::SeqCst);
            let _ = tx.send(Event::Exited {
                slot: i,
                generation,
                status,
            });
        });
        let (vtx, mut vrx) = mpsc::unbounded_channel();
        let target = probe::Target {
            container: self.slots[i].spec.clone(),
            pod_ip: self.ip,
            pid,
        };
        let tx = self.tx.clone();
        let prober = tokio::spawn(async move {
            let forward = async {
                while let Some(verdict) = vrx.recv().await {
                    let _ = tx.send(Event::Probe {
                        slot: i,
                        generation,
                        verdict,
                    });
                }
            };
            tokio::join!(probe::run(target, vtx), forward);
        });
        let started_at = Timestamp::now();
        let slot = &mut self.slots[i];
        info!(pod = %self.name, container = %slot.spec.name, pid, "container started");
        slot.view.phase = Phase::Running {
            started_at,
            container_id: format!("localkube://{pid}"),
            started: false,
            ready: false,
        };
        slot.run = Some(Run {
            pid,
            generation,
            started_at,
            started_instant: Instant::now(),
            prober,
            exited,
            started: false,
            ready: false,
            kill_reason: None,
        });
    }

    fn start_failed(&mut self, i: usize, reason: &str, message: String) {
        let now = Timestamp::now();
        warn!(pod = %self.name, container = %self.slots[i].spec.name, error = %message, "container failed to start");
        let term = Terminated {
            exit_code: 128,
            signal: None,
            reason: reason.into(),
            message: Some(message),
            started_at: now,
            finished_at: now,
            container_id: String::new(),
        };
        self.finished(i, term, Duration::ZERO);
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Exited {
                slot,
                generation,
                status,
            } => {
                let Some(run) = self.slots[slot].run.take_if(|r| r.generation == generation) else {
                    return;
                };
                run.prober.abort();
                let _ = std::fs::remove_file(
                    self.dir.join(format!("{}.pid", self.slots[slot].spec.name)),
                );
                let signal = status.signal();
                let exit_code = status.code().unwrap_or_else(|| 128 + signal.unwrap_or(0));
                let term = Terminated {
                    exit_code,
                    signal,
                    reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
                    message: run.kill_reason.clone(),
                    started_at: run.started_at,
                    finished_at: Timestamp::now(),
                    container_id: format!("localkube://{}", run.pid),
                };
                info!(pod = %self.name, container = %self.slots[slot].spec.name, exit_code, "container exited");
                self.finished(slot, term, run.started_instant.elapsed());
            }
            Event::Probe {
                slot,
                generation,
                verdict,
            } => {
                let name = self.name.clone();
                let grace = self.grace_period();
                let s = &mut self.slots[slot];
                let Some(run) = s.run.as_mut().filter(|r| r.generation == generation) else {
                    return;
                };
                match verdict {
                    Verdict::Started => run.started = true,
                    Verdict::Ready(r) => run.ready = r,
                    Verdict::Kill(reason) => {
                        warn!(pod = %name, container = %s.spec.name, %reason, "killing container");
                        run.kill_reason = Some(reason);
                        stop_run(run, grace);
                    }
                }
                if let Phase::Running { started, ready, .. } = &mut s.view.phase {
                    *started = run.started;
                    *ready = run.started && run.ready;
                }
            }
        }
    }

    /// Records a finished run and decides, per restart policy, whether and when it starts again.
    fn finished(&mut self, i: usize, term: Terminated, ran: Duration) {
        let policy = self.restart_policy().to_owned();
        let backoff = self.ctx.backoff;
        let pod = self.name.clone();
        let s = &mut self.slots[i];
        let success = term.exit_code == 0;
        let restart = if s.init {
            !success && policy != "Never"
        } else {
            policy == "Always" || (policy == "OnFailure" && !success)
        };
        if s.init && success {
            s.done = true;
        }
        if s.init && !success && !restart {
            self.failed = Some((
                "InitContainerFailed".into(),
                format!(
                    "init container {} exited with {}",
                    s.spec.name, term.exit_code
                ),
            ));
        }
        s.view.will_restart = restart;
        if !restart {
            s.done = true;
            s.view.phase = Phase::Terminated(term);
            return;
        }
        s.crashes = if ran >= backoff.reset_after() {
            1
        } else {
            s.crashes + 1
        };
        let delay = backoff.delay(s.crashes, ran);
        s.view.last = Some(term);
        s.view.restart_count += 1;
        s.view.phase = Phase::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(format!(
                "back-off {}s restarting failed container={} pod={pod}",
                delay.as_secs(),
                s.spec.name
            )),
        };
        s.restart_at = Some(Instant::now() + delay);
    }

    fn view(&self) -> PodView {
        let setup = self.setup_error.clone();
        let views = |init: bool| {
            self.slots
                .iter()
                .filter(|s| s.init == init)
                .map(|s| {
                    let mut v = s.view.clone();
                    if let (Some((reason, msg)), Phase::Waiting { .. }) = (&setup, &v.phase) {
                        v.phase = Phase::Waiting {
                            reason: reason.clone(),
                            message: Some(msg.clone()),
                        };
                    }
                    v
                })
                .collect::<Vec<_>>()
        };
        PodView {
            host_ip: self.ctx.host_ip,
            pod_ip: Some(self.ip),
            start_time: self.start_time,
            init: views(true),
            containers: views(false),
            initialized: self.slots.iter().filter(|s| s.init).all(|s| s.done),
            failed: self.failed.clone(),
        }
    }

    async fn report(&mut self) {
        let status = status::pod_status(&self.view(), &mut self.transitions, Timestamp::now());
        let Ok(value) = serde_json::to_value(&status) else {
            return;
        };
        if self.reported.as_ref() == Some(&value) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let patch = serde_json::json!({ "status": value });
        match api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => self.reported = Some(value),
            Err(e) => warn!(pod = %self.name, error = %e, "reporting pod status"),
        }
    }

    /// SIGTERM every running container, wait up to `grace` for them to exit, then SIGKILL.
    async fn terminate_all(&mut self, grace: Duration, rx: &mut mpsc::UnboundedReceiver<Event>) {
        for s in &mut self.slots {
            s.restart_at = None;
            if let Some(run) = &s.run {
                info!(pod = %self.name, container = %s.spec.name, grace_s = grace.as_secs(), "stopping container");
                process::signal_group(run.pid, Signal::SIGTERM);
            }
        }
        self.reap_until(Instant::now() + grace, rx).await;
        if self.slots.iter().any(|s| s.run.is_some()) {
            for s in &self.slots {
                if let Some(run) = &s.run {
                    warn!(pod = %self.name, container = %s.spec.name, "grace period over: SIGKILL");
                    process::signal_group(run.pid, Signal::SIGKILL);
                }
            }
            // Reaping after SIGKILL is prompt; the bound only guards against a stuck process.
            self.reap_until(Instant::now() + Duration::from_secs(5), rx)
                .await;
        }
    }

    async fn reap_until(&mut self, deadline: Instant, rx: &mut mpsc::UnboundedReceiver<Event>) {
        while self.slots.iter().any(|s| s.run.is_some()) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Event::Exited {
                    slot, generation, ..
                })) => {
                    if let Some(run) = self.slots[slot].run.take_if(|r| r.generation == generation)
                    {
                        run.prober.abort();
                        let _ = std::fs::remove_file(
                            self.dir.join(format!("{}.pid", self.slots[slot].spec.name)),
                        );
                    }
                }
                Ok(Some(Event::Probe { .. })) => {}
                _ => break,
            }
        }
    }

    /// The kubelet's last word: remove the pod object now that its processes are gone.
    async fn delete_from_api(&self) {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&self.name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => warn!(pod = %self.name, error = %e, "deleting pod from the api"),
        }
    }
}

/// SIGTERM now; SIGKILL after `grace` unless the run has exited by then.
fn stop_run(run: &Run, grace: Duration) {
    process::signal_group(run.pid, Signal::SIGTERM);
    let (pid, exited) = (run.pid, run.exited.clone());
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        if !exited.load(Ordering::SeqCst) {
            process::signal_group(pid, Signal::SIGKILL);
        }
    });
}
