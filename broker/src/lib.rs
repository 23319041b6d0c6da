//! Eddy broker: a Kafka-wire-compatible broker (see ARCHITECTURE.md §2).
