//! Eddy's benchmark harness: OpenMessaging-style workloads driven through librdkafka, open-loop
//! latency in HDR histograms, the broker's CPU and memory, the machine's own limits, and results
//! as JSON, Markdown and SVG. The `bench` binary wires these modules together.

pub mod broker_proc;
pub mod driver;
pub mod machine;
pub mod plot;
pub mod procstat;
pub mod report;
pub mod schedule;
pub mod security;
pub mod stats;
pub mod workload;
