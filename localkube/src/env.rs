//! Container environment: what the kubelet puts in a container's env, including the downward API.
//!
//! Order and expansion follow Kubernetes: the service variables for the API server first, then
//! `envFrom`, then `env` in order, each value expanded with `$(VAR)` against what came before.

use crate::expand::expand;
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVarSource, Pod, Secret};
use kube::{Api, Client};

/// Errors of building a container's environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {kind} {name} for env: {source}")]
    Fetch {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("{kind} {name} for env not found")]
    Missing { kind: &'static str, name: String },
    #[error("key {key} not found in {kind} {name} for env")]
    MissingKey {
        kind: &'static str,
        name: String,
        key: String,
    },
    #[error("env {0}: unsupported valueFrom (resourceFieldRef)")]
    Unsupported(String),
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Where the API server is, as pods should see it.
#[derive(Debug, Clone)]
pub struct ApiServer {
    pub host: String,
    pub port: u16,
}

/// The value of a downward-API field path; unknown paths yield an empty string.
#[must_use]
pub fn field_value(pod: &Pod, path: &str) -> String {
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let map_entry = |map: Option<&std::collections::BTreeMap<String, String>>, key: &str| {
        map.and_then(|m| m.get(key.trim_matches(|c| c == '\'' || c == '"')).cloned())
    };
    let map_lines = |map: Option<&std::collections::BTreeMap<String, String>>| {
        map.into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v:?}\n"))
            .collect::<String>()
    };
    match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_lines(meta.labels.as_ref()),
        "metadata.annotations" => map_lines(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => {
            status.and_then(|s| s.pod_ip.clone()).unwrap_or_default()
        }
        "status.hostIP" | "status.hostIPs" => {
            status.and_then(|s| s.host_ip.clone()).unwrap_or_default()
        }
        p => {
            if let Some(key) = p
                .strip_prefix("metadata.labels[")
                .and_then(|k| k.strip_suffix(']'))
            {
                map_entry(meta.labels.as_ref(), key).unwrap_or_default()
            } else if let Some(key) = p
                .strip_prefix("metadata.annotations[")
                .and_then(|k| k.strip_suffix(']'))
            {
                map_entry(meta.annotations.as_ref(), key).unwrap_or_default()
            } else {
                String::new()
            }
        }
    }
}

/// The full environment of `container` in `pod` (the pod's status must already carry its IP).
pub async fn container_env(
    client: &Client,
    pod: &Pod,
    container: &Container,
    api: &ApiServer,
    home: &str,
) -> Result<Vec<(String, String)>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("HOME".into(), home.to_owned()),
        (
            "HOSTNAME".into(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        ("KUBERNETES_SERVICE_HOST".into(), api.host.clone()),
        ("KUBERNETES_SERVICE_PORT".into(), api.port.to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), api.port.to_string()),
        (
            "KUBERNETES_PORT".into(),
            format!("tcp://{}:{}", api.host, api.port),
        ),
    ];
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        env.retain(|(n, _)| n != &k);
        env.push((k, v));
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref
            && let Some(cm) =
                fetch::<ConfigMap>(client, &ns, "configmap", &r.name, r.optional).await?
        {
            for (k, v) in cm.data.unwrap_or_default() {
                set(&mut env, format!("{prefix}{k}"), v);
            }
        }
        if let Some(r) = &from.secret_ref
            && let Some(s) = fetch::<Secret>(client, &ns, "secret", &r.name, r.optional).await?
        {
            for (k, v) in s.data.unwrap_or_default() {
                set(
                    &mut env,
                    format!("{prefix}{k}"),
                    String::from_utf8_lossy(&v.0).into_owned(),
                );
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(src)) => value_from(client, pod, &ns, &var.name, src).await?,
            (Some(v), None) => {
                let known = env.clone();
                Some(expand(v, |n| {
                    known
                        .iter()
                        .rev()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                }))
            }
            (None, None) => Some(String::new()),
        };
        // `None`: an optional reference that was absent, so the variable is not set.
        if let Some(value) = value {
            set(&mut env, var.name.clone(), value);
        }
    }
    Ok(env)
}

async fn value_from(
    client: &Client,
    pod: &Pod,
    ns: &str,
    name: &str,
    src: &EnvVarSource,
) -> Result<Option<String>> {
    if let Some(f) = &src.field_ref {
        return Ok(Some(field_value(pod, &f.field_path)));
    }
    if let Some(r) = &src.config_map_key_ref {
        let Some(cm) = fetch::<ConfigMap>(client, ns, "configmap", &r.name, r.optional).await?
        else {
            return Ok(None);
        };
        return key_or_missing(
            cm.data.unwrap_or_default().get(&r.key).cloned(),
            "configmap",
            &r.name,
            &r.key,
            r.optional,
        );
    }
    if let Some(r) = &src.secret_key_ref {
        let Some(s) = fetch::<Secret>(client, ns, "secret", &r.name, r.optional).await? else {
            return Ok(None);
        };
        let v = s
            .data
            .unwrap_or_default()
            .get(&r.key)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned());
        return key_or_missing(v, "secret", &r.name, &r.key, r.optional);
    }
    Err(Error::Unsupported(name.to_owned()))
}

fn key_or_missing(
    v: Option<String>,
    kind: &'static str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>> {
    match v {
        Some(v) => Ok(Some(v)),
        None if optional.unwrap_or(false) => Ok(None),
        None => Err(Error::MissingKey {
            kind,
            name: name.to_owned(),
            key: key.to_owned(),
        }),
    }
}

async fn fetch<K>(
    client: &Client,
    ns: &str,
    kind: &'static str,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(o)) => Ok(Some(o)),
        Ok(None) if optional.unwrap_or(false) => Ok(None),
        Ok(None) => Err(Error::Missing {
            kind,
            name: name.to_owned(),
        }),
        Err(source) => Err(Error::Fetch {
            kind,
            name: name.to_owned(),
            source,
        }),
    }
}

/// Expands `$(VAR)` in a container's command and args against its environment.
#[must_use]
pub fn expand_all(items: &[String], env: &[(String, String)]) -> Vec<String> {
    items
        .iter()
        .map(|s| {
            expand(s, |n| {
                env.iter()
                    .rev()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use kube::api::ObjectMeta;

    #[test]
    fn downward_fields() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("kafka-0".into()),
                namespace: Some("team-a".into()),
                labels: Some([("app".to_owned(), "kafka".to_owned())].into()),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                pod_ip: Some("127.20.0.3".into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        assert_eq!(field_value(&pod, "metadata.name"), "kafka-0");
        assert_eq!(field_value(&pod, "metadata.namespace"), "team-a");
        assert_eq!(field_value(&pod, "status.podIP"), "127.20.0.3");
        assert_eq!(field_value(&pod, "metadata.labels['app']"), "kafka");
        assert_eq!(field_value(&pod, "metadata.labels"), "app=\"kafka\"\n");
    }

    #[test]
    fn args_expand_against_env() {
        let env = vec![("POD_IP".to_owned(), "127.20.0.3".to_owned())];
        let args = vec!["--listeners=PLAINTEXT://$(POD_IP):9092".to_owned()];
        assert_eq!(
            expand_all(&args, &env),
            ["--listeners=PLAINTEXT://127.20.0.3:9092"]
        );
    }
}
