//! How stored columns decode into domain values: roles, cluster and operation states stored by
//! name (decoded by sqlx, so row types hold the enums), decimals and JSON stored as text.

use super::StoreError;
use crate::domain::operations::{ClusterState, OpKind, OpState};
use crate::domain::roles::Role;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, any::AnyTypeInfo};

/// A stored name that no variant of its enum has.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
}

/// Each enum is a TEXT column holding its name: it decodes (through its `parse`) and encodes
/// like a string, so row types hold the enum itself.
macro_rules! stored_by_name {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl sqlx::Type<Any> for $t {
            fn type_info() -> AnyTypeInfo {
                <str as sqlx::Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <str as sqlx::Type<Any>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, Any> for $t {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let name = <&str as sqlx::Decode<Any>>::decode(value)?;
                <$t>::parse(name).ok_or_else(|| {
                    UnknownName {
                        what: $what,
                        name: name.to_string(),
                    }
                    .into()
                })
            }
        }
    )*};
}

stored_by_name!(
    Role => "role",
    ClusterState => "cluster state",
    OpKind => "operation kind",
    OpState => "operation state",
);

/// Parses a stored decimal (kept as TEXT so both backends store it exactly).
pub fn decimal(what: &'static str, s: &str) -> super::Result<rust_decimal::Decimal> {
    s.parse()
        .map_err(|e: rust_decimal::Error| StoreError::Corrupt {
            what: what.into(),
            detail: e.to_string(),
        })
}

/// Parses a stored JSON column.
pub fn json<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> super::Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what: what.into(),
        detail: e.to_string(),
    })
}
