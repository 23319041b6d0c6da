//! A broker process the bench starts for a run: the real `broker` binary on loopback ports with
//! a temporary data directory, waited on until /readyz answers, stopped by PID (SIGTERM, then
//! SIGKILL) when the run ends or the guard is dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Errors of running the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerProcError {
    #[error("finding a free loopback port: {0}")]
    Port(std::io::Error),
    #[error("creating the broker's data directory: {0}")]
    DataDir(std::io::Error),
    #[error("spawning broker {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("broker exited during start ({status}); see {log}")]
    Exited { status: String, log: String },
    #[error("broker not ready within {0:?}; see {1}")]
    NotReady(Duration, String),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, BrokerProcError>;

/// A running broker process, killed by PID on drop.
pub struct BrokerProcess {
    child: Option<Child>,
    pub port: u16,
    pub admin_port: u16,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(BrokerProcError::Port)?;
    Ok(l.local_addr().map_err(BrokerProcError::Port)?.port())
}

impl BrokerProcess {
    /// Starts `bin` with `settings` (`key=value`) in a fresh temporary directory under `parent`
    /// (the system temp dir when `None`), and waits until it is ready.
    pub fn start(bin: &Path, settings: &[String], parent: Option<&Path>) -> Result<Self> {
        let tmp = match parent {
            Some(p) => tempfile::Builder::new().prefix("eddy-bench-").tempdir_in(p),
            None => tempfile::Builder::new().prefix("eddy-bench-").tempdir(),
        }
        .map_err(BrokerProcError::DataDir)?;
        let data_dir = tmp.path().join("data");
        let log_path = tmp.path().join("broker.log");
        let port = free_port()?;
        let admin_port = free_port()?;
        let log = std::fs::File::create(&log_path).map_err(BrokerProcError::DataDir)?;
        let mut cmd = Command::new(bin);
        cmd.arg("--data-dir")
            .arg(&data_dir)
            .arg("--listeners")
            .arg(format!("PLAINTEXT://127.0.0.1:{port}"))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{admin_port}"))
            .env(
                "RUST_LOG",
                std::env::var("BENCH_BROKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for s in settings {
            cmd.arg("--set").arg(s);
        }
        let child = cmd.spawn().map_err(|source| BrokerProcError::Spawn {
            bin: bin.display().to_string(),
            source,
        })?;
        let mut b = BrokerProcess {
            child: Some(child),
            port,
            admin_port,
            data_dir,
            log_path,
            _tmp: Some(tmp),
        };
        b.wait_ready(Duration::from_secs(60))?;
        Ok(b)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let log = self.log_path.display().to_string();
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(BrokerProcError::Exited {
                    status: status.to_string(),
                    log,
                });
            }
            if http_status(self.admin_port, "/readyz") == Some(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(BrokerProcError::NotReady(limit, log))
    }

    /// SIGTERM, wait up to 20 s, then SIGKILL; true when it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The status code of a minimal HTTP/1.0 GET on loopback.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

/// The broker binary next to the running executable (cargo puts `bench` and `broker` in the
/// same target directory), if it exists.
pub fn sibling_broker_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Test executables live in target/<profile>/deps.
    [dir.join("broker"), dir.parent()?.join("broker")]
        .into_iter()
        .find(|p| p.is_file())
}
