//! Local Kubernetes node agent: plays scheduler and kubelet, running pods as local processes.
