//! The web console in a real browser: Debian's Chromium, headless, driven by `puppeteer-core`
//! (`api/console/tests/browser.mjs`) against the real router and SQLite, served on loopback. A
//! stand-in operator reports every KafkaCluster the API writes Ready with the address of a real
//! broker started here; the API's own sampler scrapes that broker while kcat produces, so the
//! plots draw real points and a consumer group's lag. Screenshots of the main pages land in
//! `$EDDY_CONSOLE_SCREENSHOTS` (default: a `console-screenshots` directory in the system temp
//! dir).
//!
//! Needs `scripts/install-test-deps.sh` (apt `chromium`, `npm ci` in `api/console`): a missing
//! browser or driver fails the test with that instruction, it never skips.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "support/browser.rs"]
mod browser;
mod common;

use browser::{chromium, run_browser_script};
use common::broker::{Broker, kcat};
use eddy_api::samples::{Sampler, SamplerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Loopback address of this test's broker and API server.
const HOST: &str = "127.0.0.27";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium() {
    let browser = chromium();
    browser::require_node_modules();
    let broker = Broker::start(HOST);
    let app = common::TestApp::new(common::Db::Sqlite).await;
    let listener = tokio::net::TcpListener::bind((HOST, 0)).await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(
        axum::serve(listener, eddy_api::build_router(app.state.clone())).into_future(),
    );

    // The stand-in operator: every KafkaCluster written is reconciled, Ready, at the broker's
    // address; the status sync runs as the API's own loop would.
    let stop = Arc::new(AtomicBool::new(false));
    let operator = {
        let (backend, state, stop, bootstrap) = (
            app.backend.clone(),
            app.state.clone(),
            stop.clone(),
            broker.bootstrap(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let names: Vec<String> = backend
                    .objects
                    .lock()
                    .unwrap()
                    .values()
                    .map(|(d, _)| d.name.clone())
                    .collect();
                for name in names {
                    backend.report_bootstrap(&name, true, &bootstrap);
                }
                let _ = eddy_api::ops::sync_once(&state).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let sampler = tokio::spawn(
        Sampler::new(SamplerConfig {
            admin_port: broker.admin_port,
            scrape_timeout: Duration::from_secs(2),
            ..SamplerConfig::default()
        })
        .run(app.state.clone(), Duration::from_secs(2)),
    );

    // The delivery worker, as the binary runs it: the page's test notification goes to the API's
    // own loopback address, which the default policy refuses, and the delivery log shows why.
    let deliveries = tokio::spawn(eddy_api::alerting::delivery::run(app.state.clone()));

    // Traffic: a group reads what is there and commits; a producer keeps writing, so the
    // throughput plot has points above zero and the group falls behind.
    let records: String = (0..200)
        .map(|i| format!("record-{i:04}-{}\n", "x".repeat(200)))
        .collect();
    let seed = tokio::task::spawn_blocking({
        let broker_ref = broker.handle();
        move || {
            kcat(
                &broker_ref,
                &["-P", "-t", "orders", "-p", "0"],
                records.as_bytes(),
            );
            kcat(
                &broker_ref,
                &[
                    "-G",
                    "billing",
                    "-X",
                    "auto.offset.reset=earliest",
                    "-e",
                    "-f",
                    "%s\n",
                    "orders",
                ],
                b"",
            );
        }
    });
    seed.await.unwrap();
    let producer = {
        let stop = stop.clone();
        let broker_ref = broker.handle();
        std::thread::spawn(move || {
            // At most 10 minutes of traffic; the test stops it sooner.
            for i in 0..600 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let batch: String = (0..50)
                    .map(|j| format!("live-{i}-{j}-{}\n", "y".repeat(300)))
                    .collect();
                kcat(
                    &broker_ref,
                    &["-P", "-t", "orders", "-p", "0"],
                    batch.as_bytes(),
                );
                std::thread::sleep(Duration::from_millis(700));
            }
        })
    };

    let shots = std::env::var_os("EDDY_CONSOLE_SCREENSHOTS").map_or_else(
        || std::env::temp_dir().join("console-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&shots).unwrap();
    let run = tokio::task::spawn_blocking({
        let url = url.clone();
        let shots = shots.clone();
        move || run_browser_script(&url, &browser, &shots, &[])
    })
    .await
    .unwrap();

    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    operator.await.unwrap();
    sampler.abort();
    deliveries.abort();
    server.abort();
    let (ok, out, err) = run;
    assert!(
        ok,
        "the browser script failed\n--- stdout\n{out}\n--- stderr\n{err}\n--- broker log\n{}",
        broker.log()
    );
    assert!(out.contains("console checks passed"), "{out}\n{err}");
    // The script's log (its checks, first-load size and time) for `--no-capture` runs.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{out}");
    }
    for shot in [
        "clusters.png",
        "cluster.png",
        "create.png",
        "cluster-phone.png",
        "alarms.png",
    ] {
        let meta = std::fs::metadata(shots.join(shot)).unwrap();
        assert!(meta.len() > 5_000, "{shot} is {} bytes", meta.len());
    }
}
