//! Volume provisioner: a default StorageClass whose claims become host directories.
//!
//! For every claim the PV controller hands to `eddy.io/localkube`, a PersistentVolume with a
//! `hostPath` under the agent's state directory is created and pre-bound to the claim; the PV
//! controller then marks both Bound. Released volumes with the `Delete` policy lose their
//! directory and object. The directory outlives pods, so data survives pod replacement.
//!
//! Two classes: `local` (the default) does not allow expansion, so the apiserver refuses a
//! bigger claim as on a cloud disk class without it; `local-expandable` does
//! (`allowVolumeExpansion: true`), and this agent plays the external resizer and the kubelet's
//! online file-system expansion for it: a bound claim asking for more storage than its status
//! shows gets the new size in its volume's capacity and its own status capacity. A host
//! directory has no size of its own, so the size is bookkeeping, as it is for every claim here.

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// Name of the provisioner and of the StorageClass.
pub const PROVISIONER: &str = "eddy.io/localkube";
/// The default StorageClass this agent creates.
pub const STORAGE_CLASS: &str = "local";
/// The StorageClass whose claims can grow.
pub const EXPANDABLE_STORAGE_CLASS: &str = "local-expandable";

/// Errors of provisioning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating storage class {STORAGE_CLASS}: {0}")]
    StorageClass(kube::Error),
    #[error("creating volume {pv} for claim {claim}: {source}")]
    Create {
        pv: String,
        claim: String,
        source: kube::Error,
    },
    #[error("creating volume directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates the default StorageClass and the expandable one if they do not exist.
pub async fn ensure_storage_class(client: &Client) -> Result<(), Error> {
    let api: Api<StorageClass> = Api::all(client.clone());
    for (name, default, expandable) in [
        (STORAGE_CLASS, true, false),
        (EXPANDABLE_STORAGE_CLASS, false, true),
    ] {
        let sc = StorageClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: default.then(|| {
                    [(
                        "storageclass.kubernetes.io/is-default-class".to_owned(),
                        "true".to_owned(),
                    )]
                    .into()
                }),
                ..ObjectMeta::default()
            },
            provisioner: PROVISIONER.into(),
            reclaim_policy: Some("Delete".into()),
            volume_binding_mode: Some("Immediate".into()),
            allow_volume_expansion: Some(expandable),
            ..StorageClass::default()
        };
        match api.create(&PostParams::default(), &sc).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::StorageClass(e)),
        }
    }
    Ok(())
}

/// The storage a bound claim of ours asks for beyond its status capacity: its volume's name
/// and the requested quantity (pure). The apiserver only lets a claim grow when its class
/// allows expansion, and never shrink, so a differing request is a growth.
fn wanted_growth(pvc: &PersistentVolumeClaim) -> Option<(String, Quantity)> {
    let annotated = pvc.metadata.annotations.as_ref().is_some_and(|a| {
        [
            "volume.beta.kubernetes.io/storage-provisioner",
            "volume.kubernetes.io/storage-provisioner",
        ]
        .iter()
        .any(|k| a.get(*k).map(String::as_str) == Some(PROVISIONER))
    });
    let status = pvc.status.as_ref()?;
    if !annotated || status.phase.as_deref() != Some("Bound") {
        return None;
    }
    let spec = pvc.spec.as_ref()?;
    let volume = spec.volume_name.clone().filter(|v| !v.is_empty())?;
    let requested = spec.resources.as_ref()?.requests.as_ref()?.get("storage")?;
    let current = status.capacity.as_ref().and_then(|c| c.get("storage"));
    (current != Some(requested)).then(|| (volume, requested.clone()))
}

/// Grows a claim's volume and then the claim's status capacity (the external resizer's and
/// the kubelet's parts).
async fn resize(client: &Client, pvc: &PersistentVolumeClaim) {
    let Some((volume, size)) = wanted_growth(pvc) else {
        return;
    };
    let ns = pvc.metadata.namespace.clone().unwrap_or_default();
    let claim = pvc.metadata.name.clone().unwrap_or_default();
    let patch = |v: serde_json::Value| kube::api::Patch::Merge(v);
    let pp = kube::api::PatchParams::default();
    let grown = serde_json::json!({"spec": {"capacity": {"storage": size}}});
    if let Err(e) = Api::<PersistentVolume>::all(client.clone())
        .patch(&volume, &pp, &patch(grown))
        .await
    {
        warn!(pv = %volume, error = %e, "growing volume");
        return;
    }
    let status = serde_json::json!({"status": {"capacity": {"storage": size}, "conditions": []}});
    match Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns)
        .patch_status(&claim, &pp, &patch(status))
        .await
    {
        Ok(_) => info!(claim = %claim, namespace = %ns, size = %size.0, "claim expanded"),
        Err(e) => warn!(claim = %claim, error = %e, "recording the expanded capacity"),
    }
}

fn wants_us(pvc: &PersistentVolumeClaim) -> bool {
    let annotated = pvc.metadata.annotations.as_ref().is_some_and(|a| {
        [
            "volume.beta.kubernetes.io/storage-provisioner",
            "volume.kubernetes.io/storage-provisioner",
        ]
        .iter()
        .any(|k| a.get(*k).map(String::as_str) == Some(PROVISIONER))
    });
    let pending = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_none_or(|p| p == "Pending");
    let unbound = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_none_or(str::is_empty);
    annotated && pending && unbound && pvc.metadata.deletion_timestamp.is_none()
}

/// Watches claims and volumes forever.
pub async fn run(client: Client, volumes_dir: PathBuf) {
    let claims = async {
        let api: Api<PersistentVolumeClaim> = Api::all(client.clone());
        let mut s = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(ev) = s.try_next().await.transpose() {
            let Ok(watcher::Event::Apply(pvc) | watcher::Event::InitApply(pvc)) = ev else {
                continue;
            };
            if wants_us(&pvc) {
                if let Err(e) = provision(&client, &pvc, &volumes_dir).await {
                    warn!(error = %e, "provisioning");
                }
            } else {
                resize(&client, &pvc).await;
            }
        }
    };
    let released = async {
        let api: Api<PersistentVolume> = Api::all(client.clone());
        let mut s = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(ev) = s.try_next().await.transpose() {
            if let Ok(watcher::Event::Apply(pv) | watcher::Event::InitApply(pv)) = ev {
                reclaim(&client, &pv, &volumes_dir).await;
            }
        }
    };
    tokio::join!(claims, released);
}

async fn provision(client: &Client, pvc: &PersistentVolumeClaim, dir: &Path) -> Result<(), Error> {
    let uid = pvc.metadata.uid.clone().unwrap_or_default();
    let ns = pvc.metadata.namespace.clone().unwrap_or_default();
    let claim = pvc.metadata.name.clone().unwrap_or_default();
    let pv_name = format!("pvc-{uid}");
    let path = dir.join(&pv_name);
    std::fs::create_dir_all(&path).map_err(|source| Error::Dir {
        path: path.clone(),
        source,
    })?;
    let spec = pvc.spec.clone().unwrap_or_default();
    let capacity = spec
        .resources
        .and_then(|r| r.requests)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "storage")
        .collect();
    let pv = PersistentVolume {
        metadata: ObjectMeta {
            name: Some(pv_name.clone()),
            annotations: Some(
                [(
                    "pv.kubernetes.io/provisioned-by".to_owned(),
                    PROVISIONER.to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(capacity),
            access_modes: spec.access_modes,
            storage_class_name: spec.storage_class_name,
            volume_mode: spec.volume_mode,
            persistent_volume_reclaim_policy: Some("Delete".into()),
            host_path: Some(HostPathVolumeSource {
                path: path.display().to_string(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: Some(ns.clone()),
                name: Some(claim.clone()),
                uid: Some(uid),
                ..ObjectReference::default()
            }),
            ..PersistentVolumeSpec::default()
        }),
        ..PersistentVolume::default()
    };
    match Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &pv)
        .await
    {
        Ok(_) => {
            info!(pv = %pv_name, claim = %claim, namespace = %ns, path = %path.display(), "provisioned");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(Error::Create {
            pv: pv_name,
            claim: format!("{ns}/{claim}"),
            source,
        }),
    }
}

async fn reclaim(client: &Client, pv: &PersistentVolume, dir: &Path) {
    let ours = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("pv.kubernetes.io/provisioned-by"))
        .is_some_and(|p| p == PROVISIONER);
    let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
    let delete = pv
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        == Some("Delete");
    let Some(name) = pv.metadata.name.clone() else {
        return;
    };
    if !(ours && released && delete) || pv.metadata.deletion_timestamp.is_some() {
        return;
    }
    let path = dir.join(&name);
    if let Err(e) = std::fs::remove_dir_all(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        warn!(pv = %name, error = %e, "removing volume directory");
        return;
    }
    match Api::<PersistentVolume>::all(client.clone())
        .delete(&name, &DeleteParams::default())
        .await
    {
        Ok(_) => info!(pv = %name, "released volume deleted"),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => warn!(pv = %name, error = %e, "deleting released volume"),
    }
}
