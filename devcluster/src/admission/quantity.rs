//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`), exact to the nano-unit, printed in
//! the apiserver's canonical form so quota messages and `status.used` read as upstream's.

use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A quantity as a number of nano-units, with the format of the value it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;

/// The regular expression upstream names in its validation message.
pub const QUANTITY_RULE: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

impl Quantity {
    pub fn zero() -> Self {
        Self {
            nanos: 0,
            format: Format::DecimalSi,
        }
    }

    pub fn from_int(n: i64) -> Self {
        Self {
            nanos: i128::from(n) * NANO,
            format: Format::DecimalSi,
        }
    }

    /// A JSON string (`"250Gi"`) or number (`10`).
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let (negative, digits) = match num.as_bytes().first() {
            Some(b'-') => (true, &num[1..]),
            Some(b'+') => (false, &num[1..]),
            _ => (false, num),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || int_part.len() + frac_part.len() > 30
        {
            return None;
        }
        let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
        let scale = frac_part.len() as u32;
        // The value is mantissa * num / den nano-units.
        let (num_mult, format): (i128, Format) = match suffix {
            "" => (NANO, Format::DecimalSi),
            "n" => (1, Format::DecimalSi),
            "u" => (1_000, Format::DecimalSi),
            "m" => (1_000_000, Format::DecimalSi),
            "k" => (NANO * 1_000, Format::DecimalSi),
            "M" => (NANO * 1_000_000, Format::DecimalSi),
            "G" => (NANO * 10i128.pow(9), Format::DecimalSi),
            "T" => (NANO * 10i128.pow(12), Format::DecimalSi),
            "P" => (NANO * 10i128.pow(15), Format::DecimalSi),
            "E" => (NANO * 10i128.pow(18), Format::DecimalSi),
            "Ki" => (NANO << 10, Format::BinarySi),
            "Mi" => (NANO << 20, Format::BinarySi),
            "Gi" => (NANO << 30, Format::BinarySi),
            "Ti" => (NANO << 40, Format::BinarySi),
            "Pi" => (NANO << 50, Format::BinarySi),
            "Ei" => (NANO << 60, Format::BinarySi),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..].parse().ok()?;
                if !(-9..=18).contains(&exp) {
                    return None;
                }
                let exp = exp + 9;
                (10i128.pow(exp as u32), Format::DecimalExponent)
            }
            _ => return None,
        };
        let den = 10i128.pow(scale);
        let raw = mantissa.checked_mul(num_mult)?;
        // Below a nano-unit rounds up, as upstream does.
        let mut nanos = raw / den + i128::from(raw % den != 0);
        if negative {
            nanos = -nanos;
        }
        Some(Self { nanos, format })
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// `self + other`; a zero takes the other's format (as `resource.Quantity.Add`).
    pub fn add(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos + other.nanos,
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    /// `self - other`, never below zero (upstream's `SubtractWithNonNegativeResult`).
    pub fn sub_floor(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: (self.nanos - other.nanos).max(0),
            format: self.format,
        }
    }

    pub fn times(self, n: u64) -> Quantity {
        Quantity {
            nanos: self.nanos * i128::from(n),
            format: self.format,
        }
    }

    pub fn max(self, other: Quantity) -> Quantity {
        if other.nanos > self.nanos {
            other
        } else {
            self
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

impl fmt::Display for Quantity {
    /// The canonical form: the largest suffix that keeps an integer mantissa; binary values
    /// below 1024 or with a fraction print in decimal, as `Quantity.String()` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let n = self.nanos.abs();
        let integral = n % NANO == 0;
        if self.format == Format::BinarySi && integral && n >= 1024 * NANO {
            let mut v = n / NANO;
            let mut i = 0;
            while v % 1024 == 0 && i < 6 {
                v /= 1024;
                i += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i];
            return write!(f, "{sign}{v}{suffix}");
        }
        // Decimal: exponents -9, -6, ..., 18 of ten.
        let mut v = n;
        let mut e = 0; // index into the suffixes below, starting at nano
        while v % 1000 == 0 && e < 9 {
            v /= 1000;
            e += 1;
        }
        if self.format == Format::DecimalExponent {
            let exp = 3 * e as i32 - 9;
            return if exp == 0 {
                write!(f, "{sign}{v}")
            } else {
                write!(f, "{sign}{v}e{exp}")
            };
        }
        let suffix = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"][e];
        write!(f, "{sign}{v}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).unwrap().to_string()
    }

    #[test]
    fn canonical_forms_match_upstream() {
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1000Mi"), "1000Mi");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1500m"), "1500m");
        assert_eq!(canon("2000"), "2k");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("512Ki"), "512Ki");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("250Gi"), "250Gi");
        for bad in ["", "abc", "1.2.3", "5Qi", "--1"] {
            assert!(Quantity::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sums_keep_the_first_non_zero_format() {
        let a = Quantity::zero()
            .add(Quantity::parse("100Gi").unwrap())
            .add(Quantity::parse("150Gi").unwrap());
        assert_eq!(a.to_string(), "250Gi");
        let cpu = Quantity::parse("500m").unwrap().times(3);
        assert_eq!(cpu.to_string(), "1500m");
        assert!(Quantity::parse("1Ti").unwrap() > Quantity::parse("1000Gi").unwrap());
    }
}
