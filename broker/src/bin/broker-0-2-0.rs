//! The `broker-0-2-0` binary: release 0.2.0 (`eddy.version` 1 to 2), the same library as
//! `broker` with another identity, so a second release costs one small link, not a second
//! compile. Level 2, once finalized, adds DescribeCluster v2 (fenced brokers).

fn main() -> anyhow::Result<()> {
    eddy_broker::entry::main(eddy_broker::features::V0_2_0)
}
