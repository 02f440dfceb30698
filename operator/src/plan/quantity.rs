//! Storage quantities in bytes: parse what the catalogue says (`1Ti`, `250Gi`, `500G`) and
//! print what a PVC asks for. Volume sizes are rounded *down* to whole GiB so that the PVCs of a
//! tenant can never add up to more than its tier.

const KI: u64 = 1024;
const MI: u64 = KI * 1024;
const GI: u64 = MI * 1024;
const TI: u64 = GI * 1024;

/// Bytes of a Kubernetes storage quantity, or `None` when it is not one (or overflows).
pub fn parse_bytes(q: &str) -> Option<u64> {
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "Ki" => KI,
        "Mi" => MI,
        "Gi" => GI,
        "Ti" => TI,
        "Pi" => TI * KI,
        "Ei" => TI * MI,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole = int.parse::<u64>().ok()?.checked_mul(multiplier)?;
    // Fractions ("1.5Ti"): exact enough in u128, floored to a byte.
    let mut fraction = 0u64;
    if !frac.is_empty() {
        let digits = frac.len().min(18) as u32;
        let num: u128 = frac[..digits as usize].parse().ok()?;
        fraction = u64::try_from(num * u128::from(multiplier) / 10u128.pow(digits)).ok()?;
    }
    whole.checked_add(fraction)
}

/// Floors `bytes` to whole MiB.
pub fn floor_mib(bytes: u64) -> u64 {
    bytes / MI * MI
}

/// Floors `bytes` to whole GiB: volume sizes people can read (`204Gi`, not `209715Mi`).
pub fn floor_gib(bytes: u64) -> u64 {
    bytes / GI * GI
}

/// The shortest exact binary-suffixed quantity for a size already floored to MiB.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        "0".to_owned()
    } else if bytes.is_multiple_of(TI) {
        format!("{}Ti", bytes / TI)
    } else if bytes.is_multiple_of(GI) {
        format!("{}Gi", bytes / GI)
    } else if bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("1Ti"), Some(TI));
        assert_eq!(parse_bytes("250Gi"), Some(250 * GI));
        assert_eq!(parse_bytes("500G"), Some(500_000_000_000));
        assert_eq!(parse_bytes("1.5Gi"), Some(GI + GI / 2));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("1TB"), None);
        assert_eq!(parse_bytes("Gi"), None);
        assert_eq!(parse_bytes("99999999999Ei"), None);
    }

    #[test]
    fn formats_the_shortest_exact_form() {
        assert_eq!(format_bytes(TI), "1Ti");
        assert_eq!(format_bytes(256 * GI), "256Gi");
        assert_eq!(format_bytes(floor_mib(TI / 10)), "104857Mi");
        assert_eq!(format_bytes(0), "0");
    }
}
