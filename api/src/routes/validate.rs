//! Input validation shared by the routes; failures are 422 naming the field.

use crate::error::{ApiError, ApiResult};

/// A normalised (trimmed, lower-cased) email address.
pub fn email(s: &str) -> ApiResult<String> {
    let e = s.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(ApiError::invalid("email", "not a valid email address"))
    }
}

/// Passwords: 10 to 256 characters.
pub fn password(s: &str) -> ApiResult<()> {
    let n = s.chars().count();
    if (10..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "password",
            "passwords are 10 to 256 characters long",
        ))
    }
}

/// Free-text names: 1 to 100 printable characters.
pub fn display_name(field: &str, s: &str) -> ApiResult<()> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(())
}

/// Cluster names become Kubernetes labels and DNS names: 3 to 40 of `[a-z0-9-]`, starting with a
/// letter and not ending with a hyphen.
pub fn cluster_name(s: &str) -> ApiResult<()> {
    let ok = (3..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            "3-40 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen",
        ))
    }
}

/// Page sizes: 1 to 100, default 20.
pub fn limit(l: Option<i64>) -> ApiResult<i64> {
    match l {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "between 1 and 100")),
    }
}

/// Opaque cursors are ids we issued: 32 hex characters.
pub fn cursor(c: Option<&str>) -> ApiResult<Option<&str>> {
    match c {
        None => Ok(None),
        Some(s) if s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid("cursor", "not a cursor this API issued")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@.c", "a@c."] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cluster_names_reject_sql_and_dns_breakers() {
        assert!(cluster_name("orders-prod").is_ok());
        for bad in [
            "x",
            "Orders",
            "1abc",
            "abc-",
            "a'; DROP TABLE clusters;--",
            "a_b",
            &"a".repeat(41),
        ] {
            assert!(cluster_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(None).unwrap(), 20);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
        assert!(cursor(Some("' OR 1=1 --")).is_err());
        assert_eq!(
            cursor(Some(&"a".repeat(32))).unwrap(),
            Some("a".repeat(32).as_str())
        );
    }
}
