//! Eddy operator: the CRD types (always built; shared with the API crate) and, with the
//! `controller` feature, the reconcilers that turn them into running brokers.
pub mod crd;
