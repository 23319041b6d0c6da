//! Invoices and credit notes: generate a closed month's invoice (immutable once issued), list and
//! read them, and correct them with credit notes.

use crate::auth::extract::Principal;
use crate::domain::billing::{self, PaymentTerms, Period};
use crate::domain::roles::Permission;
use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::state::AppState;
use crate::store::billing::{Invoice, NewInvoice};
use crate::store::{self, accounts, audit};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// Routes under `/v1/invoices`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/invoices", get(list_invoices).post(generate_invoice))
        .route("/v1/invoices/{id}", get(get_invoice))
        .route("/v1/invoices/{id}/credit-notes", post(credit_note))
}

/// Which month to invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    pub year: i32,
    pub month: u8,
}

/// A correction of an issued invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteRequest {
    /// Positive amount to credit, in the invoice's currency.
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub reason: String,
}

/// Issues the invoice of a closed calendar month. A month is invoiced once (409 after that).
#[utoipa::path(post, path = "/v1/invoices", tag = "billing", security(("bearer" = [])), request_body = InvoiceRequest,
    responses((status = 201, body = Invoice), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn generate_invoice(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(req): ApiJson<InvoiceRequest>,
) -> ApiResult<(StatusCode, Json<Invoice>)> {
    p.require(Permission::WriteBilling)?;
    let period = Period::month(req.year, req.month)
        .map_err(|e| ApiError::invalid("month", e.to_string()))?;
    let now = store::now();
    if period.end > now {
        return Err(ApiError::invalid(
            "month",
            "only closed months can be invoiced",
        ));
    }
    let mut tx = state.db.pool.begin().await?;
    let account = accounts::account_by_id(&mut tx, &p.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("account".into()))?;
    let segments =
        store::billing::segments(&mut tx, &p.account_id, period.start, period.end).await?;
    let mut downtime =
        store::billing::downtime(&mut tx, &p.account_id, period.start, period.end).await?;
    // The SLA probe's evidence: minutes whose every write failed (issue 18).
    downtime.extend(
        store::sla::account_downtime(&mut tx, &p.account_id, period.start, period.end).await?,
    );
    let lines = billing::invoice_lines(&period, &segments, &downtime);
    let terms = PaymentTerms::parse(&account.payment_terms).unwrap_or(PaymentTerms::Card);
    let inv = NewInvoice {
        account_id: p.account_id.clone(),
        kind: "invoice",
        corrects: None,
        period_start: period.start,
        period_end: period.end,
        issued_at: now,
        due_at: terms.due_at(now),
        payment_terms: terms.as_str().into(),
        po_number: account.po_number,
        billing_notes: account.billing_notes,
        total: billing::total(&lines),
        lines,
    };
    let id = match store::billing::insert_invoice(&mut tx, &inv).await {
        Err(store::StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "already_invoiced",
                "this month has been invoiced; correct it with a credit note",
            ));
        }
        other => other?,
    };
    audit::record(
        &mut tx,
        &p.actor(),
        "invoice.issue",
        &id,
        &json!({"year": req.year, "month": req.month, "total": inv.total}),
        now,
    )
    .await?;
    let stored = store::billing::invoice_by_id(&mut tx, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::Internal("invoice vanished".into()))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Invoices and credit notes, newest first.
#[utoipa::path(get, path = "/v1/invoices", tag = "billing", security(("bearer" = [])), responses((status = 200, body = [Invoice])))]
pub async fn list_invoices(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<Invoice>>> {
    p.require(Permission::ReadBilling)?;
    let mut c = state.db.pool.acquire().await?;
    Ok(Json(store::billing::invoices(&mut c, &p.account_id).await?))
}

/// One invoice or credit note.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "billing", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = crate::error::Problem)))]
pub async fn get_invoice(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Invoice>> {
    p.require(Permission::ReadBilling)?;
    let mut c = state.db.pool.acquire().await?;
    let inv = store::billing::invoice_by_id(&mut c, &p.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
    Ok(Json(inv))
}

/// Issues a credit note against an invoice (never more than is left uncredited).
#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", tag = "billing", security(("bearer" = [])), request_body = CreditNoteRequest,
    params(("id" = String, Path)),
    responses((status = 201, body = Invoice), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn credit_note(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreditNoteRequest>,
) -> ApiResult<(StatusCode, Json<Invoice>)> {
    p.require(Permission::WriteBilling)?;
    crate::routes::validate::display_name("reason", &req.reason)?;
    let now = store::now();
    let mut tx = state.db.pool.begin().await?;
    let inv = store::billing::invoice_by_id(&mut tx, &p.account_id, &id)
        .await?
        .filter(|i| i.kind == "invoice")
        .ok_or_else(|| ApiError::NotFound("invoice".into()))?;
    let credited = store::billing::credited(&mut tx, &inv.id).await?;
    let line = billing::credit_note_line(inv.total, credited, req.amount, req.reason.trim())?;
    let period_start = crate::domain::plans::parse_rfc3339(&inv.period_start).unwrap_or_default();
    let period_end = crate::domain::plans::parse_rfc3339(&inv.period_end).unwrap_or_default();
    let terms = PaymentTerms::parse(&inv.payment_terms).unwrap_or(PaymentTerms::Card);
    let note = NewInvoice {
        account_id: p.account_id.clone(),
        kind: "credit_note",
        corrects: Some(inv.id.clone()),
        period_start,
        period_end,
        issued_at: now,
        due_at: terms.due_at(now),
        payment_terms: inv.payment_terms.clone(),
        po_number: inv.po_number.clone(),
        billing_notes: inv.billing_notes.clone(),
        total: line.amount,
        lines: vec![line],
    };
    let note_id = store::billing::insert_invoice(&mut tx, &note).await?;
    audit::record(
        &mut tx,
        &p.actor(),
        "invoice.credit",
        &inv.id,
        &json!({"credit_note": note_id, "amount": req.amount}),
        now,
    )
    .await?;
    let stored = store::billing::invoice_by_id(&mut tx, &p.account_id, &note_id)
        .await?
        .ok_or_else(|| ApiError::Internal("credit note vanished".into()))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(stored)))
}
