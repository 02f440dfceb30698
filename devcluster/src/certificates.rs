//! cert-manager, simulated, once its CRDs are installed or for Ingresses:
//! - ingress-shim: an Ingress annotated with a cert-manager issuer gets the TLS Secret of each
//!   `spec.tls` entry;
//! - a `Certificate` (cert-manager.io/v1) whose `spec.issuerRef` names an existing
//!   `ClusterIssuer` (or `Issuer` of its namespace) gets its `spec.secretName` Secret, with the
//!   labels and annotations of `spec.secretTemplate`, and `Ready=True`; with no such issuer it
//!   stays `Ready=False` (reason `DoesNotExist`, the issuer named), and is issued as soon as the
//!   issuer is created.
//!
//! The development cluster has no ACME server, so the "certificate" is a placeholder that no
//! client checks. Without it, a pod mounting that Secret would never start here, as on a
//! cluster without cert-manager.

use serde_json::{Value, json};

use crate::state::State;
use crate::store::{EventType, Key};

const ISSUER_ANNOTATIONS: [&str; 2] = ["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"];

/// Creates the missing TLS Secrets of `ingress` in `ns`; returns whether it created any.
pub fn issue_for_ingress(st: &mut State, ns: &str, ingress: &Value) -> bool {
    let annotations = &ingress["metadata"]["annotations"];
    if !ISSUER_ANNOTATIONS
        .iter()
        .any(|a| annotations[a].is_string())
    {
        return false;
    }
    let Some(def) = st.def("", "v1", "secrets") else {
        return false;
    };
    let mut created = false;
    for tls in ingress["spec"]["tls"].as_array().into_iter().flatten() {
        let Some(name) = tls["secretName"].as_str() else {
            continue;
        };
        let key = crate::state::key(&def, ns, name);
        if st.store.get(&key).is_some() {
            continue;
        }
        let hosts = tls["hosts"].clone();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {
                "name": name, "namespace": ns,
                "uid": crate::clock::new_uid(), "creationTimestamp": crate::clock::now_rfc3339(),
                "annotations": {
                    "cert-manager.io/alt-names": hosts.as_array().into_iter().flatten()
                        .filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                    "devcluster.mutualis.io/simulated": "cert-manager ingress-shim",
                },
            },
            "data": {"tls.crt": PLACEHOLDER, "tls.key": PLACEHOLDER},
        });
        st.store.put(&key, secret, EventType::Added);
        created = true;
    }
    created
}

/// base64 of "devcluster placeholder": a mount finds its files, nothing more.
const PLACEHOLDER: &str = "ZGV2Y2x1c3RlciBwbGFjZWhvbGRlcg==";

/// Whether the issuer `cert` refers to exists (a `ClusterIssuer`, or an `Issuer` in `ns`).
fn issuer_exists(st: &State, ns: &str, cert: &Value) -> Result<(), String> {
    let issuer = &cert["spec"]["issuerRef"];
    let name = issuer["name"].as_str().unwrap_or_default();
    let kind = issuer["kind"].as_str().unwrap_or("Issuer");
    let (plural, in_ns) = match kind {
        "ClusterIssuer" => ("clusterissuers", ""),
        _ => ("issuers", ns),
    };
    let found = st.def("cert-manager.io", "v1", plural).is_some_and(|def| {
        st.store
            .get(&crate::state::key(&def, in_ns, name))
            .is_some()
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "Issuing certificate as Secret does not exist: referenced {kind} {name:?} not found"
        ))
    }
}

/// The status of the Certificate `cert` of `ns`, issuing its Secret when its issuer exists;
/// also returns whether a Secret was created.
pub fn issue_certificate(st: &mut State, ns: &str, cert: &Value) -> (Value, bool) {
    let generation = cert["metadata"]["generation"].as_u64().unwrap_or(1);
    let now = crate::clock::now_rfc3339();
    let condition = |status: &str, reason: &str, message: &str| {
        let since = cert["status"]["conditions"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|c| c["type"] == "Ready" && c["status"] == status)
            })
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| now.clone());
        json!({"conditions": [{
            "type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since, "observedGeneration": generation,
        }]})
    };
    if let Err(message) = issuer_exists(st, ns, cert) {
        return (condition("False", "DoesNotExist", &message), false);
    }
    let (Some(def), Some(name)) = (
        st.def("", "v1", "secrets"),
        cert["spec"]["secretName"].as_str(),
    ) else {
        return (
            condition("False", "DoesNotExist", "no spec.secretName"),
            false,
        );
    };
    let key = crate::state::key(&def, ns, name);
    let mut created = false;
    if st.store.get(&key).is_none() {
        let template = &cert["spec"]["secretTemplate"];
        let mut annotations = template["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        annotations.insert(
            "cert-manager.io/alt-names".into(),
            cert["spec"]["dnsNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        );
        annotations.insert(
            "cert-manager.io/certificate-name".into(),
            cert["metadata"]["name"].clone(),
        );
        annotations.insert(
            "devcluster.mutualis.io/simulated".into(),
            "cert-manager".into(),
        );
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {
                "name": name, "namespace": ns,
                "uid": crate::clock::new_uid(), "creationTimestamp": now,
                "labels": template["labels"].as_object().cloned().unwrap_or_default(),
                "annotations": annotations,
            },
            "data": {"tls.crt": PLACEHOLDER, "tls.key": PLACEHOLDER},
        });
        st.store.put(&key, secret, EventType::Added);
        created = true;
    }
    (
        condition(
            "True",
            "Ready",
            "Certificate is up to date and has not expired",
        ),
        created,
    )
}

/// The Certificates not ready yet (an issuer was just created): to be looked at again.
pub fn pending_certificates(st: &State) -> Vec<Key> {
    let Some(def) = st.def("cert-manager.io", "v1", "certificates") else {
        return Vec::new();
    };
    st.store
        .list(&def.storage, None, None)
        .filter(|(_, s)| {
            s.value()["status"]["conditions"]
                .as_array()
                .is_none_or(|a| {
                    !a.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .map(|((ns, name), _)| crate::state::key(&def, ns, name))
        .collect()
}
