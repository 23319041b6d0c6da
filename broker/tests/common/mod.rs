//! Shared integration-test harness: a real `broker` process on loopback with its own data
//! directory and ports, stopped by PID when dropped; plus helpers to run client programs.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use eddy_test_support::eventually;

/// How often the harness polls a process or an endpoint.
pub const POLL: Duration = Duration::from_millis(50);

/// Path of the broker binary cargo built for these tests, or `$EDDY_BROKER_BIN` (useful when
/// several checkouts share one CARGO_TARGET_DIR and overwrite each other's binary).
pub fn broker_bin() -> PathBuf {
    std::env::var_os("EDDY_BROKER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_broker")),
        PathBuf::from,
    )
}

/// Path of release 0.2.0's broker binary (`broker-0-2-0`: `eddy.version` 1 to 2), or
/// `$EDDY_BROKER_0_2_0_BIN`.
pub fn broker_0_2_0_bin() -> PathBuf {
    std::env::var_os("EDDY_BROKER_0_2_0_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_broker-0-2-0")),
        PathBuf::from,
    )
}

/// A free loopback port (bound then released; the broker binds it right after).
///
/// Taken below the kernel's ephemeral range (32768 and up): a port the kernel hands out for
/// `bind(0)` is also what it hands out as the source port of outgoing connections, so between
/// its release and the broker's bind a client connection of a concurrent test could take it
/// ("Address already in use"). Each test process walks its own stretch of 20000–31999 (offset
/// by its pid), skipping ports that are bound.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOW + (start + k) % SPAN).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN);
}

/// A broker process. Dropping it kills the process (SIGKILL) by PID.
pub struct TestBroker {
    pub child: Option<Child>,
    pub data_dir: PathBuf,
    pub port: u16,
    pub admin_port: u16,
    pub settings: Vec<String>,
    /// Extra command-line arguments (cluster flags).
    pub args: Vec<String>,
    /// Listeners besides PLAINTEXT on `port` (`SSL://127.0.0.1:<port>`, `SASL_PLAINTEXT://...`).
    pub extra_listeners: Vec<String>,
    /// Extra environment variables of the process.
    pub env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
    /// The binary to run instead of `broker_bin()` (another release).
    pub bin: Option<PathBuf>,
}

impl TestBroker {
    /// Starts a broker with a fresh data directory; `settings` are `key=value` overrides.
    pub fn start(settings: &[&str]) -> Self {
        let mut b = Self::new(settings, Vec::new());
        b.spawn();
        b
    }

    /// A broker that is not started yet, with extra command-line arguments.
    pub fn new(settings: &[&str], args: Vec<String>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        TestBroker {
            child: None,
            data_dir: tmp.path().join("data"),
            port: free_port(),
            admin_port: free_port(),
            settings: settings.iter().map(|s| (*s).to_string()).collect(),
            args,
            extra_listeners: Vec::new(),
            env: Vec::new(),
            _tmp: Some(tmp),
            bin: None,
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.admin_port, path)
    }

    /// Starts (or restarts) the process on the same data directory and ports, and waits until
    /// /readyz answers 200.
    pub fn spawn(&mut self) {
        self.launch();
        self.wait_ready();
    }

    /// Starts (or restarts) the process without waiting for it to be ready: a broker in cluster
    /// mode is ready only once it registered with a quorum, which the first voter of a new
    /// cluster cannot form alone (see `spawn_all`).
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.with_extension("log"))
            .unwrap();
        let mut cmd = Command::new(self.bin.clone().unwrap_or_else(broker_bin));
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listeners")
            .arg(
                std::iter::once(format!("PLAINTEXT://127.0.0.1:{}", self.port))
                    .chain(self.extra_listeners.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .env("RUST_LOG", "info,eddy_broker=debug")
            .stdout(Stdio::null())
            .stderr(log);
        for s in &self.settings {
            cmd.arg("--set").arg(s);
        }
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(cmd.spawn().expect("spawning the broker"));
    }

    /// Waits (bounded, 30 s) until /readyz answers 200.
    pub fn wait_ready(&mut self) {
        let ready = eventually("broker /readyz 200", Duration::from_secs(30), POLL, || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "broker exited during start ({status}); log:\n{}",
                    self.log()
                );
            }
            http_get(self.admin_port, "/readyz").map(|(code, _)| code) == Some(200)
        });
        if let Err(e) = ready {
            panic!("{e}; log:\n{}", self.log());
        }
    }

    /// SIGKILL: a crash, with no chance to flush or seal anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (bounded) for a graceful exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let exited = eventually("a graceful exit", Duration::from_secs(20), POLL, || {
            c.try_wait().unwrap()
        });
        exited.map_or_else(
            |_| {
                let _ = c.kill();
                let _ = c.wait();
                false
            },
            |s| s.success(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The directory of partition `p` of `topic` on `b`: `<topic>-<p>` (single node) or
/// `<topic>-<p>-<topic id>` (cluster mode; the most recently modified if several).
pub fn partition_dir(b: &TestBroker, topic: &str, p: i32) -> Option<PathBuf> {
    partition_dir_in(b.data_dir(), topic, p)
}

/// `partition_dir` for a broker's data directory.
pub fn partition_dir_in(data_dir: &Path, topic: &str, p: i32) -> Option<PathBuf> {
    let exact = format!("{topic}-{p}");
    let prefix = format!("{exact}-");
    std::fs::read_dir(data_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n == exact
                || n.strip_prefix(&prefix)
                    .is_some_and(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// The concatenated segment files (.log, in offset order) of partition `p` of `topic` under
/// `data_dir`: the replica's log, byte for byte (empty when the partition is not there).
pub fn replica_log_in(data_dir: &Path, topic: &str, p: i32) -> Vec<u8> {
    let Some(dir) = partition_dir_in(data_dir, topic, p) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    // Segment names are zero-padded base offsets: name order is offset order.
    files.sort();
    files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap_or_default())
        .collect()
}

/// A minimal HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Some((code, body))
}

/// The value of the unlabelled metric `name` in the broker's `/metrics` (0 when absent or
/// while the admin endpoint does not answer).
pub fn metric_value(admin_port: u16, name: &str) -> f64 {
    let Some((200, body)) = http_get(admin_port, "/metrics") else {
        return 0.0;
    };
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A minimal HTTP/1.0 request with `method` (PUT, DELETE...) and no body: (status, body).
pub fn http_call(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Some((code, body))
}

/// Runs a command with a time limit, returning its output (killed by PID on timeout).
pub fn run_with_timeout(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    use std::io::Write;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    if let Some(data) = input {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    // Scaled like every test deadline: a busy machine gets more time, never less.
    let limit = eddy_test_support::scaled(limit);
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    }
}

/// The Python interpreter of the test venv (created by scripts/install-test-deps.sh).
pub fn python() -> PathBuf {
    let cache = std::env::var("EDDY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/eddy"));
    let p = cache.join("venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        p.display()
    );
    p
}

/// Runs `broker/tests/clients/<script>` with the venv's python and the bootstrap address.
pub fn run_python(script: &str, bootstrap: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = run_with_timeout(
        Command::new(python()).arg(path).arg(bootstrap).args(args),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{script} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tests/clients/crash_producer.py`: an idempotent acks=all producer streaming the values
/// `0..total` (one key) to a topic and writing each acknowledged value to a file, for the tests
/// that kill brokers under it. Stopped by PID when dropped (a failed test leaves no producer).
pub struct CrashProducer {
    child: Child,
    ackfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl CrashProducer {
    pub fn start(bootstrap: &str, topic: &str, total: usize) -> Self {
        Self::start_with(bootstrap, topic, total, "{}")
    }

    /// With extra librdkafka settings, a JSON object (`{"security.protocol": "SSL", ...}`).
    pub fn start_with(bootstrap: &str, topic: &str, total: usize, client_config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ackfile = dir.path().join("acked.txt");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/crash_producer.py");
        let child = Command::new(python())
            .arg(&script)
            .arg(bootstrap)
            .arg(topic)
            .arg(total.to_string())
            .arg(&ackfile)
            .env("EDDY_CLIENT_CONFIG", client_config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            child,
            ackfile,
            _dir: dir,
        }
    }

    /// How many records are acknowledged so far.
    pub fn acked_count(&self) -> usize {
        std::fs::read_to_string(&self.ackfile)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// Waits (bounded: 60 s) until at least `n` records are acknowledged.
    pub fn wait_acked(&self, n: usize) {
        let what = format!("{n} acknowledged records (producer progress)");
        eventually(
            &what,
            Duration::from_secs(60),
            Duration::from_millis(10),
            || {
                let acked = self.acked_count();
                if acked >= n { Ok(()) } else { Err(acked) }
            },
        )
        .unwrap();
    }

    /// Waits (bounded by `limit`) for the producer to exit: its status and stderr. Panics with
    /// "producer did not finish {after}" on timeout.
    pub fn finish(&mut self, limit: Duration, after: &str) -> (std::process::ExitStatus, String) {
        let what = format!("the producer to finish {after}");
        let status = match eventually(&what, limit, POLL, || self.child.try_wait().unwrap()) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.child.kill();
                panic!("producer did not finish {after}: {e}");
            }
        };
        let mut err = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status, err)
    }

    /// The acknowledged values, in the order they were acknowledged.
    pub fn acked(&self) -> Vec<u64> {
        std::fs::read_to_string(&self.ackfile)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }
}

impl Drop for CrashProducer {
    fn drop(&mut self) {
        // Already reaped on the success path (kill is then a no-op); stops it on a failure.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts every broker, then waits until each is ready: the brokers of a new cluster become ready
/// together, once a quorum of voters runs.
pub fn spawn_all(brokers: &mut [TestBroker]) {
    for b in brokers.iter_mut() {
        b.launch();
    }
    for b in brokers.iter_mut() {
        b.wait_ready();
    }
}
