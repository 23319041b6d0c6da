//! Seeding the plans catalog into the database and reading it back.

use super::columns::{decimal, json};
use super::{Result, StoreError};
use crate::domain::plans::{Catalog, Plan, PlanPrice, parse_rfc3339};
use sqlx::AnyPool;

/// Upserts every plan of the catalog and appends new price-history entries. Nothing is deleted:
/// clusters keep referring to retired plans, and invoices to old prices.
pub async fn seed(pool: &AnyPool, catalog: &Catalog, now: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    for p in &catalog.plans {
        let spec = serde_json::to_string(p).unwrap_or_default();
        sqlx::query(
            "INSERT INTO plans (id, tier, spec, catalog_version, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, spec = excluded.spec, \
             catalog_version = excluded.catalog_version, updated_at = excluded.updated_at",
        )
        .bind(&p.id)
        .bind(p.tier.as_str())
        .bind(spec)
        .bind(catalog.version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for price in &p.prices {
            let from = parse_rfc3339(&price.effective_from).unwrap_or_default();
            sqlx::query(
                "INSERT INTO plan_prices (plan_id, effective_from, monthly_price) VALUES ($1, $2, $3) \
                 ON CONFLICT (plan_id, effective_from) DO NOTHING",
            )
            .bind(&p.id)
            .bind(from)
            .bind(price.monthly.to_string())
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Loads every stored plan (including retired ones) with its full price history.
pub async fn all(pool: &AnyPool) -> Result<Vec<Plan>> {
    let specs: Vec<String> = sqlx::query_scalar("SELECT spec FROM plans ORDER BY id")
        .fetch_all(pool)
        .await?;
    let mut plans = Vec::new();
    for spec in specs {
        let mut p: Plan = json("plan", &spec)?;
        let prices = sqlx::query_as::<_, PriceRow>(
            "SELECT effective_from, monthly_price FROM plan_prices WHERE plan_id = $1 ORDER BY effective_from",
        )
        .bind(&p.id)
        .fetch_all(pool)
        .await?;
        p.prices = prices
            .into_iter()
            .map(PlanPrice::try_from)
            .collect::<Result<_>>()?;
        plans.push(p);
    }
    Ok(plans)
}

/// A `plan_prices` row as stored: the instant in unix seconds, the price as decimal text.
#[derive(sqlx::FromRow)]
struct PriceRow {
    effective_from: i64,
    monthly_price: String,
}

impl TryFrom<PriceRow> for PlanPrice {
    type Error = StoreError;

    fn try_from(r: PriceRow) -> Result<Self> {
        Ok(PlanPrice {
            effective_from: super::rfc3339(r.effective_from),
            monthly: decimal("price", &r.monthly_price)?,
        })
    }
}
