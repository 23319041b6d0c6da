//! Kubernetes quantities (`10Gi`, `500m`) parsed to numbers, to compare storage sizes.

/// Errors of parsing a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not `<number><suffix>`.
    #[error(
        "parsing quantity {0:?}: expected a number with an optional Ki/Mi/Gi/Ti/Pi/Ei/k/M/G/T/P/E suffix"
    )]
    Malformed(String),
}

const SUFFIXES: &[(&str, u128)] = &[
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000),
];

/// Parses a byte quantity to bytes (fractions are rounded down).
///
/// # Errors
/// [`Error::Malformed`] when the text is not a non-negative number with a known suffix.
pub fn parse_bytes(text: &str) -> Result<u128, Error> {
    let malformed = || Error::Malformed(text.to_string());
    let (number, multiplier) = SUFFIXES
        .iter()
        .find_map(|(suffix, m)| text.strip_suffix(suffix).map(|n| (n, *m)))
        .unwrap_or((text, 1));
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || fraction.len() > 9 {
        return Err(malformed());
    }
    let whole: u128 = whole.parse().map_err(|_| malformed())?;
    let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| malformed())?);
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| malformed())?
    };
    whole
        .checked_mul(multiplier)
        .and_then(|w| w.checked_add(fraction_value * multiplier / scale))
        .ok_or_else(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("10Gi"), Ok(10 << 30));
        assert_eq!(parse_bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_bytes("500M"), Ok(500_000_000));
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("1k"), Ok(1000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "Gi", "-1Gi", "1.2.3Gi", "10GB", "1e3", ".5Gi"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn binary_suffixes_order_like_numbers(a in 0u64..1_000_000, b in 0u64..1_000_000) {
            let qa = parse_bytes(&format!("{a}Mi")).expect("a");
            let qb = parse_bytes(&format!("{b}Gi")).expect("b");
            prop_assert_eq!(qa.cmp(&qb), (u128::from(a)).cmp(&(u128::from(b) * 1024)));
        }
    }
}
