//! HTTP routes, one module (and one `router()`) per resource.

pub mod accounts;
pub mod alarms;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod channels;
pub mod cluster_metrics;
pub mod clusters;
pub mod console;
pub mod kafka_users;
pub mod meta;
pub mod plans;
pub mod sla;
pub mod topics;
pub mod validate;
