//! A private PostgreSQL server for one test: Debian's binaries, a data directory copied from a
//! cached `initdb` template, run as the `postgres` OS user on a free port of 127.0.0.1, and stopped
//! by its PID when dropped.

use anyhow::{Context, bail};
use eddy_test_support::eventually;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running private PostgreSQL server.
pub struct PgServer {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed: run scripts/install-test-deps.sh")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    found.sort();
    found.pop().context("no /usr/lib/postgresql/*/bin/postgres")
}

fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .context("no postgres OS user")?;
    let f: Vec<&str> = line.split(':').collect();
    Ok((f[2].parse()?, f[3].parse()?))
}

fn as_postgres(cmd: &mut Command) -> anyhow::Result<&mut Command> {
    let (uid, gid) = postgres_ids()?;
    Ok(cmd.uid(uid).gid(gid))
}

fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    let st = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()?;
    if !st.success() {
        bail!("chown {}", path.display());
    }
    Ok(())
}

/// The cached template cluster in the system temp dir (initdb once; concurrent test processes
/// race safely by rename).
fn template() -> anyhow::Result<PathBuf> {
    // Not under $EDDY_CACHE: that lives in /root, which the postgres user cannot enter.
    let root = std::env::temp_dir().join("eddy-pg-test");
    let tpl = root.join("template");
    if tpl.join("PG_VERSION").exists() {
        return Ok(tpl);
    }
    std::fs::create_dir_all(&root)?;
    let work = tempfile::Builder::new().prefix("tpl-").tempdir_in(&root)?;
    chown_postgres(work.path())?;
    let data = work.path().join("data");
    let out = as_postgres(
        Command::new(bin_dir()?.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ]),
    )?
    .output()
    .context("run initdb")?;
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Another process may have won the race; theirs is as good as ours.
    if std::fs::rename(&data, &tpl).is_err() && !tpl.join("PG_VERSION").exists() {
        bail!("could not install the PostgreSQL template");
    }
    Ok(tpl)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl PgServer {
    /// Starts a server and waits (bounded) until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let tpl = template()?;
        let dir = tempfile::Builder::new().prefix("eddy-pg-").tempdir()?;
        let data = dir.path().join("data");
        let st = Command::new("cp").arg("-a").arg(&tpl).arg(&data).status()?;
        if !st.success() {
            bail!("copy the PostgreSQL template");
        }
        chown_postgres(dir.path())?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        let child = as_postgres(
            Command::new(bin_dir()?.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", dir.path().display()))
                .args([
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ])
                .args(["-c", "shared_buffers=32MB", "-c", "max_connections=50"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log),
        )?
        .spawn()
        .context("start postgres")?;
        let server = Self {
            child,
            _dir: dir,
            port,
        };
        eventually(
            "postgres listening",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || std::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .with_context(|| format!("postgres did not listen on 127.0.0.1:{port}"))?;
        Ok(server)
    }

    /// URL of the server's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// URL of a database on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown"; fall back to SIGKILL after a bounded wait.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let exited = eventually(
            "postgres to shut down",
            Duration::from_secs(10),
            Duration::from_millis(20),
            || self.child.try_wait().ok().flatten(),
        );
        if exited.is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
