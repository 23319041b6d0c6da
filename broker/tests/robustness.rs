#![allow(clippy::unwrap_used)] // integration-test helpers: a failed step should abort the test
//! Bad input and hostile conditions: malformed frames close only their own connection; an
//! unsupported ApiVersions version gets the KIP-511 fallback; a full disk fails produce with a
//! Kafka error while reads keep working and acknowledged data stays intact.

mod common;
use common::{TestBroker, http_get, run_with_timeout};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

fn kcat(b: &TestBroker, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
    run_with_timeout(
        Command::new("kcat").arg("-b").arg(b.bootstrap()).args(args),
        input,
        Duration::from_secs(60),
    )
}

fn connect(b: &TestBroker) -> TcpStream {
    let s = TcpStream::connect(b.bootstrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn expect_closed(mut s: TcpStream) {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the broker to close the connection, got {other:?}"),
    }
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let b = TestBroker::start(&[]);
    assert!(
        kcat(&b, &["-P", "-t", "ok"], Some(b"before\n"))
            .status
            .success()
    );
    let healthy = connect(&b);
    let cases: Vec<Vec<u8>> = vec![
        vec![0xff, 0xff, 0xff, 0xff],                   // negative length
        vec![0x7f, 0xff, 0xff, 0xff],                   // absurd length
        vec![0, 0, 0, 2, 0, 0],                         // frame shorter than a header
        vec![0, 0, 0, 8, 0x7f, 0x00, 0, 0, 0, 0, 0, 1], // unknown api key 32512
        vec![0, 0, 0, 10, 0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0x7f], // Metadata v12 with a garbage body
        // Metadata v1 claiming 2^31-1 topics: used to make the codec reserve ~80 GB and abort.
        vec![
            0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
        ],
    ];
    for frame in cases {
        let mut s = connect(&b);
        s.write_all(&frame).unwrap();
        expect_closed(s);
    }
    drop(healthy);
    // The broker and other clients are unaffected.
    let out = kcat(&b, &["-C", "-t", "ok", "-e", "-f", "%s\n"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    assert!(
        b.log().contains("closing connection"),
        "the reason is logged"
    );
}

#[test]
fn unsupported_api_versions_version_gets_the_v0_fallback() {
    let b = TestBroker::start(&[]);
    let mut s = connect(&b);
    // ApiVersions v99, correlation id 7, client id "t", empty body.
    let body = [0u8, 18, 0, 99, 0, 0, 0, 7, 0, 1, b't'];
    s.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    assert_eq!(&resp[0..4], &7i32.to_be_bytes(), "correlation id echoed");
    assert_eq!(&resp[4..6], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    assert!(resp.len() > 10, "the supported ranges are listed");
}

#[test]
fn admin_endpoints_report_state_and_metrics() {
    let b = TestBroker::start(&[]);
    assert!(
        kcat(&b, &["-P", "-t", "m"], Some(b"x\ny\n"))
            .status
            .success()
    );
    let (code, body) = http_get(b.admin_port, "/v1/broker/state").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("\"state\":\"running\""), "{body}");
    let (code, metrics) = http_get(b.admin_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    for needle in [
        "eddy_messages_in_total 2",
        "eddy_requests_total{api=\"Produce\"}",
        "eddy_connections",
        "eddy_log_size_bytes",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in:\n{metrics}");
    }
    assert_eq!(http_get(b.admin_port, "/healthz").unwrap().0, 200);
}

#[test]
fn restart_probes_answer_with_verdicts_for_a_single_node() {
    let b = TestBroker::start(&[]);
    assert!(
        kcat(&b, &["-P", "-t", "probed"], Some(b"x\n"))
            .status
            .success()
    );
    let (code, body) = http_get(b.admin_port, "/v1/broker/pre-restart-probe").unwrap();
    assert_eq!(code, 200);
    let pre: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pre["safe"], true, "{body}");
    assert_eq!(pre["state"], "running", "{body}");
    assert_eq!(pre["partitions"], serde_json::json!([]), "{body}");
    let (code, body) = http_get(b.admin_port, "/v1/broker/post-restart-probe").unwrap();
    assert_eq!(code, 200);
    let post: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(post["caught_up"], true, "{body}");
    assert_eq!(post["out_of_isr"], serde_json::json!([]), "{body}");
}

/// Mounts a tiny tmpfs as the data directory (root only: the machine and CI run as root).
#[test]
fn disk_full_fails_produce_but_keeps_serving_reads() {
    let mount = tempfile::tempdir().unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mount.path())
        .status()
        .unwrap();
    assert!(status.success(), "mounting a tmpfs needs root");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mount.path().to_path_buf());
    let mut b = TestBroker::start(&[]);
    b.kill9();
    b.data_dir = mount.path().join("data");
    b.spawn();
    assert!(
        kcat(&b, &["-P", "-t", "full"], Some(b"first\n"))
            .status
            .success()
    );
    // Fill the disk: big records until produce fails.
    let big = format!("{}\n", "z".repeat(200_000));
    let mut failed = false;
    for _ in 0..40 {
        let out = kcat(
            &b,
            &[
                "-P",
                "-t",
                "full",
                "-X",
                "message.timeout.ms=3000",
                "-X",
                "message.max.bytes=1000000",
            ],
            Some(big.as_bytes()),
        );
        if !out.status.success() || String::from_utf8_lossy(&out.stderr).contains("Failed") {
            failed = true;
            break;
        }
    }
    assert!(failed, "produce must fail once the disk is full");
    assert!(
        b.log().contains("append failed"),
        "the storage error is logged"
    );
    // Reads still work and the first record is intact.
    let out = kcat(
        &b,
        &["-C", "-t", "full", "-e", "-c", "1", "-f", "%s\n"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
    assert_eq!(
        http_get(b.admin_port, "/healthz").unwrap().0,
        200,
        "the broker stays up"
    );
}
