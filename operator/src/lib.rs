//! Eddy operator: the CRD types (always built; shared with the API crate) and, with the
//! `controller` feature, the reconcilers that turn them into running brokers.
pub mod crd;

#[cfg(feature = "controller")]
pub mod cluster;
#[cfg(feature = "controller")]
pub mod conditions;
#[cfg(feature = "controller")]
pub mod context;
#[cfg(feature = "controller")]
pub mod controllers;
#[cfg(feature = "controller")]
pub mod http;
#[cfg(feature = "controller")]
pub mod kafka_admin;
#[cfg(feature = "controller")]
pub mod leader;
#[cfg(feature = "controller")]
pub mod metrics;
#[cfg(feature = "controller")]
pub mod pki;
#[cfg(feature = "controller")]
pub mod quantity;
#[cfg(feature = "controller")]
pub mod rebalance;
#[cfg(feature = "controller")]
pub mod topic;
#[cfg(feature = "controller")]
pub mod user;
