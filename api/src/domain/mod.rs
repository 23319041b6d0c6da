//! Pure rules with no I/O: billing maths, plans catalog, roles, the operation state machine,
//! plan features (listeners, users), ACLs and connection details.

pub mod acls;
pub mod alarms;
pub mod billing;
pub mod connection;
pub mod operations;
pub mod plans;
pub mod resize;
pub mod roles;
pub mod security;
pub mod sla;
pub mod topic_configs;
