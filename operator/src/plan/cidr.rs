//! Networks in CIDR notation, as a NetworkPolicy `ipBlock` and a LoadBalancer's
//! `loadBalancerSourceRanges` take them: the CRD pattern only shapes them, this parses them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::api::patterns::MAX_NAS_NETWORKS;

use super::domain::invalid;
use super::error::PlanError;

/// The shortest prefixes admitted: SMB is for known networks, never a large part of the
/// Internet.
const MIN_PREFIX_V4: u8 = 8;
const MIN_PREFIX_V6: u8 = 32;

const ALLOWED: &str = "a network address in CIDR notation such as 192.0.2.0/24 or 2001:db8:42::/48 (host bits zero, at least /8 for IPv4 and /32 for IPv6)";

/// Checks the networks of `field` (e.g. `spec.nas.allowedNetworks`): at most 32, distinct,
/// each a network address with its prefix length.
pub fn parse_networks(field: &str, networks: &[String]) -> Result<Vec<String>, PlanError> {
    if networks.len() > MAX_NAS_NETWORKS {
        return Err(invalid(
            field,
            &format!("{} networks", networks.len()),
            "lists too many networks",
            &format!("at most {MAX_NAS_NETWORKS} networks"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, n) in networks.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let (address, prefix) =
            parse_one(n).map_err(|problem| invalid(&at, n, problem, ALLOWED))?;
        if !seen.insert((address, prefix)) {
            return Err(invalid(&at, n, "is listed twice", "distinct networks"));
        }
    }
    Ok(networks.to_vec())
}

fn parse_one(network: &str) -> Result<(IpAddr, u8), &'static str> {
    let (address, prefix) = network.split_once('/').ok_or("has no prefix length (/N)")?;
    let address: IpAddr = address.parse().map_err(|_| "is not an IP address")?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| "has a prefix length that is not a number")?;
    let (bits, min) = match address {
        IpAddr::V4(_) => (32, MIN_PREFIX_V4),
        IpAddr::V6(_) => (128, MIN_PREFIX_V6),
    };
    if prefix > bits {
        return Err("has a prefix length longer than the address");
    }
    if prefix < min {
        return Err("is too large a network for SMB");
    }
    let host_bits = match address {
        IpAddr::V4(a) => u128::from(u32::from(a)) & mask_after(96 + u32::from(prefix)),
        IpAddr::V6(a) => u128::from(a) & mask_after(u32::from(prefix)),
    };
    if host_bits != 0 {
        return Err("has host bits set (not the network's address)");
    }
    Ok((address, prefix))
}

/// The bits of a 128-bit value after the first `bits`.
fn mask_after(bits: u32) -> u128 {
    u128::MAX.checked_shr(bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(n: &str) -> Result<Vec<String>, String> {
        parse_networks("spec.nas.allowedNetworks", &[n.to_owned()]).map_err(|e| e.to_string())
    }

    #[test]
    fn network_addresses_pass() {
        for n in [
            "192.0.2.0/24",
            "10.8.0.0/16",
            "198.51.100.7/32",
            "2001:db8:42::/48",
            "fd00::/32",
        ] {
            assert_eq!(check(n), Ok(vec![n.to_owned()]), "{n}");
        }
    }

    #[test]
    fn each_fault_is_named_with_the_field_and_value() {
        for (n, problem) in [
            ("192.0.2.0", "has no prefix length"),
            ("192.0.2.300/24", "is not an IP address"),
            ("192.0.2.0/33", "longer than the address"),
            ("192.0.2.1/24", "host bits set"),
            ("0.0.0.0/0", "too large a network"),
            ("2001:db8::/16", "too large a network"),
            ("2001:db8::1/64", "host bits set"),
            ("192.0.2.0/x", "not a number"),
        ] {
            let e = check(n).unwrap_err();
            assert!(
                e.contains("spec.nas.allowedNetworks[0]") && e.contains(n) && e.contains(problem),
                "{n}: {e}"
            );
            assert!(e.contains("CIDR notation"), "{e}");
        }
    }

    #[test]
    fn duplicates_and_long_lists_are_refused() {
        let twice = ["10.0.0.0/8".to_owned(), "10.0.0.0/8".to_owned()];
        let e = parse_networks("f", &twice).unwrap_err().to_string();
        assert!(e.contains("f[1]") && e.contains("listed twice"), "{e}");
        let many: Vec<String> = (0..33).map(|i| format!("10.{i}.0.0/16")).collect();
        let e = parse_networks("f", &many).unwrap_err().to_string();
        assert!(e.contains("33 networks") && e.contains("at most 32"), "{e}");
        assert!(parse_networks("f", &many[..32]).is_ok());
    }
}
