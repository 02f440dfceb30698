//! The catalogue's outbound mail declaration, checked: what the CRD's CEL rule states
//! (exactly one way out) re-checked for older API servers, and what it cannot (addresses
//! parse, the relay and the SPF include are DNS names).

use std::net::IpAddr;

use hickory_proto::rr::Name;

use super::domain::{invalid, parse_domain};
use super::error::PlanError;
use crate::api::{MailOutbound, ServiceCatalog};

/// What `spec.mail.outbound` accepts, for messages.
pub const OUTBOUND_ALLOWED: &str = "spec.mail.outbound with exactly one of egressAddresses: [203.0.113.25] (the public addresses the nodes send from) or relay: {host: smtp-relay.example.fr, port: 587, spfInclude: _spf.example.fr}";

/// The checked way out of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// Direct delivery from these addresses.
    Direct(Vec<IpAddr>),
    /// Through a relay.
    Relay {
        host: String,
        port: u16,
        spf_include: String,
    },
}

impl Outbound {
    /// The SPF record of a domain that sends through this way out.
    pub fn spf(&self) -> String {
        let mut spf = String::from("v=spf1");
        match self {
            Outbound::Direct(addresses) => {
                for a in addresses {
                    let tag = if a.is_ipv4() { "ip4" } else { "ip6" };
                    spf.push_str(&format!(" {tag}:{a}"));
                }
            }
            Outbound::Relay { spf_include, .. } => spf.push_str(&format!(" include:{spf_include}")),
        }
        spf.push_str(" -all");
        spf
    }
}

/// Checks `spec.mail.outbound`; `at` prefixes field paths with the catalogue's name.
pub fn check_outbound(
    outbound: &MailOutbound,
    at: &dyn Fn(String) -> String,
) -> Result<Outbound, PlanError> {
    let field = |f: &str| at(format!("spec.mail.outbound{f}"));
    match (&outbound.relay, outbound.egress_addresses.is_empty()) {
        (Some(_), false) | (None, true) => Err(invalid(
            &field(""),
            &format!("{outbound:?}"),
            "must set exactly one of egressAddresses and relay",
            OUTBOUND_ALLOWED,
        )),
        (None, false) => {
            let mut addresses = Vec::with_capacity(outbound.egress_addresses.len());
            for (i, a) in outbound.egress_addresses.iter().enumerate() {
                let ip: IpAddr = a.parse().map_err(|_| {
                    invalid(
                        &field(&format!(".egressAddresses[{i}]")),
                        a,
                        "is not an IP address",
                        "an IPv4 or IPv6 address such as 203.0.113.25 or 2001:db8::25",
                    )
                })?;
                if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                    return Err(invalid(
                        &field(&format!(".egressAddresses[{i}]")),
                        a,
                        "cannot be a sending address",
                        "the public unicast address the nodes send from",
                    ));
                }
                addresses.push(ip);
            }
            Ok(Outbound::Direct(addresses))
        }
        (Some(relay), true) => {
            let host = parse_domain(&field(".relay.host"), relay.host.trim_end_matches('.'))?;
            if relay.port == 0 {
                return Err(invalid(
                    &field(".relay.port"),
                    "0",
                    "is not a port",
                    "1-65535, usually 587",
                ));
            }
            // `_spf.` labels are allowed here (SPF records often live under one), unlike hosts.
            let include = relay.spf_include.trim_end_matches('.');
            let name_ok = Name::from_ascii(include)
                .is_ok_and(|n| n.num_labels() >= 2 && include.is_ascii() && !include.contains(' '));
            if !name_ok {
                return Err(invalid(
                    &field(".relay.spfInclude"),
                    &relay.spf_include,
                    "is not a DNS name holding an SPF record",
                    "an ASCII name such as _spf.gironde-numerique.fr",
                ));
            }
            Ok(Outbound::Relay {
                host: host.ascii,
                port: relay.port,
                spf_include: include.to_owned(),
            })
        }
    }
}

/// The outbound declaration a tenant with mail needs: refused with what is allowed when the
/// catalogue lacks it.
pub fn required_outbound(catalog: &ServiceCatalog) -> Result<Outbound, PlanError> {
    let name = catalog.metadata.name.as_deref().unwrap_or("");
    let at = |field: String| format!("ServiceCatalog {name:?} {field}");
    match &catalog.spec.mail {
        Some(mail) => check_outbound(&mail.outbound, &at),
        None => Err(invalid(
            &at("spec.mail.outbound".into()),
            "",
            "is required when a tenant has mail on (SPF must authorise how mail leaves the cluster)",
            OUTBOUND_ALLOWED,
        )),
    }
}
