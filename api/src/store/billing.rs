//! Usage segments, downtime intervals and the immutable invoices / credit notes.

use super::columns::{decimal, json};
use super::{Result, StoreError, new_id, rfc3339};
use crate::domain::billing::{Downtime, InvoiceLine, UsageSegment};
use sqlx::AnyConnection;

/// Opens a usage segment for a cluster at `at`.
pub async fn open_segment(c: &mut AnyConnection, account_id: &str, s: &UsageSegment) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_segments (id, account_id, cluster_id, plan_id, dedicated, monthly_price, \
         storage_gb, included_storage_gb, extra_storage_price, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(account_id)
    .bind(&s.cluster_id)
    .bind(&s.plan_id)
    .bind(i64::from(s.dedicated))
    .bind(s.monthly_price.to_string())
    .bind(s.storage_gb)
    .bind(s.included_storage_gb)
    .bind(s.extra_storage_price.to_string())
    .bind(s.started_at)
    .execute(c)
    .await?;
    Ok(())
}

/// Closes the cluster's open segment at `at`, if any.
pub async fn close_segment(c: &mut AnyConnection, cluster_id: &str, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE usage_segments SET ended_at = $2 WHERE cluster_id = $1 AND ended_at IS NULL",
    )
    .bind(cluster_id)
    .bind(at)
    .execute(c)
    .await?;
    Ok(())
}

/// A `usage_segments` row (joined with its cluster's name) as stored: prices as decimal text.
#[derive(sqlx::FromRow)]
struct SegmentRow {
    cluster_id: String,
    cluster_name: String,
    plan_id: String,
    dedicated: i64,
    monthly_price: String,
    storage_gb: i64,
    included_storage_gb: i64,
    extra_storage_price: String,
    started_at: i64,
    ended_at: Option<i64>,
}

impl TryFrom<SegmentRow> for UsageSegment {
    type Error = StoreError;

    fn try_from(r: SegmentRow) -> Result<Self> {
        Ok(UsageSegment {
            cluster_id: r.cluster_id,
            cluster_name: r.cluster_name,
            plan_id: r.plan_id,
            dedicated: r.dedicated != 0,
            monthly_price: decimal("monthly price", &r.monthly_price)?,
            storage_gb: r.storage_gb,
            included_storage_gb: r.included_storage_gb,
            extra_storage_price: decimal("storage price", &r.extra_storage_price)?,
            started_at: r.started_at,
            ended_at: r.ended_at,
        })
    }
}

/// A `downtime` row as stored.
#[derive(sqlx::FromRow)]
struct DowntimeRow {
    cluster_id: String,
    started_at: i64,
    ended_at: Option<i64>,
}

impl From<DowntimeRow> for Downtime {
    fn from(r: DowntimeRow) -> Self {
        Downtime {
            cluster_id: r.cluster_id,
            started_at: r.started_at,
            ended_at: r.ended_at,
        }
    }
}

/// An account's segments overlapping `[start, end)`, oldest first.
pub async fn segments(
    c: &mut AnyConnection,
    account_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<UsageSegment>> {
    let rows = sqlx::query_as::<_, SegmentRow>(
        "SELECT s.*, k.name AS cluster_name FROM usage_segments s JOIN clusters k ON k.id = s.cluster_id \
         WHERE s.account_id = $1 AND s.started_at < $3 AND (s.ended_at IS NULL OR s.ended_at > $2) \
         ORDER BY s.started_at, s.id",
    )
    .bind(account_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(UsageSegment::try_from).collect()
}

/// Opens a downtime interval for a cluster (no-op if one is open).
pub async fn open_downtime(c: &mut AnyConnection, cluster_id: &str, at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO downtime (id, cluster_id, started_at) SELECT $1, $2, $3 \
         WHERE NOT EXISTS (SELECT 1 FROM downtime WHERE cluster_id = $2 AND ended_at IS NULL)",
    )
    .bind(new_id())
    .bind(cluster_id)
    .bind(at)
    .execute(c)
    .await?;
    Ok(())
}

/// Closes a cluster's open downtime interval.
pub async fn close_downtime(c: &mut AnyConnection, cluster_id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE downtime SET ended_at = $2 WHERE cluster_id = $1 AND ended_at IS NULL")
        .bind(cluster_id)
        .bind(at)
        .execute(c)
        .await?;
    Ok(())
}

/// Whether the cluster has an open downtime interval.
pub async fn is_down(c: &mut AnyConnection, cluster_id: &str) -> Result<bool> {
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) AS n FROM downtime WHERE cluster_id = $1 AND ended_at IS NULL",
    )
    .bind(cluster_id)
    .fetch_one(c)
    .await?;
    Ok(open > 0)
}

/// Downtime of an account's clusters overlapping `[start, end)`.
pub async fn downtime(
    c: &mut AnyConnection,
    account_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<Downtime>> {
    let rows = sqlx::query_as::<_, DowntimeRow>(
        "SELECT d.* FROM downtime d JOIN clusters k ON k.id = d.cluster_id WHERE k.account_id = $1 \
         AND d.started_at < $3 AND (d.ended_at IS NULL OR d.ended_at > $2)",
    )
    .bind(account_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(Downtime::from).collect())
}

/// An invoice or credit note as stored.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    /// For credit notes: the invoice corrected.
    pub corrects: Option<String>,
    pub period_start: String,
    pub period_end: String,
    pub issued_at: String,
    pub due_at: String,
    pub payment_terms: String,
    pub po_number: Option<String>,
    pub billing_notes: Option<String>,
    pub currency: String,
    #[schema(value_type = String)]
    pub total: rust_decimal::Decimal,
    pub lines: Vec<InvoiceLine>,
}

/// An invoice to insert (instants as unix seconds).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub account_id: String,
    pub kind: &'static str,
    pub corrects: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub issued_at: i64,
    pub due_at: i64,
    pub payment_terms: String,
    pub po_number: Option<String>,
    pub billing_notes: Option<String>,
    pub total: rust_decimal::Decimal,
    pub lines: Vec<InvoiceLine>,
}

/// An `invoices` row as stored: instants in unix seconds, the total as decimal text, the lines
/// as JSON text.
#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: String,
    kind: String,
    number: String,
    corrects: Option<String>,
    period_start: i64,
    period_end: i64,
    issued_at: i64,
    due_at: i64,
    payment_terms: String,
    po_number: Option<String>,
    billing_notes: Option<String>,
    currency: String,
    total: String,
    lines: String,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = StoreError;

    fn try_from(r: InvoiceRow) -> Result<Self> {
        Ok(Invoice {
            id: r.id,
            kind: r.kind,
            number: r.number,
            corrects: r.corrects,
            period_start: rfc3339(r.period_start),
            period_end: rfc3339(r.period_end),
            issued_at: rfc3339(r.issued_at),
            due_at: rfc3339(r.due_at),
            payment_terms: r.payment_terms,
            po_number: r.po_number,
            billing_notes: r.billing_notes,
            currency: r.currency,
            total: decimal("invoice total", &r.total)?,
            lines: json("invoice lines", &r.lines)?,
        })
    }
}

/// Inserts an invoice; its number is `<prefix>-<yyyymm>-<id tail>`. Never updated afterwards.
pub async fn insert_invoice(c: &mut AnyConnection, i: &NewInvoice) -> Result<String> {
    let id = new_id();
    let prefix = if i.kind == "invoice" { "INV" } else { "CN" };
    let month = time::OffsetDateTime::from_unix_timestamp(i.period_start)
        .map(|t| format!("{:04}{:02}", t.year(), u8::from(t.month())))
        .unwrap_or_default();
    let number = format!("{prefix}-{month}-{}", &id[id.len() - 8..]).to_uppercase();
    sqlx::query(
        "INSERT INTO invoices (id, account_id, kind, number, corrects, period_start, period_end, \
         issued_at, due_at, payment_terms, po_number, billing_notes, currency, total, lines) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'EUR', $13, $14)",
    )
    .bind(&id)
    .bind(&i.account_id)
    .bind(i.kind)
    .bind(&number)
    .bind(&i.corrects)
    .bind(i.period_start)
    .bind(i.period_end)
    .bind(i.issued_at)
    .bind(i.due_at)
    .bind(&i.payment_terms)
    .bind(&i.po_number)
    .bind(&i.billing_notes)
    .bind(i.total.to_string())
    .bind(serde_json::to_string(&i.lines).unwrap_or_default())
    .execute(c)
    .await?;
    Ok(id)
}

/// Loads an account's invoice or credit note.
pub async fn invoice_by_id(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> Result<Option<Invoice>> {
    let row =
        sqlx::query_as::<_, InvoiceRow>("SELECT * FROM invoices WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .fetch_optional(c)
            .await?;
    row.map(Invoice::try_from).transpose()
}

/// Lists an account's invoices and credit notes, newest first.
pub async fn invoices(c: &mut AnyConnection, account_id: &str) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(
        "SELECT * FROM invoices WHERE account_id = $1 ORDER BY id DESC",
    )
    .bind(account_id)
    .fetch_all(c)
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// Sum already credited against an invoice (a positive number).
pub async fn credited(c: &mut AnyConnection, invoice_id: &str) -> Result<rust_decimal::Decimal> {
    let totals: Vec<String> = sqlx::query_scalar("SELECT total FROM invoices WHERE corrects = $1")
        .bind(invoice_id)
        .fetch_all(c)
        .await?;
    let mut sum = rust_decimal::Decimal::ZERO;
    for total in totals {
        sum -= decimal("credit total", &total)?;
    }
    Ok(sum)
}
