//! Not a test: the server side of `api/bench/run.sh`. Ignored by default; the script runs it with
//! `--ignored`. Serves the real router on 127.0.0.1 over a fresh SQLite file or a private
//! PostgreSQL server, with the test-only recording backend in place of Kubernetes (so cluster
//! creation measures the API and its database, not an apiserver), for a bounded time.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a harness: failures should abort loudly

mod common;

use common::{Db, TestApp};
use eddy_test_support::eventually_async;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark server, run by api/bench/run.sh"]
async fn serve_for_benchmark() {
    let db = match std::env::var("EDDY_BENCH_DB").as_deref() {
        Ok("postgres") => Db::Postgres,
        _ => Db::Sqlite,
    };
    let secs: u64 = std::env::var("EDDY_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let out = std::env::var("EDDY_BENCH_INFO").expect("EDDY_BENCH_INFO names the file to write");
    let app = TestApp::new(db).await;
    let (token, _, _) = app.signup("bench@example.com").await;
    // A realistic first page: 20 clusters, all active.
    for i in 0..20 {
        app.active_cluster(&token, &format!("seed-{i:02}"), "shared-small")
            .await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::fs::write(&out, format!("{addr}\n{token}\n")).unwrap();
    println!("serving on {addr} for {secs} s");
    let router = eddy_api::build_router(app.state.clone());
    // Stops when the script deletes the info file, or after `secs` at the latest.
    let stop = async move {
        // Each check owns its copy of the path: the future stays Send for axum.
        let deleted = || {
            let out = out.clone();
            async move { !std::path::Path::new(&out).exists() }
        };
        let what = "the info file deleted";
        let poll = Duration::from_millis(100);
        // A timeout here only means `secs` passed: the outer timeout ends the server then.
        let _ = eventually_async(what, Duration::from_secs(secs), poll, deleted).await;
    };
    let serve = axum::serve(listener, router).with_graceful_shutdown(stop);
    let _ = tokio::time::timeout(Duration::from_secs(secs), serve).await;
}
