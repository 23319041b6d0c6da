//! `bench/side_by_side_plot.py` draws the table `bench/side-by-side.sh` prints: one bar per
//! figure and target, and a clear failure for a file without result rows.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

const TABLE: &str = "machine (same run): disk 1025 MB/s, loopback 1413 MB/s
| eddy-rf1-fsync | 374.5 | 785 | 182888 | 23.9 / 46.1 | 4.7 / 9.1 | 1.86 | 0.42 |

| target | produce MB/s (max) | consume MB/s | half-max rate msg/s | publish p99 / p99.9 ms | end-to-end p99 / p99.9 ms | broker CPU-s per GB produced | per GB consumed |
|---|---|---|---|---|---|---|---|
| eddy-rf1-fsync | 374.5 | 785 | 182888 | 23.9 / 46.1 | 4.7 / 9.1 | 1.86 | 0.42 |
| other-rf3 | 186.9 | 516 | 91260 | 1483.8 / 1657.9 | 12.8 / 36.4 | n/a | 0.36 |
";

fn plot(table: &str, dir: &Path) -> (std::process::Output, String) {
    let input = dir.join("table.md");
    let out = dir.join("plot.svg");
    std::fs::write(&input, table).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("side_by_side_plot.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&input)
        .arg(&out)
        .arg("a <title>")
        .output()
        .unwrap();
    (output, std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn the_side_by_side_table_is_drawn_as_one_bar_per_figure_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let (output, svg) = plot(TABLE, dir.path());
    assert!(output.status.success(), "{output:?}");
    // Two targets (the row printed twice counts once) × (2 throughput + 3 latency + 2 CPU).
    assert_eq!(svg.matches("</title></rect>").count(), 14, "{svg}");
    assert!(svg.contains("<title>eddy-rf1-fsync: 374.5 MB/s</title>"));
    assert!(svg.contains("<title>other-rf3: 1483.8 ms</title>"));
    // "n/a" CPU is drawn as 0; the title is escaped.
    assert!(svg.contains("<title>other-rf3: 0 CPU-s/GB</title>"));
    assert!(svg.contains("a &lt;title&gt;"));
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn a_file_without_result_rows_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (output, svg) = plot("no table here\n", dir.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no result rows"));
    assert!(svg.is_empty(), "nothing written");
}
