//! Load-balancer addresses, as a cloud provider (or MetalLB) hands them out: each
//! LoadBalancer Service gets its own address from a pool, kept for the Service's life and free
//! again once it is gone; Ingresses share the one address of the ingress controller.

use crate::state::State;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 range in CIDR notation, e.g. `198.51.100.0/24` (the default: TEST-NET-2, an
/// address block reserved for documentation, so no test ever reaches a real host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Pool {
    network: u32,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid load-balancer address pool {value:?}: {why} (expected an IPv4 CIDR such as 198.51.100.0/24, prefix 8 to 32)"
)]
pub struct PoolError {
    value: String,
    why: &'static str,
}

impl Ipv4Pool {
    /// The pool of `network/prefix`; host bits of `network` must be zero.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self, PoolError> {
        let err = |why| PoolError {
            value: format!("{network}/{prefix}"),
            why,
        };
        if !(8..=32).contains(&prefix) {
            return Err(err("the prefix length is out of range"));
        }
        let n = u32::from(network);
        if n & !mask(prefix) != 0 {
            return Err(err("the address has host bits set"));
        }
        Ok(Self { network: n, prefix })
    }

    /// Addresses handed out: all of the range but its network and broadcast addresses (for
    /// prefixes up to /30), in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u64 << (32 - self.prefix);
        let (first, last) = if size >= 4 {
            (1, size - 2)
        } else {
            (0, size - 1)
        };
        let base = u64::from(self.network);
        (first..=last).map(move |i| Ipv4Addr::from((base + i) as u32))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.network
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

impl Default for Ipv4Pool {
    fn default() -> Self {
        Self::new(Ipv4Addr::new(198, 51, 100, 0), 24).expect("valid default pool")
    }
}

impl fmt::Display for Ipv4Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

impl FromStr for Ipv4Pool {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, PoolError> {
        let err = |why| PoolError {
            value: s.to_string(),
            why,
        };
        let (ip, prefix) = s.split_once('/').ok_or_else(|| err("no /prefix"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| err("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| err("the prefix length is not a number"))?;
        Self::new(ip, prefix).map_err(|e| PoolError {
            value: s.to_string(),
            ..e
        })
    }
}

pub fn lb_ip(svc: &Value) -> Option<Ipv4Addr> {
    svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()?
        .parse()
        .ok()
}

/// The address of a LoadBalancer Service: the one it already has, else the one it asks for in
/// `spec.loadBalancerIP` when free, else the lowest free address; `None` when the pool is used
/// up (the Service stays pending, as on a cloud without capacity).
pub fn allocate(
    st: &State,
    pool: &Ipv4Pool,
    ns: &str,
    name: &str,
    svc: &Value,
) -> Option<Ipv4Addr> {
    let mut taken = BTreeSet::new();
    for ((ons, oname), s) in st.store.list("/services", None, None) {
        if (ons.as_str(), oname.as_str()) == (ns, name) {
            continue;
        }
        if let Some(ip) = s.idx.load_balancer.and_then(|lb| lb.ip) {
            taken.insert(ip);
        }
    }
    let usable = |ip: &Ipv4Addr| pool.contains(*ip) && !taken.contains(ip);
    if let Some(ip) = lb_ip(svc).filter(usable) {
        return Some(ip);
    }
    let wanted = svc["spec"]["loadBalancerIP"]
        .as_str()
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    if let Some(ip) = wanted.filter(usable) {
        return Some(ip);
    }
    pool.addresses().find(|ip| !taken.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_and_refuse_with_the_reason() {
        let p: Ipv4Pool = "203.0.113.0/30".parse().unwrap();
        let all: Vec<Ipv4Addr> = p.addresses().collect();
        assert_eq!(
            all,
            [Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 2)]
        );
        let e = "198.51.100.7/24".parse::<Ipv4Pool>().unwrap_err();
        assert!(
            e.to_string()
                .contains("\"198.51.100.7/24\": the address has host bits set"),
            "{e}"
        );
        assert!("10.0.0.0".parse::<Ipv4Pool>().is_err());
        assert!("10.0.0.0/40".parse::<Ipv4Pool>().is_err());
        assert_eq!(Ipv4Pool::default().to_string(), "198.51.100.0/24");
    }
}
