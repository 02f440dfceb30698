//! Skeletons of the Kubernetes objects the services share (ConfigMap, PVC, Service,
//! Deployment, Ingress), so each service module only says what is particular to it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, EnvVar, KeyToPath, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ProjectedVolumeSource, SecretProjection, SecretVolumeSource, Service as KubeService,
    ServiceSpec, Volume, VolumeProjection, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::object::Object;

/// Pod template annotation carrying a digest of the configuration a pod reads at start, so
/// a configuration change rolls the pod (subPath mounts are never refreshed in place).
pub const CONFIG_HASH_ANNOTATION: &str = "mutualis.io/config-hash";

pub fn config_map(meta: ObjectMeta, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: meta,
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Short digest of a ConfigMap's data (FNV-1a, 64 bits): it only has to change when the
/// data does, and it is computed for every workload of every plan.
pub fn config_hash(data: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in data {
        for &b in k
            .as_bytes()
            .iter()
            .chain([0u8].iter())
            .chain(v.as_bytes())
            .chain([0u8].iter())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A ReadWriteOnce claim of `quantity`.
pub fn pvc(
    meta: ObjectMeta,
    volume: &super::storage::Volume,
    storage_class: Option<&str>,
) -> Object {
    Object::from(PersistentVolumeClaim {
        metadata: meta,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage_class.map(str::to_owned),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(volume.quantity()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    })
}

/// A ClusterIP Service, or a LoadBalancer that keeps client addresses visible
/// (`externalTrafficPolicy: Local`: mail and DNS need the real source for spam and abuse control).
pub fn service(
    meta: ObjectMeta,
    selector: BTreeMap<String, String>,
    ports: &[super::network::Port],
    load_balancer: bool,
) -> Object {
    Object::from(KubeService {
        metadata: meta,
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports.iter().map(|p| p.service_port()).collect()),
            type_: Some(
                if load_balancer {
                    "LoadBalancer"
                } else {
                    "ClusterIP"
                }
                .to_owned(),
            ),
            external_traffic_policy: load_balancer.then(|| "Local".to_owned()),
            // No node ports: the quota allows none, and the load balancer reaches pods directly.
            allocate_load_balancer_node_ports: load_balancer.then_some(false),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// A one-replica Deployment. With a ReadWriteOnce volume the old pod must stop before the
/// new one starts, hence `Recreate`.
pub fn deployment(
    meta: ObjectMeta,
    selector: BTreeMap<String, String>,
    config_hash: Option<String>,
    mut pod: PodSpec,
    recreate: bool,
) -> Object {
    // The selector's labels are a subset of the object's: the template takes the latter.
    let template_labels = meta.labels.clone().unwrap_or_default();
    debug_assert!(
        selector
            .iter()
            .all(|(k, v)| template_labels.get(k) == Some(v))
    );
    pod.automount_service_account_token = Some(false);
    pod.enable_service_links = Some(false);
    Object::from(Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            revision_history_limit: Some(3),
            selector: LabelSelector {
                match_labels: Some(selector),
                match_expressions: None,
            },
            strategy: recreate.then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(template_labels),
                    annotations: config_hash
                        .map(|h| BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), h)])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    })
}

/// An HTTPS Ingress for `hosts`, routed to `service:port`. With a cluster issuer,
/// cert-manager's ingress-shim obtains the certificate into `tls_secret`.
#[allow(clippy::too_many_arguments)]
pub fn ingress(
    mut meta: ObjectMeta,
    class: Option<&str>,
    issuer: Option<&str>,
    hosts: &[String],
    service: &str,
    service_port: i32,
    tls_secret: &str,
    extra_annotations: &[(&str, &str)],
) -> Object {
    let mut annotations = BTreeMap::new();
    if let Some(issuer) = issuer {
        annotations.insert(
            "cert-manager.io/cluster-issuer".to_owned(),
            issuer.to_owned(),
        );
    }
    for (k, v) in extra_annotations {
        annotations.insert((*k).to_owned(), (*v).to_owned());
    }
    if !annotations.is_empty() {
        meta.annotations = Some(annotations);
    }
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.to_owned(),
            port: Some(ServiceBackendPort {
                number: Some(service_port),
                name: None,
            }),
        }),
        resource: None,
    };
    let rules = hosts
        .iter()
        .map(|h| IngressRule {
            host: Some(h.clone()),
            http: Some(HTTPIngressRuleValue {
                paths: vec![HTTPIngressPath {
                    path: Some("/".into()),
                    path_type: "Prefix".into(),
                    backend: backend.clone(),
                }],
            }),
        })
        .collect();
    Object::from(Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: class.map(str::to_owned),
            rules: Some(rules),
            tls: issuer.map(|_| {
                vec![IngressTLS {
                    hosts: Some(hosts.to_vec()),
                    secret_name: Some(tls_secret.to_owned()),
                }]
            }),
            ..IngressSpec::default()
        }),
        status: None,
    })
}

pub fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

pub fn config_volume(name: &str, config_map: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A Secret volume with file `mode` (octal): 0o440 when root reads it, wider only when a
/// service user of the image must.
pub fn secret_volume(name: &str, secret: &str, mode: i32) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            default_mode: Some(mode),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Keys of several Secrets as files of one volume: `(secret, key, file name)`, each with file
/// `mode` (0o440 with the pod's `fsGroup` lets the workload's group read them, nobody else).
/// Credentials reach programs this way rather than as environment variables, which leak into
/// process listings, crash dumps and `describe`-level tooling.
pub fn secret_files(name: &str, files: &[(&str, &str, &str)], mode: i32) -> Volume {
    let sources = files
        .iter()
        .map(|(secret, key, path)| VolumeProjection {
            secret: Some(SecretProjection {
                name: (*secret).to_owned(),
                items: Some(vec![KeyToPath {
                    key: (*key).to_owned(),
                    path: (*path).to_owned(),
                    mode: None,
                }]),
                optional: Some(false),
            }),
            ..VolumeProjection::default()
        })
        .collect();
    Volume {
        name: name.to_owned(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(mode),
            sources: Some(sources),
        }),
        ..Volume::default()
    }
}

pub fn claim_volume(name: &str, claim: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_owned(),
            read_only: None,
        }),
        ..Volume::default()
    }
}
