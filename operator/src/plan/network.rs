//! Ports and who may reach them. Each service declares its ports once (a [`Port`] serves the
//! Service, the container and the network policy alike) and, beside them, its network needs as
//! [`Allow`]s; `tenancy` turns those into the NetworkPolicies behind the namespace's default
//! deny. A port changed in a service module therefore moves its Service, its container and its
//! policy together.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerPort, ServicePort};
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::object::selector;
use crate::api::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// A port a workload listens on: `port` on its Service, `target` in its container (they differ
/// where the container listens unprivileged behind a standard port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub name: &'static str,
    pub port: i32,
    pub target: i32,
    pub protocol: Protocol,
}

impl Port {
    pub const fn tcp(name: &'static str, port: i32) -> Port {
        Port {
            name,
            port,
            target: port,
            protocol: Protocol::Tcp,
        }
    }

    /// `port` on the Service, `target` in the container.
    pub const fn mapped(name: &'static str, port: i32, target: i32, protocol: Protocol) -> Port {
        Port {
            name,
            port,
            target,
            protocol,
        }
    }

    pub fn service_port(&self) -> ServicePort {
        ServicePort {
            name: Some(self.name.to_owned()),
            port: self.port,
            target_port: Some(IntOrString::Int(self.target)),
            protocol: Some(self.protocol.as_str().to_owned()),
            ..ServicePort::default()
        }
    }

    pub fn container_port(&self) -> ContainerPort {
        ContainerPort {
            name: Some(self.name.to_owned()),
            container_port: self.target,
            protocol: Some(self.protocol.as_str().to_owned()),
            ..ContainerPort::default()
        }
    }

    /// The port as a network policy sees it: the pod's (target) port.
    pub fn policy_port(&self) -> NetworkPolicyPort {
        NetworkPolicyPort {
            port: Some(IntOrString::Int(self.target)),
            protocol: Some(self.protocol.as_str().to_owned()),
            end_port: None,
        }
    }
}

/// The cluster's and the Internet's DNS, for workloads that resolve names themselves.
pub const DNS_CLIENT: [Port; 2] = [
    Port::mapped("dns-udp", 53, 53, Protocol::Udp),
    Port::tcp("dns-tcp", 53),
];

/// Who is at the other end of an allowed connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    /// Anyone, the Internet included.
    Anywhere,
    /// Any pod of any namespace (the ingress controller's namespace differs between clusters).
    AnyPod,
    /// Pods of the tenant: (service, component) pairs.
    Pods(Vec<(Service, &'static str)>),
    /// Address ranges (CIDR), e.g. the town halls' networks.
    Networks(Vec<String>),
}

/// One need of a workload: its pods, and what may reach them (ingress) or what they may reach
/// (egress), on which ports.
#[derive(Debug, Clone, PartialEq)]
pub struct Allow {
    /// The NetworkPolicy's name when this is the first allowance for its pods; later ones for
    /// the same pods become rules of that policy (the name then says what the rule is for).
    pub name: &'static str,
    pub pods: PodsOf,
    pub ingress: Option<(Peer, Vec<Port>)>,
    pub egress: Option<(Peer, Vec<Port>)>,
}

/// The pods a policy applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum PodsOf {
    /// Every pod of the namespace.
    All,
    /// The pods of one component of one service.
    Component(Service, &'static str),
    /// Every pod of one service.
    Service(Service),
    /// Pods with these labels (not ours, e.g. cert-manager's solvers).
    Labelled(BTreeMap<String, String>),
}

impl PodsOf {
    pub fn selector(&self, tenant: &str) -> LabelSelector {
        use super::object::labels;
        let match_labels = match self {
            PodsOf::All => None,
            PodsOf::Component(s, c) => Some(selector(tenant, *s, c)),
            PodsOf::Service(s) => Some(BTreeMap::from([
                (labels::TENANT.to_owned(), tenant.to_owned()),
                (labels::SERVICE.to_owned(), s.name().to_owned()),
            ])),
            PodsOf::Labelled(l) => Some(l.clone()),
        };
        LabelSelector {
            match_labels,
            match_expressions: None,
        }
    }
}

impl Peer {
    /// `None`: from or to anywhere.
    pub fn peers(&self, tenant: &str) -> Option<Vec<NetworkPolicyPeer>> {
        match self {
            Peer::Anywhere => None,
            Peer::AnyPod => Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..NetworkPolicyPeer::default()
            }]),
            Peer::Pods(pods) => Some(
                pods.iter()
                    .map(|(s, c)| NetworkPolicyPeer {
                        pod_selector: Some(PodsOf::Component(*s, c).selector(tenant)),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            Peer::Networks(cidrs) => Some(
                cidrs
                    .iter()
                    .map(|c| NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: c.clone(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
        }
    }
}
