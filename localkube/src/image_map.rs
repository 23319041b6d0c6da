//! Image map (pure): which local binary stands in for a container image `repository:tag`.
//!
//! The YAML file is a mapping from image reference to binary path. A key with a tag
//! (`eddy/broker:0.2.0`) matches that tag only; a key without one (`eddy/broker`) matches every
//! tag of the repository. Exact tags win over the wildcard, so two tags can map to two builds and
//! upgrades can be tested. `$VAR`/`${VAR}` in paths are expanded from the agent's environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of loading or using an image map.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading image map {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing image map {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("image {image} is not mapped to a local binary (known: {known})")]
    Unmapped { image: String, known: String },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Image reference → local binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap {
    entries: BTreeMap<String, PathBuf>,
}

impl ImageMap {
    /// The built-in map: Eddy's binaries from cargo's target directory, any tag.
    #[must_use]
    pub fn builtin(target_dir: &Path) -> Self {
        let debug = target_dir.join("debug");
        let mut entries: BTreeMap<String, PathBuf> = ["broker", "operator", "api"]
            .into_iter()
            .map(|b| (format!("eddy/{b}"), debug.join(b)))
            .collect();
        // Broker release 0.2.0 is its own small bin target (`broker-0-2-0`); every other tag,
        // 0.1.0 included, runs `broker`.
        entries.insert("eddy/broker:0.2.0".into(), debug.join("broker-0-2-0"));
        Self { entries }
    }

    /// Parses the YAML mapping, expanding `$VAR` / `${VAR}` with `lookup`.
    pub fn parse(yaml: &str, path: &Path, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let raw: BTreeMap<String, String> =
            serde_yaml::from_str(yaml).map_err(|source| Error::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let entries = raw
            .into_iter()
            .map(|(k, v)| (k, PathBuf::from(expand_env(&v, &lookup))))
            .collect();
        Ok(Self { entries })
    }

    /// Loads a YAML file, expanding variables from the process environment.
    pub fn load(path: &Path) -> Result<Self> {
        let yaml = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&yaml, path, |k| std::env::var(k).ok())
    }

    /// The binary for `image`: the exact `repository:tag` entry, else the repository's wildcard.
    pub fn resolve(&self, image: &str) -> Result<&Path> {
        let (repo, _tag) = split_image(image);
        self.entries
            .get(image)
            .or_else(|| self.entries.get(repo))
            .map(PathBuf::as_path)
            .ok_or_else(|| Error::Unmapped {
                image: image.to_owned(),
                known: self.entries.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

/// Splits `registry/repo:tag` (or `@digest`) into repository and tag; no tag means `latest`.
#[must_use]
pub fn split_image(image: &str) -> (&str, &str) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// Expands `$VAR` and `${VAR}`; unknown variables expand to nothing.
fn expand_env(s: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name).unwrap_or_default());
            rest = &after[consumed..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(yaml: &str) -> ImageMap {
        ImageMap::parse(yaml, Path::new("m.yaml"), |k| {
            (k == "T").then(|| "/tgt".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn exact_tag_wins_over_repository_wildcard() {
        let m = map("eddy/broker: $T/debug/broker\neddy/broker:0.1.0: ${T}/old/broker\n");
        assert_eq!(
            m.resolve("eddy/broker:0.1.0").unwrap(),
            Path::new("/tgt/old/broker")
        );
        assert_eq!(
            m.resolve("eddy/broker:0.2.0").unwrap(),
            Path::new("/tgt/debug/broker")
        );
        assert_eq!(
            m.resolve("eddy/broker").unwrap(),
            Path::new("/tgt/debug/broker")
        );
    }

    #[test]
    fn the_builtin_map_knows_both_broker_releases() {
        let m = ImageMap::builtin(Path::new("/t"));
        assert_eq!(
            m.resolve("eddy/broker:0.1.0").unwrap(),
            Path::new("/t/debug/broker")
        );
        assert_eq!(
            m.resolve("eddy/broker:0.2.0").unwrap(),
            Path::new("/t/debug/broker-0-2-0")
        );
    }

    #[test]
    fn unknown_image_names_the_image_and_the_known_keys() {
        let m = ImageMap::builtin(Path::new("/t"));
        let e = m.resolve("nginx:1.25").unwrap_err().to_string();
        assert!(e.contains("nginx:1.25") && e.contains("eddy/broker"), "{e}");
    }

    #[test]
    fn split_handles_registry_ports_and_digests() {
        assert_eq!(
            split_image("localhost:5000/eddy/broker"),
            ("localhost:5000/eddy/broker", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/eddy/broker:1"),
            ("localhost:5000/eddy/broker", "1")
        );
        assert_eq!(split_image("eddy/broker:1@sha256:ab"), ("eddy/broker", "1"));
    }

    proptest::proptest! {
        #[test]
        fn split_round_trips(repo in "[a-z]{1,8}(/[a-z]{1,8}){0,2}", tag in "[a-z0-9.]{1,8}") {
            let image = format!("{repo}:{tag}");
            proptest::prop_assert_eq!(split_image(&image), (repo.as_str(), tag.as_str()));
        }
    }
}
