//! Eddy operator: CRD types and kube-rs controllers for KafkaCluster, KafkaTopic, KafkaUser.
