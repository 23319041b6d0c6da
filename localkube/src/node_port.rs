//! NodePort proxy: plays kube-proxy's old userspace mode for a machine without kube-proxy.
//!
//! Every port of every Service that has a `nodePort` (type NodePort or LoadBalancer) gets a
//! listener on `127.0.0.1:<nodePort>` (the Node address this agent registers); each accepted
//! connection goes to one ready endpoint of the Service port (round-robin), copied both ways
//! until either side closes. A Service port without a ready endpoint has its connections closed
//! at once (kube-proxy rejects them). Listeners whose Service or port is gone are closed.
//! Services and Endpoints are re-read every second: a bounded poll, never a busy loop.
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::ListParams;
use kube::{Api, Client};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{RwLock, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// How often Services and Endpoints are re-read.
const RESYNC: Duration = Duration::from_secs(1);
/// Connections proxied at once, over every node port (more wait for a free slot).
const MAX_CONNECTIONS: usize = 512;
/// How long connecting to an endpoint may take before the client's connection is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Ready endpoints (`ip:port`) of each node port, by node port: the pure mapping from Services
/// and Endpoints. The endpoint port is the one named like the Service port (Endpoints carry
/// the resolved target port under the Service port's name; a single-port Service's is unnamed).
#[must_use]
pub fn backends(services: &[Service], endpoints: &[Endpoints]) -> BTreeMap<u16, Vec<SocketAddr>> {
    let by_name: HashMap<(Option<&str>, Option<&str>), &Endpoints> = endpoints
        .iter()
        .map(|e| {
            (
                (e.metadata.namespace.as_deref(), e.metadata.name.as_deref()),
                e,
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    for svc in services {
        let Some(ports) = svc.spec.as_ref().and_then(|s| s.ports.as_ref()) else {
            continue;
        };
        let eps = by_name.get(&(
            svc.metadata.namespace.as_deref(),
            svc.metadata.name.as_deref(),
        ));
        for p in ports {
            let Some(node_port) = p.node_port.and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            let mut addrs = Vec::new();
            for subset in eps.and_then(|e| e.subsets.as_ref()).into_iter().flatten() {
                let port = subset
                    .ports
                    .iter()
                    .flatten()
                    .find(|ep| ep.name.as_deref().unwrap_or("") == p.name.as_deref().unwrap_or(""))
                    .and_then(|ep| u16::try_from(ep.port).ok());
                let Some(port) = port else { continue };
                for a in subset.addresses.iter().flatten() {
                    if let Ok(ip) = a.ip.parse::<std::net::IpAddr>() {
                        addrs.push(SocketAddr::new(ip, port));
                    }
                }
            }
            addrs.sort_unstable();
            out.insert(node_port, addrs);
        }
    }
    out
}

/// One open node port: its current endpoints and the accept loop.
struct Proxy {
    endpoints: Arc<RwLock<Vec<SocketAddr>>>,
    accept: JoinHandle<()>,
}

/// Keeps a listener on `host:<nodePort>` for every node port of the cluster until the agent
/// stops (the task is aborted with the agent's other tasks, which closes every listener).
pub async fn run(client: Client, host: Ipv4Addr) {
    let services: Api<Service> = Api::all(client.clone());
    let endpoints: Api<Endpoints> = Api::all(client);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut open: BTreeMap<u16, Proxy> = BTreeMap::new();
    let mut tick = tokio::time::interval(RESYNC);
    loop {
        tick.tick().await;
        let lp = ListParams::default();
        let (svcs, eps) = match tokio::try_join!(services.list(&lp), endpoints.list(&lp)) {
            Ok((s, e)) => (s.items, e.items),
            Err(e) => {
                warn!(error = %e, "node ports: listing services/endpoints");
                continue;
            }
        };
        let wanted = backends(&svcs, &eps);
        open.retain(|port, proxy| {
            let keep = wanted.contains_key(port);
            if !keep {
                proxy.accept.abort();
                info!(node_port = port, "node port closed: its service is gone");
            }
            keep
        });
        for (port, addrs) in wanted {
            if let Some(proxy) = open.get(&port) {
                *proxy.endpoints.write().await = addrs;
                continue;
            }
            let listener = match TcpListener::bind((host, port)).await {
                Ok(l) => l,
                Err(e) => {
                    warn!(node_port = port, error = %e, "node port: cannot listen");
                    continue;
                }
            };
            info!(node_port = port, endpoints = addrs.len(), "node port open");
            let endpoints = Arc::new(RwLock::new(addrs));
            let accept = tokio::spawn(accept_loop(listener, endpoints.clone(), limit.clone()));
            open.insert(port, Proxy { endpoints, accept });
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    endpoints: Arc<RwLock<Vec<SocketAddr>>>,
    limit: Arc<Semaphore>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let client = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                warn!(error = %e, "node port: accept");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let target = {
            let eps = endpoints.read().await;
            (!eps.is_empty()).then(|| eps[next.fetch_add(1, Ordering::Relaxed) % eps.len()])
        };
        // No ready endpoint: dropping the connection closes it, as kube-proxy rejects it.
        let Some(target) = target else { continue };
        tokio::spawn(async move {
            let _permit = permit;
            forward(client, target).await;
        });
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr) {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(mut upstream)) => {
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        Ok(Err(e)) => warn!(%target, error = %e, "node port: endpoint refused"),
        Err(_) => warn!(%target, "node port: endpoint did not answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"type": "NodePort", "ports": ports}
        }))
        .expect("service")
    }

    fn eps(ns: &str, name: &str, subsets: serde_json::Value) -> Endpoints {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "subsets": subsets
        }))
        .expect("endpoints")
    }

    #[test]
    fn each_node_port_maps_to_the_ready_addresses_of_its_named_port() {
        let services = [
            svc(
                "a",
                "kafka",
                serde_json::json!([
                    {"name": "ext", "port": 9094, "nodePort": 30001},
                    {"name": "tls", "port": 9093, "nodePort": 30002},
                    {"name": "internal", "port": 9092}
                ]),
            ),
            svc(
                "b",
                "kafka",
                serde_json::json!([{"port": 80, "nodePort": 30003}]),
            ),
        ];
        let endpoints = [
            eps(
                "a",
                "kafka",
                serde_json::json!([{
                    "addresses": [{"ip": "127.20.0.3"}, {"ip": "127.20.0.2"}],
                    "notReadyAddresses": [{"ip": "127.20.0.9"}],
                    "ports": [{"name": "ext", "port": 9094}, {"name": "tls", "port": 19093}]
                }]),
            ),
            // Same name, other namespace: must not be mixed up.
            eps(
                "b",
                "other",
                serde_json::json!([{"addresses": [{"ip": "127.20.0.7"}], "ports": [{"port": 8080}]}]),
            ),
        ];
        let got = backends(&services, &endpoints);
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(
            got.get(&30001),
            Some(&vec![a("127.20.0.2:9094"), a("127.20.0.3:9094")])
        );
        assert_eq!(
            got.get(&30002),
            Some(&vec![a("127.20.0.2:19093"), a("127.20.0.3:19093")])
        );
        // A node port whose Service has no Endpoints still listens (and closes connections).
        assert_eq!(got.get(&30003), Some(&vec![]));
        assert_eq!(got.len(), 3, "a port without nodePort is not opened");
    }
}
