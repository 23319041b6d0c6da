//! Pure rules with no I/O: billing maths, plans catalog, roles, the operation state machine.

pub mod billing;
pub mod operations;
pub mod plans;
pub mod roles;
