//! Usage segments, downtime intervals and the immutable invoices / credit notes.

use super::{Result, decimal, new_id};
use crate::domain::billing::{Downtime, InvoiceLine, UsageSegment};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

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

fn segment(r: &AnyRow) -> Result<UsageSegment> {
    Ok(UsageSegment {
        cluster_id: r.try_get("cluster_id")?,
        cluster_name: r.try_get("cluster_name")?,
        plan_id: r.try_get("plan_id")?,
        dedicated: r.try_get::<i64, _>("dedicated")? != 0,
        monthly_price: decimal("monthly price", &r.try_get::<String, _>("monthly_price")?)?,
        storage_gb: r.try_get("storage_gb")?,
        included_storage_gb: r.try_get("included_storage_gb")?,
        extra_storage_price: decimal(
            "storage price",
            &r.try_get::<String, _>("extra_storage_price")?,
        )?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}

/// An account's segments overlapping `[start, end)`, oldest first.
pub async fn segments(
    c: &mut AnyConnection,
    account_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<UsageSegment>> {
    let rows = sqlx::query(
        "SELECT s.*, k.name AS cluster_name FROM usage_segments s JOIN clusters k ON k.id = s.cluster_id \
         WHERE s.account_id = $1 AND s.started_at < $3 AND (s.ended_at IS NULL OR s.ended_at > $2) \
         ORDER BY s.started_at, s.id",
    )
    .bind(account_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    rows.iter().map(segment).collect()
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
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM downtime WHERE cluster_id = $1 AND ended_at IS NULL",
    )
    .bind(cluster_id)
    .fetch_one(c)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Downtime of an account's clusters overlapping `[start, end)`.
pub async fn downtime(
    c: &mut AnyConnection,
    account_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<Downtime>> {
    let rows = sqlx::query(
        "SELECT d.* FROM downtime d JOIN clusters k ON k.id = d.cluster_id WHERE k.account_id = $1 \
         AND d.started_at < $3 AND (d.ended_at IS NULL OR d.ended_at > $2)",
    )
    .bind(account_id)
    .bind(start)
    .bind(end)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Downtime {
                cluster_id: r.try_get("cluster_id")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
            })
        })
        .collect()
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

fn invoice(r: &AnyRow) -> Result<Invoice> {
    let lines: String = r.try_get("lines")?;
    Ok(Invoice {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        number: r.try_get("number")?,
        corrects: r.try_get("corrects")?,
        period_start: super::rfc3339(r.try_get("period_start")?),
        period_end: super::rfc3339(r.try_get("period_end")?),
        issued_at: super::rfc3339(r.try_get("issued_at")?),
        due_at: super::rfc3339(r.try_get("due_at")?),
        payment_terms: r.try_get("payment_terms")?,
        po_number: r.try_get("po_number")?,
        billing_notes: r.try_get("billing_notes")?,
        currency: r.try_get("currency")?,
        total: decimal("invoice total", &r.try_get::<String, _>("total")?)?,
        lines: serde_json::from_str(&lines).map_err(|e| super::StoreError::Corrupt {
            what: "invoice lines",
            detail: e.to_string(),
        })?,
    })
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
    let row = sqlx::query("SELECT * FROM invoices WHERE id = $1 AND account_id = $2")
        .bind(id)
        .bind(account_id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(invoice).transpose()
}

/// Lists an account's invoices and credit notes, newest first.
pub async fn invoices(c: &mut AnyConnection, account_id: &str) -> Result<Vec<Invoice>> {
    let rows = sqlx::query("SELECT * FROM invoices WHERE account_id = $1 ORDER BY id DESC")
        .bind(account_id)
        .fetch_all(c)
        .await?;
    rows.iter().map(invoice).collect()
}

/// Sum already credited against an invoice (a positive number).
pub async fn credited(c: &mut AnyConnection, invoice_id: &str) -> Result<rust_decimal::Decimal> {
    let rows = sqlx::query("SELECT total FROM invoices WHERE corrects = $1")
        .bind(invoice_id)
        .fetch_all(c)
        .await?;
    let mut sum = rust_decimal::Decimal::ZERO;
    for r in rows {
        sum -= decimal("credit total", &r.try_get::<String, _>("total")?)?;
    }
    Ok(sum)
}
