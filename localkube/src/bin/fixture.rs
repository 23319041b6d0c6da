//! `localkube-fixture`: a tiny pod program for the agent's tests (HTTP health endpoints, crash,
//! readiness switch, persistent boot counter, graceful SIGTERM).
//!
//! Serves HTTP on `$POD_IP:8080` (or `--listen`): `/healthz` always 200, `/readyz` 200 unless
//! `--never-ready` or the file named by `--unready-if-exists` exists, `/env/NAME` the value of an
//! environment variable, `/file?path=P` a file's content, `/boots` the boot counter.
//! `--data-dir D` increments `D/boots` at start; `--crash-after-ms N` exits 3 after N ms.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

#[allow(clippy::print_stdout)]
fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let has = |name: &str| args.iter().any(|a| a == name);
    let ip = std::env::var("POD_IP").unwrap_or_else(|_| "127.0.0.1".into());
    let listen = flag("--listen").unwrap_or_else(|| format!("{ip}:8080"));
    let never_ready = has("--never-ready");
    let unready_file = flag("--unready-if-exists").map(PathBuf::from);
    let mut boots = 0u64;
    if let Some(dir) = flag("--data-dir") {
        let file = PathBuf::from(&dir).join("boots");
        std::fs::create_dir_all(&dir)?;
        boots = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
            + 1;
        std::fs::write(&file, boots.to_string())?;
    }
    if let Some(ms) = flag("--crash-after-ms").and_then(|s| s.parse().ok()) {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            println!("fixture: crashing on purpose");
            std::process::exit(3);
        });
    }
    let listener = TcpListener::bind(&listen)?;
    println!("fixture: listening on {listen}, boot {boots}");
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut line = String::new();
        let _ = BufReader::new(&s).read_line(&mut line);
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (code, body) = match path.as_str() {
            "/healthz" => (200, "ok".to_owned()),
            "/readyz" => {
                let unready = never_ready || unready_file.as_ref().is_some_and(|f| f.exists());
                if unready {
                    (503, "not ready".to_owned())
                } else {
                    (200, "ready".to_owned())
                }
            }
            "/boots" => (200, boots.to_string()),
            p if p.starts_with("/env/") => (200, std::env::var(&p[5..]).unwrap_or_default()),
            p if p.starts_with("/file?path=") => match std::fs::read_to_string(&p[11..]) {
                Ok(c) => (200, c),
                Err(e) => (404, e.to_string()),
            },
            _ => (404, "not found".to_owned()),
        };
        let _ = write!(
            s,
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    Ok(())
}
