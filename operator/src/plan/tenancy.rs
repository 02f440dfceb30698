//! Tenancy: what surrounds a tenant's services. Its namespace (Pod Security `baseline`
//! enforced: mail and Samba need a few capabilities that `restricted` forbids), a quota whose
//! `requests.storage` is the tier, default limits, a default-deny network policy with one
//! allow per need, and read access for the tenant's admins.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::object::{Object, Part, labels, meta, selector};
use super::services::{Ctx, Out};
use super::{Service, ValidatedTenant};
use crate::api::SubjectKind;

pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let mut ns_meta = meta(
        t.name(),
        None,
        t.namespace(),
        Part::Tenancy,
        "mutualis",
        "tenancy",
    );
    let ns_labels = ns_meta.labels.get_or_insert_with(BTreeMap::new);
    ns_labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "baseline".into(),
    );
    ns_labels.insert(
        "pod-security.kubernetes.io/warn".into(),
        "restricted".into(),
    );
    ns_labels.insert(
        "pod-security.kubernetes.io/audit".into(),
        "restricted".into(),
    );
    ns_meta.annotations = Some(BTreeMap::from([(
        "mutualis.io/display-name".to_owned(),
        t.display_name().to_owned(),
    )]));
    out.push(Object::from(Namespace {
        metadata: ns_meta,
        ..Namespace::default()
    }));

    let volumes = t.storage().volumes.len();
    out.push(Object::from(ResourceQuota {
        metadata: tmeta(ctx, "tenant-quota"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                (
                    "requests.storage".to_owned(),
                    Quantity(t.storage().tier_storage.clone()),
                ),
                (
                    "persistentvolumeclaims".to_owned(),
                    Quantity(volumes.to_string()),
                ),
                ("services.loadbalancers".to_owned(), Quantity("2".into())),
                ("services.nodeports".to_owned(), Quantity("0".into())),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    }));
    out.push(Object::from(LimitRange {
        metadata: tmeta(ctx, "tenant-defaults"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(quantities(&[("cpu", "500m"), ("memory", "512Mi")])),
                default_request: Some(quantities(&[("cpu", "50m"), ("memory", "64Mi")])),
                ..LimitRangeItem::default()
            }],
        }),
    }));
    network_policies(ctx, out);
    rbac(ctx, out);
}

fn tmeta(ctx: &Ctx<'_>, name: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    ctx.meta(name, Part::Tenancy, "mutualis", "tenancy")
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

fn tcp(p: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some("TCP".into()),
        end_port: None,
    }
}

fn udp(p: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some("UDP".into()),
        end_port: None,
    }
}

fn pods(t: &ValidatedTenant, service: Service, component: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector(t.name(), service, component)),
        match_expressions: None,
    }
}

/// Any pod in any namespace (the ingress controller's namespace differs between clusters).
fn cluster() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }
}

fn peer(t: &ValidatedTenant, service: Service, component: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(pods(t, service, component)),
        ..NetworkPolicyPeer::default()
    }
}

struct Allow {
    name: &'static str,
    pods: LabelSelector,
    /// `None` peers: from anywhere, Internet included.
    ingress: Option<(Option<Vec<NetworkPolicyPeer>>, Vec<NetworkPolicyPort>)>,
    egress: Option<(Option<Vec<NetworkPolicyPeer>>, Vec<NetworkPolicyPort>)>,
}

fn network_policies(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let s = t.services();
    let mut allows = vec![Allow {
        name: "allow-cluster-dns",
        pods: LabelSelector::default(),
        ingress: None,
        egress: Some((
            Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        "kube-system".to_owned(),
                    )])),
                    match_expressions: None,
                }),
                ..NetworkPolicyPeer::default()
            }]),
            vec![udp(53), tcp(53)],
        )),
    }];
    // cert-manager's HTTP-01 solver pods run in this namespace behind the ingress controller.
    if ctx.issuer().is_some() {
        allows.push(Allow {
            name: "allow-acme-solver",
            pods: LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "acme.cert-manager.io/http01-solver".to_owned(),
                    "true".to_owned(),
                )])),
                match_expressions: None,
            },
            ingress: Some((Some(vec![cluster()]), vec![tcp(8089)])),
            egress: None,
        });
    }
    if s.mail {
        allows.push(Allow {
            name: "allow-mail",
            pods: pods(t, Service::Mail, "mail"),
            ingress: Some((None, vec![tcp(25), tcp(465), tcp(587), tcp(993)])),
            // Outbound SMTP to other domains' MX, and DNS to the resolvers rspamd uses.
            egress: Some((None, vec![tcp(25), udp(53), tcp(53)])),
        });
    }
    if s.website {
        allows.push(Allow {
            name: "allow-website",
            pods: pods(t, Service::Website, "website"),
            ingress: Some((Some(vec![cluster()]), vec![tcp(8080)])),
            egress: None,
        });
    }
    if s.dns {
        allows.push(Allow {
            name: "allow-dns",
            pods: pods(t, Service::Dns, "dns"),
            ingress: Some((None, vec![udp(1053), tcp(1053)])),
            egress: None,
        });
    }
    if s.collaboration {
        let nextcloud = || {
            vec![
                peer(t, Service::Collaboration, "nextcloud"),
                peer(t, Service::Collaboration, "cron"),
            ]
        };
        allows.push(Allow {
            name: "allow-nextcloud",
            pods: pods(t, Service::Collaboration, "nextcloud"),
            ingress: Some((Some(vec![cluster()]), vec![tcp(8080)])),
            // Its database and cache, and HTTPS for the app store and federation.
            egress: Some((None, vec![tcp(443)])),
        });
        allows.push(Allow {
            name: "allow-nextcloud-backends",
            pods: LabelSelector {
                match_labels: Some(BTreeMap::from([
                    (labels::TENANT.to_owned(), t.name().to_owned()),
                    (
                        labels::SERVICE.to_owned(),
                        Service::Collaboration.name().to_owned(),
                    ),
                ])),
                match_expressions: None,
            },
            ingress: Some((Some(nextcloud()), vec![tcp(5432), tcp(6379)])),
            egress: Some((
                Some(vec![
                    peer(t, Service::Collaboration, "database"),
                    peer(t, Service::Collaboration, "cache"),
                ]),
                vec![tcp(5432), tcp(6379)],
            )),
        });
    }
    if s.nas {
        allows.push(Allow {
            name: "allow-nas",
            pods: pods(t, Service::Nas, "nas"),
            ingress: Some((Some(vec![cluster()]), vec![tcp(445)])),
            egress: None,
        });
    }

    out.push(Object::from(NetworkPolicy {
        metadata: tmeta(ctx, "default-deny"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..NetworkPolicySpec::default()
        }),
    }));
    for a in allows {
        let mut types = Vec::new();
        if a.ingress.is_some() {
            types.push("Ingress".to_owned());
        }
        if a.egress.is_some() {
            types.push("Egress".to_owned());
        }
        out.push(Object::from(NetworkPolicy {
            metadata: tmeta(ctx, a.name),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(a.pods),
                ingress: a.ingress.map(|(from, ports)| {
                    vec![NetworkPolicyIngressRule {
                        from,
                        ports: Some(ports),
                    }]
                }),
                egress: a.egress.map(|(to, ports)| {
                    vec![NetworkPolicyEgressRule {
                        to,
                        ports: Some(ports),
                    }]
                }),
                policy_types: Some(types),
            }),
        }));
    }
}

/// Read-mostly access for the tenant's admins: they see everything but Secrets, read logs
/// and may delete a pod to restart it; changes go through the Tenant.
fn rbac(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    if t.admins().is_empty() {
        return;
    }
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    let read = ["get", "list", "watch"];
    out.push(Object::from(Role {
        metadata: tmeta(ctx, "tenant-admin"),
        rules: Some(vec![
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "services",
                    "endpoints",
                    "configmaps",
                    "persistentvolumeclaims",
                    "events",
                    "resourcequotas",
                    "limitranges",
                ],
                &read,
            ),
            rule(&[""], &["pods"], &["delete"]),
            rule(&["apps"], &["deployments", "replicasets"], &read),
            rule(&["batch"], &["cronjobs", "jobs"], &read),
            rule(
                &["networking.k8s.io"],
                &["ingresses", "networkpolicies"],
                &read,
            ),
            rule(&["events.k8s.io"], &["events"], &read),
        ]),
    }));
    out.push(Object::from(RoleBinding {
        metadata: tmeta(ctx, "tenant-admin"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "tenant-admin".into(),
        },
        subjects: Some(
            t.admins()
                .iter()
                .map(|s| RbacSubject {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: match s.kind {
                        SubjectKind::User => "User".into(),
                        SubjectKind::Group => "Group".into(),
                    },
                    name: s.name.clone(),
                    namespace: None,
                })
                .collect(),
        ),
    }));
}
