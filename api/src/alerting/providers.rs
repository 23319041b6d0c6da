//! What each notification channel's provider receives, with no I/O: the provider-neutral
//! notice (an alarm opening or resolving, or a test) rendered as the HTTP request the provider
//! documents — PagerDuty Events API v2, OpsGenie Alert API (create / close by alias), Splunk
//! On-Call (VictorOps) REST endpoint, Slack incoming webhook, and the signed generic webhook.

use crate::domain::alarms::Severity;
use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A channel's provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Pagerduty,
    Opsgenie,
    Victorops,
    Slack,
    Webhook,
}

impl ChannelKind {
    /// Every kind.
    pub const ALL: [ChannelKind; 5] = [
        Self::Pagerduty,
        Self::Opsgenie,
        Self::Victorops,
        Self::Slack,
        Self::Webhook,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Opsgenie => "opsgenie",
            Self::Victorops => "victorops",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether a notice opens, resolves or only tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Trigger,
    Resolve,
    Test,
}

/// The provider-neutral event queued for delivery (never holds a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notice {
    pub action: Action,
    /// Stable per alarm: the provider's dedup key / alias / entity id.
    pub dedup_key: String,
    pub summary: String,
    pub severity: Severity,
    /// The cluster (or `eddy` for tests).
    pub source: String,
    /// The alarm's kind, rule, subject and value.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Settings of a channel that are not secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelConfig {
    /// OpsGenie: `us` (default) or `eu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// VictorOps: the routing key (the last path segment of the REST endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// Settings of a channel that are secret (stored sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSecret {
    /// PagerDuty integration key, OpsGenie API key, VictorOps REST API key, webhook HMAC secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Slack webhook URL, generic webhook URL (either may carry a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The providers' base URLs: the real endpoints by default, configurable so that tests (and
/// proxies) can point them elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub pagerduty: String,
    pub opsgenie_us: String,
    pub opsgenie_eu: String,
    pub victorops: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            pagerduty: "https://events.pagerduty.com".into(),
            opsgenie_us: "https://api.opsgenie.com".into(),
            opsgenie_eu: "https://api.eu.opsgenie.com".into(),
            victorops: "https://alert.victorops.com".into(),
        }
    }
}

/// An HTTP POST to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a notice cannot be rendered for a channel (a stored channel missing a setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel misconfigured: {0}")]
pub struct RenderError(pub &'static str);

fn trimmed(base: &str) -> &str {
    base.trim_end_matches('/')
}

fn pct(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Renders `notice` for a channel at unix second `now`.
pub fn render(
    kind: ChannelKind,
    config: &ChannelConfig,
    secret: &ChannelSecret,
    endpoints: &Endpoints,
    notice: &Notice,
    now: i64,
) -> Result<Outbound, RenderError> {
    let key = || secret.secret.as_deref().ok_or(RenderError("no secret"));
    let url = || secret.url.as_deref().ok_or(RenderError("no url"));
    let json_headers = vec![("content-type".to_string(), "application/json".to_string())];
    Ok(match kind {
        ChannelKind::Pagerduty => Outbound {
            url: format!("{}/v2/enqueue", trimmed(&endpoints.pagerduty)),
            headers: json_headers,
            body: pagerduty_body(key()?, notice, now).to_string().into_bytes(),
        },
        ChannelKind::Opsgenie => {
            let base = match config.region.as_deref() {
                Some("eu") => &endpoints.opsgenie_eu,
                _ => &endpoints.opsgenie_us,
            };
            let mut headers = json_headers;
            headers.push(("authorization".into(), format!("GenieKey {}", key()?)));
            let (url, body) = opsgenie_request(trimmed(base), notice);
            Outbound {
                url,
                headers,
                body: body.to_string().into_bytes(),
            }
        }
        ChannelKind::Victorops => {
            let routing = config
                .routing_key
                .as_deref()
                .ok_or(RenderError("no routing key"))?;
            Outbound {
                url: format!(
                    "{}/integrations/generic/20131114/alert/{}/{}",
                    trimmed(&endpoints.victorops),
                    pct(key()?),
                    pct(routing)
                ),
                headers: json_headers,
                body: victorops_body(notice, now).to_string().into_bytes(),
            }
        }
        ChannelKind::Slack => Outbound {
            url: url()?.to_string(),
            headers: json_headers,
            body: json!({"text": slack_text(notice)}).to_string().into_bytes(),
        },
        ChannelKind::Webhook => {
            let body = webhook_body(notice, now).to_string().into_bytes();
            let mut headers = json_headers;
            headers.push(("x-eddy-timestamp".into(), now.to_string()));
            headers.push(("x-eddy-signature".into(), sign(key()?, now, &body)));
            Outbound {
                url: url()?.to_string(),
                headers,
                body,
            }
        }
    })
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// PagerDuty Events API v2: `trigger` with a payload, `resolve` with the dedup key only. A
/// test is a low-severity trigger followed by nothing (PagerDuty has no test event).
fn pagerduty_body(routing_key: &str, n: &Notice, now: i64) -> Value {
    match n.action {
        Action::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": n.dedup_key,
        }),
        Action::Trigger | Action::Test => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": n.dedup_key,
            "payload": {
                "summary": truncate(&n.summary, 1024),
                "source": n.source,
                "severity": severity_name(n.severity),
                "timestamp": crate::store::rfc3339(now),
                "component": "eddy",
                "custom_details": n.details,
            },
        }),
    }
}

/// OpsGenie Alert API: create (`POST /v2/alerts`, the dedup key as `alias`) or close by alias.
fn opsgenie_request(base: &str, n: &Notice) -> (String, Value) {
    match n.action {
        Action::Resolve => (
            format!(
                "{base}/v2/alerts/{}/close?identifierType=alias",
                pct(&n.dedup_key)
            ),
            json!({"source": "eddy", "note": truncate(&n.summary, 25000)}),
        ),
        Action::Trigger | Action::Test => {
            let priority = match n.severity {
                Severity::Critical => "P1",
                Severity::Error => "P2",
                Severity::Warning => "P3",
                Severity::Info => "P5",
            };
            // OpsGenie's `details` is a map of strings.
            let details: serde_json::Map<String, Value> = n
                .details
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                            (k.clone(), Value::String(s))
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                format!("{base}/v2/alerts"),
                json!({
                    "message": truncate(&n.summary, 130),
                    "alias": n.dedup_key,
                    "description": truncate(&n.summary, 15000),
                    "priority": priority,
                    "source": "eddy",
                    "entity": n.source,
                    "tags": ["eddy"],
                    "details": details,
                }),
            )
        }
    }
}

/// Splunk On-Call (VictorOps) REST endpoint: CRITICAL / RECOVERY for the same `entity_id`;
/// a test is INFO (a timeline entry, no incident).
fn victorops_body(n: &Notice, now: i64) -> Value {
    // Every alarm a user configured opens an incident (WARNING only does on request).
    let message_type = match n.action {
        Action::Resolve => "RECOVERY",
        Action::Test => "INFO",
        Action::Trigger => "CRITICAL",
    };
    json!({
        "message_type": message_type,
        "entity_id": n.dedup_key,
        "entity_display_name": truncate(&n.summary, 512),
        "state_message": n.summary,
        "state_start_time": now,
        "monitoring_tool": "Eddy",
        "host_name": n.source,
    })
}

fn slack_text(n: &Notice) -> String {
    let tag = match n.action {
        Action::Trigger => "[ALARM]",
        Action::Resolve => "[RESOLVED]",
        Action::Test => "[TEST]",
    };
    format!("{tag} {} ({})", n.summary, n.source)
}

/// The generic webhook's body.
fn webhook_body(n: &Notice, now: i64) -> Value {
    let kind = match n.action {
        Action::Trigger => "alarm.opened",
        Action::Resolve => "alarm.resolved",
        Action::Test => "test",
    };
    json!({
        "type": kind,
        "dedup_key": n.dedup_key,
        "summary": n.summary,
        "severity": severity_name(n.severity),
        "source": n.source,
        "details": n.details,
        "sent_at": crate::store::rfc3339(now),
    })
}

/// `X-Eddy-Signature`: `v1=` and the hex HMAC-SHA256, under the channel's secret, of the
/// timestamp (the `X-Eddy-Timestamp` header), a dot and the raw body. Receivers recompute it
/// and reject old timestamps to stop replays.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
