//! Eddy control-plane API: accounts, plans, clusters as operations, billing.
