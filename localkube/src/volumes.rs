//! Pod volumes: materialises each volume as a host directory and plans the bind mounts.
//!
//! ConfigMap, Secret, downward-API and projected volumes are written under the pod's directory
//! and rewritten in place (file by file, atomically) on every refresh, so updates reach running
//! containers as in Kubernetes; PVCs resolve to their PersistentVolume's host directory (kept by
//! the provisioner, so data outlives pods); emptyDir lives and dies with the pod.

use crate::mount_exec::Bind;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of preparing volumes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {kind} {name}: {source}")]
    Fetch {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("{kind} {name} not found")]
    Missing { kind: &'static str, name: String },
    #[error("key {key} not found in {kind} {name}")]
    MissingKey {
        kind: &'static str,
        name: String,
        key: String,
    },
    #[error("persistentvolumeclaim {0} is not bound yet")]
    Unbound(String),
    #[error("persistentvolume {0} has no hostPath or local path")]
    NotLocal(String),
    #[error("writing volume {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("volume {volume}: unsupported source ({what})")]
    Unsupported { volume: String, what: String },
    #[error("container mounts volume {0}, which the pod does not declare")]
    Undeclared(String),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Where each volume of a pod lives on the host.
#[derive(Debug, Clone, Default)]
pub struct Materialised {
    /// Volume name → (host path, mounted read-only by nature).
    pub paths: BTreeMap<String, (PathBuf, bool)>,
}

impl Materialised {
    /// The bind mounts a container needs for its `volumeMounts`.
    pub fn binds(&self, container: &Container) -> Result<Vec<Bind>> {
        let mut binds = Vec::new();
        for m in container.volume_mounts.iter().flatten() {
            let (path, forced_ro) = self
                .paths
                .get(&m.name)
                .ok_or_else(|| Error::Undeclared(m.name.clone()))?;
            let src = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    let p = path.join(sub);
                    if !p.exists() {
                        std::fs::create_dir_all(&p).map_err(|source| Error::Write {
                            path: p.clone(),
                            source,
                        })?;
                    }
                    p
                }
                None => path.clone(),
            };
            binds.push(Bind {
                src,
                dst: PathBuf::from(&m.mount_path),
                read_only: *forced_ro || m.read_only.unwrap_or(false),
            });
        }
        // Parents before children, so a mount inside another mount is not hidden by it.
        binds.sort_by_key(|b| b.dst.components().count());
        Ok(binds)
    }
}

/// Creates or refreshes every volume of `pod` under `pod_dir/volumes`.
pub async fn materialise(client: &Client, pod: &Pod, pod_dir: &Path) -> Result<Materialised> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Materialised::default();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let dir = pod_dir.join("volumes").join(&v.name);
        let entry = materialise_one(client, &ns, pod, v, &dir).await?;
        out.paths.insert(v.name.clone(), entry);
    }
    Ok(out)
}

async fn materialise_one(
    client: &Client,
    ns: &str,
    pod: &Pod,
    v: &Volume,
    dir: &Path,
) -> Result<(PathBuf, bool)> {
    if v.empty_dir.is_some() {
        mkdir(dir)?;
        return Ok((dir.to_path_buf(), false));
    }
    if let Some(cm) = &v.config_map {
        let files =
            config_map_files(client, ns, &cm.name, cm.items.as_deref(), cm.optional).await?;
        write_dir(dir, &files)?;
        return Ok((dir.to_path_buf(), true));
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let files = secret_files(client, ns, &name, s.items.as_deref(), s.optional).await?;
        write_dir(dir, &files)?;
        return Ok((dir.to_path_buf(), true));
    }
    if let Some(d) = &v.downward_api {
        let mut files = BTreeMap::new();
        for item in d.items.iter().flatten() {
            let field = item.field_ref.as_ref().ok_or_else(|| Error::Unsupported {
                volume: v.name.clone(),
                what: "downwardAPI resourceFieldRef".into(),
            })?;
            files.insert(
                item.path.clone(),
                crate::env::field_value(pod, &field.field_path).into_bytes(),
            );
        }
        write_dir(dir, &files)?;
        return Ok((dir.to_path_buf(), true));
    }
    if let Some(p) = &v.projected {
        let mut files = BTreeMap::new();
        for src in p.sources.iter().flatten() {
            if let Some(cm) = &src.config_map {
                files.extend(
                    config_map_files(client, ns, &cm.name, cm.items.as_deref(), cm.optional)
                        .await?,
                );
            } else if let Some(s) = &src.secret {
                files.extend(
                    secret_files(client, ns, &s.name, s.items.as_deref(), s.optional).await?,
                );
            } else {
                return Err(Error::Unsupported {
                    volume: v.name.clone(),
                    what: "projected source other than configMap or secret".into(),
                });
            }
        }
        write_dir(dir, &files)?;
        return Ok((dir.to_path_buf(), true));
    }
    if let Some(claim) = &v.persistent_volume_claim {
        return Ok((
            pvc_path(client, ns, &claim.claim_name).await?,
            claim.read_only.unwrap_or(false),
        ));
    }
    if let Some(h) = &v.host_path {
        let p = PathBuf::from(&h.path);
        if matches!(h.type_.as_deref(), Some("DirectoryOrCreate")) {
            mkdir(&p)?;
        }
        return Ok((p, false));
    }
    Err(Error::Unsupported {
        volume: v.name.clone(),
        what: "only emptyDir, configMap, secret, downwardAPI, projected, persistentVolumeClaim and hostPath are supported".into(),
    })
}

async fn pvc_path(client: &Client, ns: &str, name: &str) -> Result<PathBuf> {
    let pvc = get::<PersistentVolumeClaim>(
        Api::namespaced(client.clone(), ns),
        "persistentvolumeclaim",
        name,
    )
    .await?
    .ok_or_else(|| Error::Missing {
        kind: "persistentvolumeclaim",
        name: name.to_owned(),
    })?;
    let bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let pv_name = pvc
        .spec
        .and_then(|s| s.volume_name)
        .filter(|_| bound)
        .ok_or_else(|| Error::Unbound(name.to_owned()))?;
    let pv = get::<PersistentVolume>(Api::all(client.clone()), "persistentvolume", &pv_name)
        .await?
        .ok_or_else(|| Error::Missing {
            kind: "persistentvolume",
            name: pv_name.clone(),
        })?;
    let spec = pv.spec.unwrap_or_default();
    let path = spec
        .host_path
        .map(|h| h.path)
        .or_else(|| spec.local.map(|l| l.path))
        .ok_or(Error::NotLocal(pv_name))?;
    let path = PathBuf::from(path);
    mkdir(&path)?;
    Ok(path)
}

async fn get<K>(api: Api<K>, kind: &'static str, name: &str) -> Result<Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.map_err(|source| Error::Fetch {
        kind,
        name: name.to_owned(),
        source,
    })
}

type Files = BTreeMap<String, Vec<u8>>;

async fn config_map_files(
    client: &Client,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Files> {
    let Some(cm) = get::<ConfigMap>(Api::namespaced(client.clone(), ns), "configmap", name).await?
    else {
        return missing_or_empty("configmap", name, optional);
    };
    let mut all: Files = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    all.extend(
        cm.binary_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0)),
    );
    select(all, items, "configmap", name, optional)
}

async fn secret_files(
    client: &Client,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Files> {
    let Some(secret) = get::<Secret>(Api::namespaced(client.clone(), ns), "secret", name).await?
    else {
        return missing_or_empty("secret", name, optional);
    };
    let mut all: Files = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    all.extend(
        secret
            .string_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes())),
    );
    select(all, items, "secret", name, optional)
}

fn missing_or_empty(kind: &'static str, name: &str, optional: Option<bool>) -> Result<Files> {
    if optional.unwrap_or(false) {
        Ok(Files::new())
    } else {
        Err(Error::Missing {
            kind,
            name: name.to_owned(),
        })
    }
}

/// Applies `items` (key → relative path) to a ConfigMap's or Secret's keys.
fn select(
    all: Files,
    items: Option<&[KeyToPath]>,
    kind: &'static str,
    name: &str,
    optional: Option<bool>,
) -> Result<Files> {
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(all);
    };
    let mut out = Files::new();
    for item in items {
        match all.get(&item.key) {
            Some(v) => {
                out.insert(item.path.clone(), v.clone());
            }
            None if optional.unwrap_or(false) => {}
            None => {
                return Err(Error::MissingKey {
                    kind,
                    name: name.to_owned(),
                    key: item.key.clone(),
                });
            }
        }
    }
    Ok(out)
}

fn mkdir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|source| Error::Write {
        path: p.to_path_buf(),
        source,
    })
}

/// Makes `dir` hold exactly `files`: changed files are replaced atomically (write + rename),
/// files no longer present are removed. The directory itself stays, so bind mounts see updates.
pub fn write_dir(dir: &Path, files: &Files) -> Result<()> {
    mkdir(dir)?;
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    for (rel, content) in files {
        let path = dir.join(rel);
        if std::fs::read(&path).ok().as_deref() == Some(content.as_slice()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        let tmp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        ));
        std::fs::write(&tmp, content).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))?;
    }
    for entry in std::fs::read_dir(dir).map_err(err(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let top_level_kept = files
            .keys()
            .any(|k| k == &name || k.starts_with(&format!("{name}/")));
        if !top_level_kept {
            let p = entry.path();
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            removed.map_err(err(&p))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_dir_updates_in_place_and_prunes() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("v");
        let mut files = Files::new();
        files.insert("a".into(), b"1".to_vec());
        files.insert("sub/b".into(), b"2".to_vec());
        write_dir(&d, &files).unwrap();
        files.insert("a".into(), b"changed".to_vec());
        files.remove("sub/b");
        write_dir(&d, &files).unwrap();
        assert_eq!(std::fs::read(d.join("a")).unwrap(), b"changed");
        assert!(!d.join("sub").exists());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }

    #[test]
    fn items_select_and_rename_keys() {
        let mut all = Files::new();
        all.insert("server.properties".into(), b"x".to_vec());
        all.insert("other".into(), b"y".to_vec());
        let items = [KeyToPath {
            key: "server.properties".into(),
            path: "conf/server.properties".into(),
            ..KeyToPath::default()
        }];
        let out = select(all.clone(), Some(&items), "configmap", "c", None).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["conf/server.properties"]);
        let missing = [KeyToPath {
            key: "nope".into(),
            path: "p".into(),
            ..KeyToPath::default()
        }];
        assert!(select(all.clone(), Some(&missing), "configmap", "c", None).is_err());
        assert!(
            select(all, Some(&missing), "configmap", "c", Some(true))
                .unwrap()
                .is_empty()
        );
    }
}
