//! The `broker` binary: release 0.1.0 (`eddy.version` 1). The process itself is
//! `eddy_broker::entry`, shared with the 0.2.0 binary.

fn main() -> anyhow::Result<()> {
    eddy_broker::entry::main(eddy_broker::features::V0_1_0)
}
