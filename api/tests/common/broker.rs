//! A real broker process for the sampler and console tests, and kcat against it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The broker binary: `$EDDY_BROKER_BIN`, else `broker` in this test binary's target directory
/// (`cargo build -p eddy-broker --bin broker` puts it there).
pub fn broker_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("EDDY_BROKER_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/metrics-<hash> → target/debug/broker
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("broker");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p eddy-broker --bin broker` first (or set EDDY_BROKER_BIN)",
        bin.display()
    );
    bin
}

/// A free port of `host`, below the ephemeral range (as the broker tests pick theirs): each
/// call walks on from the last, from an offset of this process's pid.
pub fn free_port(host: &str) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % 12_000;
    (0..12_000)
        .map(|_| {
            let k = NEXT.fetch_add(1, Ordering::Relaxed);
            u16::try_from(20_000 + (start + k) % 12_000).unwrap()
        })
        .find(|&port| TcpListener::bind((host, port)).is_ok())
        .unwrap_or_else(|| panic!("a free port on {host}"))
}

/// A broker process, killed by PID when dropped.
pub struct Broker {
    child: Child,
    pub host: String,
    pub port: u16,
    pub admin_port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker on `host` (a loopback address) with a fresh data directory.
    pub fn start(host: &str) -> Self {
        Self::start_with(host, "PLAINTEXT", &[])
    }

    /// Starts a broker whose client listener (`port`) speaks `protocol` (`SASL_SSL`...), with
    /// `args` added to its command line (`--set ssl.keystore.location=...`, `--add-scram ...`).
    /// A secured broker also gets a PLAINTEXT listener on another port, first, as its
    /// inter-broker listener (the broker refuses Kafka's default GSSAPI between brokers).
    pub fn start_with(host: &str, protocol: &str, args: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port(host);
        let listeners = if protocol == "PLAINTEXT" {
            format!("PLAINTEXT://{host}:{port}")
        } else {
            format!(
                "PLAINTEXT://{host}:{},{protocol}://{host}:{port}",
                free_port(host)
            )
        };
        let admin_port = free_port(host);
        let log = std::fs::File::create(dir.path().join("broker.log")).unwrap();
        let child = Command::new(broker_bin())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listeners")
            .arg(listeners)
            .arg("--admin-addr")
            .arg(format!("{host}:{admin_port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the broker");
        Self {
            child,
            host: host.to_string(),
            port,
            admin_port,
            _dir: dir,
        }
    }

    /// The broker's own directory (for certificate files the test writes).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where kcat connects, and the log to show when it fails.
pub trait KcatTarget {
    fn bootstrap(&self) -> String;
    fn log(&self) -> String;
}

impl KcatTarget for Broker {
    fn bootstrap(&self) -> String {
        Broker::bootstrap(self)
    }
    fn log(&self) -> String {
        Broker::log(self)
    }
}

/// A broker's address and log file, for threads that outlive a borrow of the [`Broker`].
#[derive(Debug, Clone)]
pub struct BrokerHandle {
    bootstrap: String,
    log: PathBuf,
}

impl KcatTarget for BrokerHandle {
    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Broker {
    /// A handle to pass to another thread.
    pub fn handle(&self) -> BrokerHandle {
        BrokerHandle {
            bootstrap: self.bootstrap(),
            log: self._dir.path().join("broker.log"),
        }
    }
}

/// Runs kcat with `args` on `input`, within a deadline; kills it by PID if it overruns.
pub fn kcat(b: &impl KcatTarget, args: &[&str], input: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("kcat")
        .arg("-b")
        .arg(b.bootstrap())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcat (Debian's kcat package)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let exited = eddy_test_support::eventually(
        "kcat exits",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || child.try_wait().unwrap(),
    );
    if exited.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        exited.is_ok_and(|s| s.success()),
        "kcat {args:?}: {}\nbroker log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
