//! Pod DNS the kubelet way: a per-pod `/etc/hosts` the agent keeps current.
//!
//! There is no cluster DNS here, so the names a real cluster's DNS serves for pods with
//! `spec.hostname` + `spec.subdomain` (what the StatefulSet controller sets) go into every pod's
//! hosts file instead: `<hostname>.<subdomain>.<ns>.svc.cluster.local`, `<hostname>.<subdomain>.<ns>.svc`
//! and, for pods of the same namespace (the search path of a real pod), `<hostname>.<subdomain>`.
//! The file is bind-mounted over `/etc/hosts` in the container's mount namespace; glibc reads it
//! on every lookup, so a pod that comes, goes or changes IP is seen at once. A bind mount pins the
//! inode, so updates rewrite the file in place (never rename over it).

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing::warn;

/// Cluster domain of the names (`svc.cluster.local`), as in a default cluster.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// What the hosts files need to know about one running pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRecord {
    pub namespace: String,
    /// `spec.hostname`, else the pod name.
    pub hostname: String,
    /// `spec.subdomain`; only pods with one (and an explicit hostname) are published to others.
    pub subdomain: Option<String>,
    /// Whether `spec.hostname` was set: Kubernetes DNS publishes a pod record only then.
    pub explicit_hostname: bool,
    pub ip: Ipv4Addr,
    /// `spec.hostAliases`: extra `(ip, names)` lines of this pod's own file.
    pub aliases: Vec<(String, Vec<String>)>,
}

impl PodRecord {
    /// Builds the record of `pod` running at `ip`.
    #[must_use]
    pub fn of(pod: &k8s_openapi::api::core::v1::Pod, ip: Ipv4Addr) -> Self {
        let spec = pod.spec.as_ref();
        let explicit = spec
            .and_then(|s| s.hostname.clone())
            .filter(|h| !h.is_empty());
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            hostname: explicit
                .clone()
                .or_else(|| pod.metadata.name.clone())
                .unwrap_or_default(),
            subdomain: spec
                .and_then(|s| s.subdomain.clone())
                .filter(|s| !s.is_empty()),
            explicit_hostname: explicit.is_some(),
            ip,
            aliases: spec
                .and_then(|s| s.host_aliases.clone())
                .into_iter()
                .flatten()
                .map(|a| (a.ip, a.hostnames.unwrap_or_default()))
                .filter(|(ip, names)| !ip.is_empty() && !names.is_empty())
                .collect(),
        }
    }

    /// The fully qualified names under which other pods find this one, if it is published.
    fn published_names(&self, for_namespace: &str) -> Option<Vec<String>> {
        let sub = self.subdomain.as_ref().filter(|_| self.explicit_hostname)?;
        let (h, ns) = (&self.hostname, &self.namespace);
        let mut names = vec![
            format!("{h}.{sub}.{ns}.svc.{CLUSTER_DOMAIN}"),
            format!("{h}.{sub}.{ns}.svc"),
        ];
        if ns == for_namespace {
            names.push(format!("{h}.{sub}"));
        }
        Some(names)
    }
}

/// Renders the hosts file of `own` given every running pod of the environment (`own` may be
/// among them). Pure; lines are ordered so the same inputs give the same bytes.
#[must_use]
pub fn render(own: &PodRecord, all: &[PodRecord]) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file (localkube node agent).\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    // The pod's own line, as the kubelet writes it: FQDN first when it has a subdomain.
    // The search path of a real pod also finds `<hostname>.<subdomain>` and `...svc` for itself.
    let mut own_names = Vec::new();
    if let Some(sub) = &own.subdomain {
        let (h, ns) = (&own.hostname, &own.namespace);
        own_names.push(format!("{h}.{sub}.{ns}.svc.{CLUSTER_DOMAIN}"));
        own_names.push(format!("{h}.{sub}.{ns}.svc"));
        own_names.push(format!("{h}.{sub}"));
    }
    own_names.push(own.hostname.clone());
    out.push_str(&format!("{}\t{}\n", own.ip, own_names.join("\t")));
    let mut others: Vec<(Ipv4Addr, Vec<String>)> = all
        .iter()
        .filter(|p| !(p.namespace == own.namespace && p.hostname == own.hostname && p.ip == own.ip))
        .filter_map(|p| Some((p.ip, p.published_names(&own.namespace)?)))
        .collect();
    others.sort();
    others.dedup();
    if !others.is_empty() || !own.aliases.is_empty() {
        out.push_str("\n# Pods with hostname and subdomain (cluster DNS).\n");
    }
    for (ip, names) in others {
        out.push_str(&format!("{ip}\t{}\n", names.join("\t")));
    }
    if !own.aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for (ip, names) in &own.aliases {
            out.push_str(&format!("{ip}\t{}\n", names.join("\t")));
        }
    }
    out
}

/// Replaces the contents of `path` keeping its inode (bind mounts of it stay attached).
/// Writes nothing when the contents are already `contents`.
pub fn write_in_place(path: &Path, contents: &str) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(contents.as_bytes())?;
    f.set_len(contents.len() as u64)?;
    f.flush()
}

struct Entry {
    record: PodRecord,
    file: PathBuf,
}

/// Every running pod of the agent and its hosts file; any change rewrites all files.
#[derive(Default)]
pub struct Registry {
    pods: Mutex<BTreeMap<String, Entry>>,
}

impl Registry {
    /// Adds (or replaces) the pod `uid`, whose hosts file is `file`, and rewrites every file.
    pub fn add(&self, uid: &str, record: PodRecord, file: PathBuf) {
        if let Ok(mut pods) = self.pods.lock() {
            pods.insert(uid.to_owned(), Entry { record, file });
            Self::rewrite(&pods);
        }
    }

    /// Removes the pod `uid` and rewrites the others' files.
    pub fn remove(&self, uid: &str) {
        if let Ok(mut pods) = self.pods.lock()
            && pods.remove(uid).is_some()
        {
            Self::rewrite(&pods);
        }
    }

    fn rewrite(pods: &BTreeMap<String, Entry>) {
        let all: Vec<PodRecord> = pods.values().map(|e| e.record.clone()).collect();
        for e in pods.values() {
            if let Some(dir) = e.file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(err) = write_in_place(&e.file, &render(&e.record, &all)) {
                warn!(file = %e.file.display(), error = %err, "writing pod hosts file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ns: &str, host: &str, sub: Option<&str>, explicit: bool, ip: [u8; 4]) -> PodRecord {
        PodRecord {
            namespace: ns.into(),
            hostname: host.into(),
            subdomain: sub.map(Into::into),
            explicit_hostname: explicit,
            ip: ip.into(),
            aliases: vec![],
        }
    }

    #[test]
    fn statefulset_peers_resolve_by_fqdn_and_short_name_in_their_namespace() {
        let web0 = rec("default", "web-0", Some("web"), true, [127, 21, 0, 1]);
        let web1 = rec("default", "web-1", Some("web"), true, [127, 21, 0, 2]);
        let other = rec("kafka", "k-0", Some("k"), true, [127, 21, 0, 3]);
        let plain = rec("default", "plain-abc", None, false, [127, 21, 0, 4]);
        let all = [web0.clone(), web1.clone(), other, plain];
        let hosts = render(&web0, &all);
        assert!(hosts.contains("127.0.0.1\tlocalhost\n"));
        assert!(hosts.contains(
            "127.21.0.1\tweb-0.web.default.svc.cluster.local\tweb-0.web.default.svc\tweb-0.web\tweb-0\n"
        ));
        assert_eq!(hosts.matches("127.21.0.1").count(), 1, "own line once");
        assert!(hosts.contains(
            "127.21.0.2\tweb-1.web.default.svc.cluster.local\tweb-1.web.default.svc\tweb-1.web\n"
        ));
        // Another namespace: fully qualified names only (no search path reaches them).
        assert!(hosts.contains("127.21.0.3\tk-0.k.kafka.svc.cluster.local\tk-0.k.kafka.svc\n"));
        // A pod without hostname+subdomain is not in cluster DNS.
        assert!(!hosts.contains("127.21.0.4"));
        // Its own file still names itself.
        assert!(render(&all[3], &all).contains("127.21.0.4\tplain-abc\n"));
    }

    #[test]
    fn subdomain_without_explicit_hostname_is_not_published() {
        let a = rec("default", "a", None, false, [127, 21, 0, 1]);
        let b = rec("default", "b", Some("svc"), false, [127, 21, 0, 2]);
        assert!(!render(&a, &[a.clone(), b]).contains("127.21.0.2"));
    }

    #[test]
    fn rendering_is_deterministic_and_host_aliases_are_kept() {
        let mut a = rec("default", "a-0", Some("a"), true, [127, 21, 0, 1]);
        a.aliases = vec![("10.1.2.3".into(), vec!["foo".into(), "bar".into()])];
        let b = rec("default", "a-1", Some("a"), true, [127, 21, 0, 2]);
        let c = rec("default", "a-2", Some("a"), true, [127, 21, 0, 3]);
        let one = render(&a, &[c.clone(), a.clone(), b.clone()]);
        assert_eq!(one, render(&a, &[b, c, a.clone()]));
        assert!(one.ends_with("10.1.2.3\tfoo\tbar\n"));
    }

    #[test]
    fn rewriting_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a long first version of the file\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }

    #[test]
    fn registry_updates_every_file_when_a_pod_comes_moves_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::default();
        let (fa, fb) = (dir.path().join("a/hosts"), dir.path().join("b/hosts"));
        reg.add(
            "ua",
            rec("ns", "s-0", Some("s"), true, [127, 21, 0, 1]),
            fa.clone(),
        );
        reg.add(
            "ub",
            rec("ns", "s-1", Some("s"), true, [127, 21, 0, 2]),
            fb.clone(),
        );
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert!(read(&fa).contains("127.21.0.2\ts-1.s.ns.svc.cluster.local"));
        reg.remove("ub");
        assert!(!read(&fa).contains("s-1.s"));
        reg.add(
            "ub2",
            rec("ns", "s-1", Some("s"), true, [127, 21, 0, 7]),
            fb.clone(),
        );
        assert!(read(&fa).contains("127.21.0.7\ts-1.s.ns.svc.cluster.local"));
        assert!(read(&fb).contains("127.21.0.1\ts-0.s.ns.svc.cluster.local"));
    }
}
