//! Domains and dates as people write them, checked the way DNS and calendars need.

use super::error::PlanError;
use super::hosts::{MAX_LABEL, MAX_NAME};

/// How much of a value a message repeats: enough to recognise it, never a wall of text.
const SHOWN: usize = 80;

/// `value`, cut to its first 80 characters with an ellipsis and the full length when longer.
pub fn shorten(value: &str) -> String {
    match value.char_indices().nth(SHOWN) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}… ({} characters)", &value[..end], value.chars().count()),
    }
}

/// A domain as written (Unicode, lower case) and as DNS carries it (IDNA ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Punycode form, e.g. `xn--salleboeuf-xyz.fr`; what zones, Ingress hosts and mail use.
    pub ascii: String,
    /// Unicode form for people, e.g. `sallebœuf.fr`.
    pub unicode: String,
}

/// IDNA (UTS #46, strict STD3 rules) plus what a registrable domain needs: two labels or
/// more, a non-numeric top-level label, no trailing dot.
pub fn parse_domain(field: &str, value: &str) -> Result<Domain, PlanError> {
    let bad = |reason: &str| PlanError::InvalidDomain {
        field: field.to_owned(),
        value: shorten(value),
        reason: reason.to_owned(),
    };
    if value.is_empty() {
        return Err(bad("empty"));
    }
    if value.ends_with('.') {
        return Err(bad("trailing dot"));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(bad("contains whitespace"));
    }
    let ascii = idna::domain_to_ascii_strict(value)
        .map_err(|_| bad("not a valid internationalized domain name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs at least two labels"));
    }
    if labels.iter().any(|l| l.is_empty() || l.len() > MAX_LABEL) {
        return Err(bad("empty label or a label over 63 characters"));
    }
    if ascii.len() > MAX_NAME {
        return Err(bad("over 253 characters in ASCII (IDNA) form"));
    }
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the top-level label is numeric"));
    }
    let (unicode, _) = idna::domain_to_unicode(&ascii);
    Ok(Domain { ascii, unicode })
}

pub(super) fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<u32>(),
        s[5..7].parse::<u32>(),
        s[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

pub(super) fn invalid(field: &str, value: &str, problem: &str, allowed: &str) -> PlanError {
    PlanError::InvalidValue {
        field: field.to_owned(),
        value: shorten(value),
        problem: problem.to_owned(),
        allowed: allowed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_go_through_idna() {
        let d = parse_domain("spec.domain", "Sallebœuf.fr").unwrap();
        assert_eq!(d.ascii, "xn--sallebuf-ptb.fr");
        assert_eq!(d.unicode, "sallebœuf.fr");
        for (bad, why) in [
            ("fr", "two labels"),
            ("exa mple.fr", "whitespace"),
            ("example.fr.", "trailing dot"),
            ("ex_ample.fr", "internationalized"),
            ("example.123", "numeric"),
            ("-example.fr", "internationalized"),
        ] {
            let err = parse_domain("spec.domain", bad).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("spec.domain") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn calendar_dates_must_exist() {
        assert!(is_calendar_date("2017-10-17"));
        assert!(is_calendar_date("2024-02-29"));
        assert!(!is_calendar_date("2023-02-29"));
        assert!(!is_calendar_date("2017-13-01"));
        assert!(!is_calendar_date("17-10-2017"));
    }
}
