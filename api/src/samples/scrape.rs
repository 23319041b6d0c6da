//! Reading one broker: an HTTP GET of its admin port's `/metrics` with a deadline, and the
//! Prometheus text format (parsed by the `prometheus-parse` crate) reduced to a `BrokerReading`.

use super::compute::{BrokerReading, CounterKey};
use super::series::Series;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prometheus_parse::{Scrape, Value};
use std::time::Duration;

/// Largest `/metrics` body read (a broker with thousands of topics stays well below).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a broker could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("scrape {url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("scrape {url}: {detail}")]
    Http { url: String, detail: String },
    #[error("parse metrics of {url}: {detail}")]
    Parse { url: String, detail: String },
}

/// The HTTP client the sampler shares between scrapes.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for plain-HTTP scrapes.
pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GETs `http://{host}:{port}/metrics` within `timeout` (connect, headers and body) and reduces it.
pub async fn scrape(
    client: &HttpClient,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<BrokerReading, ScrapeError> {
    // An IPv6 literal needs brackets in a URL.
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = format!("http://{authority}/metrics");
    let http = |detail: String| ScrapeError::Http {
        url: url.clone(),
        detail,
    };
    let fetch = async {
        let uri: hyper::Uri = url.parse().map_err(|e| http(format!("bad URL: {e}")))?;
        let resp = client.get(uri).await.map_err(|e| http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(http(format!("status {}", resp.status())));
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| http(format!("read body: {e}")))?
            .to_bytes();
        Ok(body)
    };
    let body = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| ScrapeError::Timeout {
            url: url.clone(),
            timeout,
        })??;
    let text = String::from_utf8_lossy(&body);
    reading_from_text(&text).map_err(|detail| ScrapeError::Parse { url, detail })
}

/// Reduces a `/metrics` body to what the plots need.
pub fn reading_from_text(text: &str) -> Result<BrokerReading, String> {
    let scrape =
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| e.to_string())?;
    let mut r = BrokerReading::default();
    for s in scrape.samples {
        let value = match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
            Value::Histogram(_) | Value::Summary(_) => None,
        };
        let counter = |series, topic: Option<&str>| CounterKey {
            series,
            topic: topic.map(str::to_string),
        };
        match (s.metric.as_str(), value) {
            ("eddy_bytes_in_total", Some(v)) => {
                r.counters
                    .insert(counter(Series::ProduceThroughput, None), v);
            }
            ("eddy_bytes_out_total", Some(v)) => {
                r.counters
                    .insert(counter(Series::ConsumeThroughput, None), v);
            }
            ("eddy_messages_in_total", Some(v)) => {
                r.counters.insert(counter(Series::MessagesIn, None), v);
            }
            ("eddy_topic_bytes_in_total", Some(v)) => {
                r.counters
                    .insert(counter(Series::ProduceThroughput, s.labels.get("topic")), v);
            }
            ("eddy_topic_bytes_out_total", Some(v)) => {
                r.counters
                    .insert(counter(Series::ConsumeThroughput, s.labels.get("topic")), v);
            }
            ("eddy_topic_messages_in_total", Some(v)) => {
                r.counters
                    .insert(counter(Series::MessagesIn, s.labels.get("topic")), v);
            }
            ("eddy_partitions", Some(v)) => r.partitions = Some(v),
            ("eddy_under_replicated_partitions", Some(v)) => r.under_replicated = Some(v),
            ("eddy_under_min_isr_partitions", Some(v)) => r.under_min_isr = Some(v),
            ("eddy_offline_partitions", Some(v)) => r.offline = Some(v),
            ("eddy_active_controller", Some(v)) => r.active_controller = Some(v),
            ("eddy_log_dir_used_bytes", Some(v)) => {
                if let Some(dir) = s.labels.get("dir") {
                    r.disk_used.insert(dir.to_string(), v);
                }
            }
            ("eddy_log_dir_free_bytes", Some(v)) => {
                if let Some(dir) = s.labels.get("dir") {
                    r.disk_free.insert(dir.to_string(), v);
                }
            }
            ("eddy_consumer_lag", Some(v)) => {
                if let Some(group) = s.labels.get("group") {
                    *r.lag_by_group.entry(group.to_string()).or_default() += v;
                }
            }
            ("eddy_request_duration_seconds", None) => {
                if let (Value::Histogram(h), Some(api)) = (&s.value, s.labels.get("api")) {
                    let mut buckets: Vec<(f64, f64)> =
                        h.iter().map(|b| (b.less_than, b.count)).collect();
                    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    r.latency.insert(api.to_string(), buckets);
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"# HELP eddy_bytes_in_total Record bytes appended by producers
# TYPE eddy_bytes_in_total counter
eddy_bytes_in_total 1200
# TYPE eddy_bytes_out_total counter
eddy_bytes_out_total 300
# TYPE eddy_messages_in_total counter
eddy_messages_in_total 12
# TYPE eddy_topic_bytes_in_total counter
eddy_topic_bytes_in_total{topic="a"} 1000
eddy_topic_bytes_in_total{topic="b"} 200
# TYPE eddy_partitions gauge
eddy_partitions 3
# TYPE eddy_under_replicated_partitions gauge
eddy_under_replicated_partitions 1
# TYPE eddy_under_min_isr_partitions gauge
eddy_under_min_isr_partitions 2
# TYPE eddy_offline_partitions gauge
eddy_offline_partitions 0
# TYPE eddy_active_controller gauge
eddy_active_controller 1
# TYPE eddy_log_dir_used_bytes gauge
eddy_log_dir_used_bytes{dir="/data"} 4096
# TYPE eddy_log_dir_free_bytes gauge
eddy_log_dir_free_bytes{dir="/data"} 1000000
# TYPE eddy_consumer_lag gauge
eddy_consumer_lag{group="g",partition="0",topic="a"} 4
eddy_consumer_lag{group="g",partition="1",topic="a"} 6
eddy_consumer_lag{group="h",partition="0",topic="b"} 1
# TYPE eddy_request_duration_seconds histogram
eddy_request_duration_seconds_bucket{api="Produce",le="0.01"} 5
eddy_request_duration_seconds_bucket{api="Produce",le="0.1"} 9
eddy_request_duration_seconds_bucket{api="Produce",le="+Inf"} 10
eddy_request_duration_seconds_sum{api="Produce"} 0.3
eddy_request_duration_seconds_count{api="Produce"} 10
"#;

    #[test]
    fn a_broker_body_reduces_to_the_plotted_values() {
        let r = reading_from_text(BODY).expect("parse");
        let key = |series, topic: Option<&str>| CounterKey {
            series,
            topic: topic.map(str::to_string),
        };
        assert_eq!(r.counters[&key(Series::ProduceThroughput, None)], 1200.0);
        assert_eq!(r.counters[&key(Series::ConsumeThroughput, None)], 300.0);
        assert_eq!(r.counters[&key(Series::MessagesIn, None)], 12.0);
        assert_eq!(
            r.counters[&key(Series::ProduceThroughput, Some("b"))],
            200.0
        );
        assert_eq!(r.partitions, Some(3.0));
        assert_eq!((r.under_replicated, r.offline), (Some(1.0), Some(0.0)));
        assert_eq!(
            (r.under_min_isr, r.active_controller),
            (Some(2.0), Some(1.0))
        );
        assert_eq!(r.disk_used["/data"], 4096.0);
        assert_eq!(r.disk_free["/data"], 1_000_000.0);
        assert_eq!(r.lag_by_group["g"], 10.0);
        assert_eq!(r.lag_by_group["h"], 1.0);
        assert_eq!(
            r.latency["Produce"],
            vec![(0.01, 5.0), (0.1, 9.0), (f64::INFINITY, 10.0)]
        );
    }

    #[test]
    fn an_empty_or_foreign_body_reads_as_nothing() {
        assert_eq!(
            reading_from_text("").expect("parse"),
            BrokerReading::default()
        );
        let other = reading_from_text("# TYPE up gauge\nup 1\n").expect("parse");
        assert_eq!(other, BrokerReading::default());
    }
}
