//! cert-manager's `Certificate` (cert-manager.io/v1), the part mutualis writes. k8s-openapi has
//! no type for it and the operator must not depend on cert-manager's Go API, so the fields
//! are declared here, checked against the CRD schema kept in `third_party/cert-manager/` (a
//! test validates rendered Certificates against it).
//!
//! The mail server's certificate is a `Certificate`, not an Ingress for ingress-shim: its
//! challenge is DNS-01 (the mail load balancer has no port 80), and `secretTemplate` puts the
//! tenant's labels on the issued Secret, so the operator's Secret cache sees when it exists.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// A certificate request, kept issued and renewed by cert-manager.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Certificate {
    pub metadata: ObjectMeta,
    pub spec: CertificateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The Secret (type `kubernetes.io/tls`) cert-manager writes.
    pub secret_name: String,
    pub dns_names: Vec<String>,
    pub issuer_ref: IssuerRef,
    /// Labels and annotations cert-manager copies onto the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,
    // The private key: cert-manager's defaults (RSA-2048, a new key at each renewal), which
    // every mail client of the communes' workstations accepts.
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    pub name: String,
    pub kind: String,
    pub group: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretTemplate {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Serialize for Certificate {
    // With `apiVersion` and `kind`, as k8s-openapi's types serialize.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Typed<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            spec: &'a CertificateSpec,
        }
        Typed {
            api_version: <Certificate as k8s_openapi::Resource>::API_VERSION,
            kind: <Certificate as k8s_openapi::Resource>::KIND,
            metadata: &self.metadata,
            spec: &self.spec,
        }
        .serialize(s)
    }
}

impl k8s_openapi::Resource for Certificate {
    const API_VERSION: &'static str = "cert-manager.io/v1";
    const GROUP: &'static str = "cert-manager.io";
    const KIND: &'static str = "Certificate";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "certificates";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for Certificate {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The certificate of `dns_names`, issued into `secret_name` by the ClusterIssuer `issuer`;
/// the Secret carries `secret_labels` (the tenant's, so its cache sees it).
pub fn certificate(
    metadata: ObjectMeta,
    secret_name: &str,
    dns_names: Vec<String>,
    issuer: &str,
    secret_labels: BTreeMap<String, String>,
) -> Certificate {
    Certificate {
        metadata,
        spec: CertificateSpec {
            secret_name: secret_name.to_owned(),
            dns_names,
            issuer_ref: IssuerRef {
                name: issuer.to_owned(),
                kind: "ClusterIssuer".into(),
                group: "cert-manager.io".into(),
            },
            secret_template: Some(SecretTemplate {
                labels: secret_labels,
            }),
        },
    }
}
