//! Local Kubernetes node agent: plays scheduler, kubelet and volume provisioner for a real
//! kube-apiserver, running each pod's containers as local processes (see README.md).

pub mod agent;
pub mod backoff;
pub mod env;
pub mod expand;
pub mod hosts;
pub mod image_map;
pub mod ipam;
pub mod launch;
pub mod logs;
pub mod mount_exec;
pub mod node;
pub mod node_port;
pub mod pod_worker;
pub mod probe;
pub mod probe_tls;
pub mod process;
pub mod provisioner;
pub mod scheduler;
pub mod status;
pub mod volumes;
