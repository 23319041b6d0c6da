//! The delivery queue: every notice becomes one delivery per channel of its account; a worker
//! sends due deliveries (in order per channel and dedup key, so a resolve never overtakes its
//! trigger), records every attempt in the delivery log, and retries failures with exponential
//! backoff until the policy's last attempt, which marks the delivery failed.

use super::Alerting;
use super::http::{DeliveryClient, post};
use super::providers::{ChannelConfig, ChannelKind, ChannelSecret, Notice, render};
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow, DeliveryRow};
use crate::store::{self, StoreError};
use futures::StreamExt as _;
use sqlx::AnyConnection;
use std::collections::HashSet;
use std::time::Duration;

/// Deliveries looked at per round.
const BATCH: i64 = 200;
/// Deliveries sent at once.
const PARALLEL_SENDS: usize = 8;

/// A channel with its secrets opened (only ever in memory, only to send).
pub struct OpenChannel {
    pub kind: ChannelKind,
    pub config: ChannelConfig,
    pub secret: ChannelSecret,
}

/// Opens a stored channel's settings and secrets.
pub fn open_channel(alerting: &Alerting, row: &ChannelRow) -> Result<OpenChannel, String> {
    let kind = ChannelKind::parse(&row.kind).ok_or_else(|| format!("unknown kind {}", row.kind))?;
    let config: ChannelConfig =
        serde_json::from_str(&row.config).map_err(|e| format!("stored config: {e}"))?;
    let plain = alerting
        .secrets
        .open(&row.id, &row.secret_box)
        .map_err(|e| e.to_string())?;
    let secret: ChannelSecret =
        serde_json::from_slice(&plain).map_err(|e| format!("stored secret: {e}"))?;
    Ok(OpenChannel {
        kind,
        config,
        secret,
    })
}

/// Queues `notice` for every channel of the account (or only those of `only` that still
/// exist); returns the deliveries' ids. Runs in the caller's transaction, so an alarm and its
/// notices commit together.
pub async fn enqueue(
    c: &mut AnyConnection,
    account_id: &str,
    only: Option<&[String]>,
    alarm_id: Option<&str>,
    notice: &Notice,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let targets = channels::list(&mut *c, account_id).await?;
    let text = serde_json::to_string(notice).map_err(|e| StoreError::Corrupt {
        what: "notice".into(),
        detail: e.to_string(),
    })?;
    let mut ids = Vec::new();
    for ch in targets
        .iter()
        .filter(|ch| only.is_none_or(|ids| ids.contains(&ch.id)))
    {
        let d = DeliveryRow {
            id: store::new_id(),
            account_id: account_id.to_string(),
            channel_id: ch.id.clone(),
            alarm_id: alarm_id.map(str::to_string),
            dedup_key: notice.dedup_key.clone(),
            notice: text.clone(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        channels::enqueue(&mut *c, &d).await?;
        ids.push(d.id);
    }
    Ok(ids)
}

/// The deliveries to send now: due, and the oldest pending one of their channel and dedup key
/// (the rule `store::channels::due` already applies in SQL; kept as the tested statement of it
/// and applied again to what the query returns).
pub fn due(pending: &[DeliveryRow], now: i64) -> Vec<&DeliveryRow> {
    let mut seen = HashSet::new();
    pending
        .iter()
        .filter(|d| seen.insert((d.channel_id.as_str(), d.dedup_key.as_str())))
        .filter(|d| d.next_attempt_at <= now)
        .collect()
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Sends every due delivery once, at instant `now`.
pub async fn dispatch_once(
    state: &AppState,
    client: &DeliveryClient,
    now: i64,
) -> Result<DispatchReport, StoreError> {
    let rows = {
        let mut c = state.db.pool.acquire().await?;
        channels::due(&mut c, now, BATCH).await?
    };
    let batch: Vec<DeliveryRow> = due(&rows, now).into_iter().cloned().collect();
    let alerting = &state.alerting;
    let outcomes: Vec<Result<DeliveryRow, StoreError>> = futures::stream::iter(batch)
        .map(|mut d| async move {
            let channel = {
                let mut c = state.db.pool.acquire().await?;
                channels::get(&mut c, &d.account_id, &d.channel_id).await?
            };
            let result = match channel {
                None => (None, Some("channel deleted".to_string())),
                Some(row) => match attempt(alerting, client, &row, &d.notice, now).await {
                    Ok(status) => (Some(i64::from(status)), None),
                    Err((status, e)) => (status.map(i64::from), Some(e)),
                },
            };
            d.attempts += 1;
            let (status, error) = result;
            if error.is_none() {
                d.state = "delivered".into();
            } else if d.attempts >= alerting.retry.max_attempts {
                d.state = "failed".into();
            } else {
                d.next_attempt_at = now + alerting.retry.delay_after(d.attempts);
            }
            let mut c = state.db.pool.acquire().await?;
            channels::record_attempt(&mut c, &d, status, error.as_deref(), now).await?;
            if let Some(e) = &error {
                tracing::info!(delivery = %d.id, channel = %d.channel_id, attempt = d.attempts,
                    state = %d.state, error = %e, "notification not delivered");
            }
            Ok(d)
        })
        .buffer_unordered(PARALLEL_SENDS)
        .collect()
        .await;
    let mut report = DispatchReport::default();
    for o in outcomes {
        match o?.state.as_str() {
            "delivered" => report.delivered += 1,
            "failed" => report.failed += 1,
            _ => report.retrying += 1,
        }
    }
    Ok(report)
}

async fn attempt(
    alerting: &Alerting,
    client: &DeliveryClient,
    row: &ChannelRow,
    notice: &str,
    now: i64,
) -> Result<u16, (Option<u16>, String)> {
    let ch = open_channel(alerting, row).map_err(|e| (None, e))?;
    let notice: Notice =
        serde_json::from_str(notice).map_err(|e| (None, format!("stored notice: {e}")))?;
    let out = render(
        ch.kind,
        &ch.config,
        &ch.secret,
        &alerting.endpoints,
        &notice,
        now,
    )
    .map_err(|e| (None, e.to_string()))?;
    // User-given URLs (Slack, webhooks) must not reach the API's own network; the providers'
    // base URLs are the operator's configuration and trusted.
    let user_url = matches!(ch.kind, ChannelKind::Slack | ChannelKind::Webhook);
    if user_url && !alerting.allow_private_targets {
        super::http::check_public(&out.url)
            .await
            .map_err(|e| (None, e))?;
    }
    let r = post(client, &out, alerting.request_timeout).await;
    match (r.status, r.error) {
        (Some(s), None) => Ok(s),
        (status, Some(e)) => Err((status, e)),
        (None, None) => Err((None, "no status".into())),
    }
}

/// Sends due deliveries until the process ends: every second, or at once when woken.
pub async fn run(state: AppState) {
    let client = super::http::delivery_client();
    loop {
        if state.metrics.lead_round(&state.leader, "delivery") {
            match dispatch_once(&state, &client, store::now()).await {
                Ok(r) if r != DispatchReport::default() => tracing::debug!(?r, "deliveries sent"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "delivery round failed"),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), state.alerting.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: &str, channel: &str, key: &str, next: i64) -> DeliveryRow {
        DeliveryRow {
            id: id.into(),
            account_id: "a".into(),
            channel_id: channel.into(),
            alarm_id: None,
            dedup_key: key.into(),
            notice: "{}".into(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: next,
            last_status: None,
            last_error: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_resolve_waits_behind_its_retrying_trigger() {
        let pending = [
            d("1", "c1", "k", 100), // trigger, retrying later
            d("2", "c1", "k", 0),   // its resolve: must wait
            d("3", "c2", "k", 0),   // another channel: goes
            d("4", "c1", "j", 0),   // another alarm: goes
        ];
        let ids: Vec<&str> = due(&pending, 10).iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["3", "4"]);
        let ids: Vec<&str> = due(&pending, 100).iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["1", "3", "4"]);
    }
}
