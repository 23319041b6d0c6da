//! Running the console's browser script (`api/console/tests/browser.mjs`) in Debian's headless
//! Chromium, for `tests/console.rs` and the local-Kubernetes test in `tests/provisioning.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Chromium: `$EDDY_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("EDDY_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh (apt package chromium)",
        path.display()
    );
    path
}

/// Fails with the install command when the driver is missing; never skips.
pub fn require_node_modules() {
    assert!(
        console_dir().join("node_modules/puppeteer-core").is_dir(),
        "api/console/node_modules is missing: run scripts/install-test-deps.sh (npm ci in api/console)"
    );
}

/// Runs `node tests/browser.mjs` in `api/console` with a deadline (a hang guard: the script has
/// its own); kills it by PID if it overruns. Returns (success, stdout, stderr).
pub fn run_browser_script(
    url: &str,
    browser: &Path,
    shots: &Path,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let dir = console_dir();
    let mut child = Command::new("node")
        .arg(dir.join("tests/browser.mjs"))
        .current_dir(&dir)
        .env("EDDY_CONSOLE_URL", url)
        .env("EDDY_CHROMIUM", browser)
        .env("EDDY_CONSOLE_SCREENSHOTS", shots)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node (Debian's nodejs)");
    let exited = eddy_test_support::eventually(
        "the browser script exits",
        Duration::from_secs(600),
        Duration::from_millis(200),
        || child.try_wait().unwrap(),
    );
    if exited.is_err() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    (
        exited.is_ok_and(|s| s.success()),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
