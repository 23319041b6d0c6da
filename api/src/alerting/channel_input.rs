//! Validating a channel's settings (pure): what each provider needs, in the shape it uses,
//! split into what is stored in clear and what is sealed.

use super::providers::{ChannelConfig, ChannelKind, ChannelSecret};

/// A channel's settings as a request gives them (create, or the whole set on update).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFields {
    pub secret: Option<String>,
    pub url: Option<String>,
    pub region: Option<String>,
    pub routing_key: Option<String>,
}

/// Why settings were refused: the field and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FieldError {
    pub field: &'static str,
    pub detail: String,
}

fn bad(field: &'static str, detail: impl Into<String>) -> FieldError {
    FieldError {
        field,
        detail: detail.into(),
    }
}

fn token(
    field: &'static str,
    v: Option<&str>,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let v = v.ok_or_else(|| bad(field, format!("{field} is required for this kind")))?;
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            field,
            format!("{field} must be {min} to {max} characters without spaces"),
        ));
    }
    Ok(v.to_string())
}

/// An `http://` or `https://` URL with a host, at most 2048 characters.
pub fn http_url(field: &'static str, v: Option<&str>) -> Result<String, FieldError> {
    let v = v.ok_or_else(|| bad(field, format!("{field} is required for this kind")))?;
    let uri: hyper::Uri = v
        .parse()
        .map_err(|_| bad(field, format!("{field} is not a URL")))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) || v.len() > 2048 {
        return Err(bad(
            field,
            format!("{field} must be an http(s) URL with a host"),
        ));
    }
    Ok(v.to_string())
}

fn none(field: &'static str, v: Option<&String>, kind: ChannelKind) -> Result<(), FieldError> {
    match v {
        Some(_) => Err(bad(
            field,
            format!("{} channels take no {field}", kind.as_str()),
        )),
        None => Ok(()),
    }
}

/// Checks `f` for `kind`; returns the clear settings and the secret ones.
pub fn validate(
    kind: ChannelKind,
    f: &ChannelFields,
) -> Result<(ChannelConfig, ChannelSecret), FieldError> {
    let mut config = ChannelConfig::default();
    let mut secret = ChannelSecret::default();
    let s = f.secret.as_deref();
    match kind {
        ChannelKind::Pagerduty => {
            none("url", f.url.as_ref(), kind)?;
            none("region", f.region.as_ref(), kind)?;
            none("routing_key", f.routing_key.as_ref(), kind)?;
            let key = token("secret", s, 20, 64)?;
            if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad(
                    "secret",
                    "a PagerDuty integration key is letters and digits",
                ));
            }
            secret.secret = Some(key);
        }
        ChannelKind::Opsgenie => {
            none("url", f.url.as_ref(), kind)?;
            none("routing_key", f.routing_key.as_ref(), kind)?;
            secret.secret = Some(token("secret", s, 8, 128)?);
            let region = f.region.as_deref().unwrap_or("us");
            if !matches!(region, "us" | "eu") {
                return Err(bad("region", "region is us or eu"));
            }
            config.region = Some(region.to_string());
        }
        ChannelKind::Victorops => {
            none("url", f.url.as_ref(), kind)?;
            none("region", f.region.as_ref(), kind)?;
            secret.secret = Some(token("secret", s, 8, 128)?);
            let rk = token("routing_key", f.routing_key.as_deref(), 1, 128)?;
            config.routing_key = Some(rk);
        }
        ChannelKind::Slack => {
            none("secret", f.secret.as_ref(), kind)?;
            none("region", f.region.as_ref(), kind)?;
            none("routing_key", f.routing_key.as_ref(), kind)?;
            secret.url = Some(http_url("url", f.url.as_deref())?);
        }
        ChannelKind::Webhook => {
            none("region", f.region.as_ref(), kind)?;
            none("routing_key", f.routing_key.as_ref(), kind)?;
            secret.url = Some(http_url("url", f.url.as_deref())?);
            secret.secret = Some(token("secret", s, 16, 256)?);
        }
    }
    Ok((config, secret))
}

/// What responses show of a channel's secrets: the key's and the URL's last 4 characters, and
/// the URL's scheme and host (not secret; where notices go).
pub fn hint(secret: &ChannelSecret) -> String {
    let mut parts = Vec::new();
    if let Some(url) = &secret.url {
        let host = url
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
            .unwrap_or_default();
        parts.push(format!("{host}/{}", super::secrets::hint(url)));
    }
    if let Some(s) = &secret.secret {
        parts.push(super::secrets::hint(s));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(secret: Option<&str>, url: Option<&str>) -> ChannelFields {
        ChannelFields {
            secret: secret.map(str::to_string),
            url: url.map(str::to_string),
            ..ChannelFields::default()
        }
    }

    #[test]
    fn each_kind_takes_what_its_provider_needs() {
        let pd = "a".repeat(32);
        assert!(validate(ChannelKind::Pagerduty, &f(Some(&pd), None)).is_ok());
        assert_eq!(
            validate(ChannelKind::Pagerduty, &f(None, None))
                .unwrap_err()
                .field,
            "secret"
        );
        assert_eq!(
            validate(ChannelKind::Pagerduty, &f(Some(&pd), Some("https://x")))
                .unwrap_err()
                .field,
            "url"
        );
        assert_eq!(
            validate(ChannelKind::Slack, &f(None, Some("ftp://x/y")))
                .unwrap_err()
                .field,
            "url"
        );
        assert_eq!(
            validate(ChannelKind::Slack, &f(None, Some("not a url")))
                .unwrap_err()
                .field,
            "url"
        );
        assert!(
            validate(
                ChannelKind::Slack,
                &f(None, Some("https://hooks.slack.com/services/T/B/x"))
            )
            .is_ok()
        );
        assert_eq!(
            validate(
                ChannelKind::Webhook,
                &f(Some("short"), Some("https://x.example/h"))
            )
            .unwrap_err()
            .field,
            "secret"
        );
        let mut og = f(Some("12345678-abcd"), None);
        og.region = Some("mars".into());
        assert_eq!(
            validate(ChannelKind::Opsgenie, &og).unwrap_err().field,
            "region"
        );
        assert_eq!(
            validate(ChannelKind::Victorops, &f(Some("12345678"), None))
                .unwrap_err()
                .field,
            "routing_key"
        );
    }

    #[test]
    fn hints_never_hold_the_secret() {
        let s = ChannelSecret {
            secret: Some("supersecretvalue1234".into()),
            url: Some("https://hooks.slack.com/services/T0/B0/tokentoken9876".into()),
        };
        let h = hint(&s);
        assert_eq!(h, "https://hooks.slack.com/…9876 …1234");
        assert!(!h.contains("tokentoken"));
    }
}
