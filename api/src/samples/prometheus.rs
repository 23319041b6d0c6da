//! Reading the plotted series from a Prometheus server instead of the API's own samples (when
//! `--prometheus-url` is set): one PromQL `query_range` per series and label grouping, the
//! cluster's brokers selected by the `cluster` (KafkaCluster name) and `namespace` labels the
//! chart's PodMonitor gives them. The queries and the answer's decoding are pure; `read` is the
//! HTTP GET.

use super::scrape::HttpClient;
use super::series::Series;
use crate::routes::cluster_metrics::SeriesView;
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest answer read from Prometheus.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Why Prometheus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("query prometheus: no answer within {0:?}")]
    Timeout(Duration),
    #[error("query prometheus: {0}")]
    Http(String),
    #[error("decode prometheus answer: {0}")]
    Decode(String),
}

/// A Prometheus server the plots are read from.
pub struct PrometheusSource {
    /// `http://host:port` (a path prefix is kept), without a trailing slash.
    base: String,
    client: HttpClient,
    timeout: Duration,
    /// The range of `rate()`: at least four scrape intervals of the brokers.
    rate_window: String,
}

impl PrometheusSource {
    /// A source at `base` (`http://...`; HTTPS is not supported by this client).
    pub fn new(base: &str, timeout: Duration, rate_window: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(format!(
                "prometheus URL must be http://host:port, not {base:?}"
            ));
        }
        if !valid_duration(rate_window) {
            return Err(format!(
                "prometheus rate window must be a duration like 1m or 30s, not {rate_window:?}"
            ));
        }
        Ok(Self {
            base,
            client: super::scrape::http_client(),
            timeout,
            rate_window: rate_window.to_string(),
        })
    }

    /// The series of the KafkaCluster `resource` in `namespace` from `start` to `end` (unix
    /// seconds) at `step` seconds.
    pub async fn read(
        &self,
        series: Series,
        namespace: &str,
        resource: &str,
        (start, end, step): (i64, i64, i64),
    ) -> Result<Vec<SeriesView>, PrometheusError> {
        let selector = selector(namespace, resource);
        let mut out = Vec::new();
        for query in queries(series, &selector, &self.rate_window) {
            let qs = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", &query)
                .append_pair("start", &start.to_string())
                .append_pair("end", &end.to_string())
                .append_pair("step", &step.to_string())
                .finish();
            let body = self
                .get(&format!("{}/api/v1/query_range?{qs}", self.base))
                .await?;
            out.extend(decode(series, &body)?);
        }
        Ok(out)
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, PrometheusError> {
        let fetch = async {
            let uri: hyper::Uri = url
                .parse()
                .map_err(|e| PrometheusError::Http(format!("bad URL: {e}")))?;
            let resp = self
                .client
                .get(uri)
                .await
                .map_err(|e| PrometheusError::Http(e.to_string()))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| PrometheusError::Http(format!("read body: {e}")))?
                .to_bytes();
            // A 4xx from Prometheus is a query it refused: say what it said.
            if !status.is_success() {
                return Err(PrometheusError::Http(format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )));
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .map_err(|_| PrometheusError::Timeout(self.timeout))?
    }
}

fn valid_duration(d: &str) -> bool {
    let Some(unit) = d.chars().last() else {
        return false;
    };
    let n = &d[..d.len() - unit.len_utf8()];
    matches!(unit, 's' | 'm' | 'h')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && n.parse::<u32>().is_ok_and(|n| n > 0)
}

/// The label matchers of one cluster's brokers, values escaped as PromQL strings.
pub fn selector(namespace: &str, resource: &str) -> String {
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "cluster=\"{}\",namespace=\"{}\"",
        esc(resource),
        esc(namespace)
    )
}

/// The PromQL of `series`: the cluster's total and, for throughput, the per-topic split; the
/// labels each query groups by are the labels the API's own samples carry.
pub fn queries(series: Series, sel: &str, w: &str) -> Vec<String> {
    let rate_pair = |total: &str, per_topic: &str| {
        vec![
            format!("sum(rate({total}{{{sel}}}[{w}]))"),
            format!("sum by (topic) (rate({per_topic}{{{sel}}}[{w}]))"),
        ]
    };
    let by = |labels: &str, agg: &str, metric: &str| {
        vec![if labels.is_empty() {
            format!("{agg}({metric}{{{sel}}})")
        } else {
            format!("{agg} by ({labels}) ({metric}{{{sel}}})")
        }]
    };
    match series {
        Series::ProduceThroughput => rate_pair("eddy_bytes_in_total", "eddy_topic_bytes_in_total"),
        Series::ConsumeThroughput => {
            rate_pair("eddy_bytes_out_total", "eddy_topic_bytes_out_total")
        }
        Series::MessagesIn => rate_pair("eddy_messages_in_total", "eddy_topic_messages_in_total"),
        Series::RequestLatencyP99 => vec![format!(
            "histogram_quantile(0.99, sum by (api, le) (rate(eddy_request_duration_seconds_bucket{{{sel}}}[{w}])))"
        )],
        Series::Partitions => by("broker", "sum", "eddy_partitions"),
        Series::DiskUsed => by("broker, dir", "sum", "eddy_log_dir_used_bytes"),
        Series::DiskFree => by("broker, dir", "sum", "eddy_log_dir_free_bytes"),
        Series::UnderReplicatedPartitions => by("", "sum", "eddy_under_replicated_partitions"),
        Series::UnderMinIsrPartitions => by("", "sum", "eddy_under_min_isr_partitions"),
        // The controller reports offline partitions; every broker would repeat its own view.
        Series::OfflinePartitions => by("", "max", "eddy_offline_partitions"),
        Series::ActiveControllers => by("", "sum", "eddy_active_controller"),
        Series::ConsumerLag => by("group", "sum", "eddy_consumer_lag"),
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<Matrix>,
}

#[derive(Deserialize)]
struct Matrix {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// Decodes a `query_range` answer into one view per label set; NaN and infinite values (a
/// quantile of no requests) are left out, as the sampler leaves such points out.
pub fn decode(series: Series, body: &[u8]) -> Result<Vec<SeriesView>, PrometheusError> {
    let a: Answer =
        serde_json::from_slice(body).map_err(|e| PrometheusError::Decode(e.to_string()))?;
    if a.status != "success" {
        return Err(PrometheusError::Decode(
            a.error.unwrap_or_else(|| format!("status {}", a.status)),
        ));
    }
    let data = a
        .data
        .ok_or_else(|| PrometheusError::Decode("no data".into()))?;
    if data.result_type != "matrix" {
        return Err(PrometheusError::Decode(format!(
            "expected a matrix, got {}",
            data.result_type
        )));
    }
    Ok(data
        .result
        .into_iter()
        .map(|m| SeriesView {
            name: series.name().to_string(),
            labels: m.metric.into_iter().filter(|(k, _)| k != "__name__").collect(),
            unit: series.unit().to_string(),
            #[allow(clippy::cast_possible_truncation)] // whole seconds at our steps
            points: m
                .values
                .into_iter()
                .filter_map(|(t, v)| {
                    let v: f64 = v.parse().ok()?;
                    v.is_finite().then_some((t as i64, v))
                })
                .collect(),
        })
        .filter(|v| !v.points.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_escape_and_queries_group_like_the_samples() {
        let sel = selector("ns", "a\"b");
        assert_eq!(sel, r#"cluster="a\"b",namespace="ns""#);
        let q = queries(Series::ProduceThroughput, "cluster=\"c\"", "1m");
        assert_eq!(
            q,
            vec![
                r#"sum(rate(eddy_bytes_in_total{cluster="c"}[1m]))"#,
                r#"sum by (topic) (rate(eddy_topic_bytes_in_total{cluster="c"}[1m]))"#
            ]
        );
        assert_eq!(
            queries(Series::ConsumerLag, "x=\"1\"", "1m"),
            vec![r#"sum by (group) (eddy_consumer_lag{x="1"})"#]
        );
        for s in Series::ALL {
            for q in queries(s, "cluster=\"c\"", "30s") {
                assert!(q.contains("eddy_") && q.contains("{cluster=\"c\"}"), "{q}");
            }
        }
    }

    #[test]
    fn answers_decode_into_views_without_nan() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"api":"Produce"},"values":[[1700000000,"0.004"],[1700000015,"NaN"]]},
            {"metric":{"api":"Fetch"},"values":[[1700000000,"NaN"]]}]}}"#;
        let v = decode(Series::RequestLatencyP99, body).unwrap_or_default();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].labels["api"], "Produce");
        assert_eq!(v[0].points, vec![(1_700_000_000, 0.004)]);
        assert_eq!(v[0].unit, "seconds");
        let err = decode(
            Series::Partitions,
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        );
        assert!(matches!(err, Err(PrometheusError::Decode(e)) if e == "parse error"));
        assert!(decode(Series::Partitions, b"<html>").is_err());
    }

    #[test]
    fn only_plain_http_urls_and_durations_are_accepted() {
        let t = Duration::from_secs(1);
        assert!(PrometheusSource::new("http://127.0.0.1:9090/", t, "1m").is_ok());
        assert!(PrometheusSource::new("https://p:9090", t, "1m").is_err());
        assert!(PrometheusSource::new("ftp://p", t, "1m").is_err());
        for bad in ["", "m", "0m", "1d", "1.5m", "-1m"] {
            assert!(
                PrometheusSource::new("http://p:9090", t, bad).is_err(),
                "{bad}"
            );
        }
    }
}
