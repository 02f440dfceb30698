//! One module per catalogued service. Each reads the validated tenant and writes its objects,
//! Secret requests and notes into an [`Out`]; none depends on another's internals.

pub mod collaboration;
pub mod dns;
pub mod mail;
pub mod nas;
pub mod website;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::object::{Object, meta};
use super::secrets::SecretRequest;
use super::zone::ZoneFile;
use super::{PlanInputs, Service, ValidatedTenant};

/// What a service builder reads.
pub struct Ctx<'a> {
    pub tenant: &'a ValidatedTenant,
    pub inputs: &'a PlanInputs,
}

impl Ctx<'_> {
    /// Metadata of a namespaced object of this tenant.
    pub fn meta(&self, name: &str, service: Service, app: &str, component: &str) -> ObjectMeta {
        meta(
            self.tenant.name(),
            Some(self.tenant.namespace()),
            name,
            service,
            app,
            component,
        )
    }

    /// `mail.<tenant domain>`, the MX and IMAP/submission host of every domain.
    pub fn mail_host(&self) -> String {
        crate::plan::hosts::under(crate::plan::hosts::MAIL, &self.tenant.domain().ascii)
    }

    /// `cloud.<tenant domain>`, the collaborative space.
    pub fn cloud_host(&self) -> String {
        crate::plan::hosts::under(crate::plan::hosts::CLOUD, &self.tenant.domain().ascii)
    }

    pub fn storage_class(&self) -> Option<&str> {
        self.tenant.catalog().storage_class_name.as_deref()
    }

    pub fn ingress_class(&self) -> Option<&str> {
        self.tenant.catalog().ingress_class_name.as_deref()
    }

    pub fn issuer(&self) -> Option<&str> {
        self.tenant
            .catalog()
            .tls
            .as_ref()
            .map(|t| t.cluster_issuer.as_str())
    }

    /// The PVC size the allocation gives `pvc`; only called for enabled services, whose
    /// volumes `validate` allocated.
    pub fn volume_size(&self, pvc: &str) -> &str {
        self.tenant
            .storage()
            .volume(pvc)
            .map_or("1Gi", |v| v.quantity.as_str())
    }
}

/// What service builders produce.
pub struct Out {
    pub objects: Vec<Object>,
    pub secrets: Vec<SecretRequest>,
    pub zones: Vec<ZoneFile>,
    pub notes: Vec<String>,
}

impl Default for Out {
    /// Sized for a tenant with a dozen members: no regrowth on the common path.
    fn default() -> Out {
        Out {
            objects: Vec::with_capacity(64),
            secrets: Vec::with_capacity(8),
            zones: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Out {
    pub fn push(&mut self, o: impl Into<Object>) {
        self.objects.push(o.into());
    }

    pub fn secret(
        &mut self,
        ctx: &Ctx<'_>,
        name: &str,
        service: Service,
        keys: Vec<(String, super::SecretKind)>,
    ) {
        self.secrets.push(SecretRequest {
            namespace: ctx.tenant.namespace().to_owned(),
            name: name.to_owned(),
            service,
            keys,
        });
    }
}
