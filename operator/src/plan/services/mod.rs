//! One module per catalogued service. Each reads the validated tenant and writes its objects,
//! Secret requests and notes into an [`Out`]; none depends on another's internals.

pub mod collaboration;
pub mod dns;
pub mod mail;
pub mod nas;
pub mod website;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::network::Allow;
use super::object::Part;
use super::object::{Object, meta};
use super::secrets::SecretRequest;
use super::storage::{Volume, VolumeSpec};
use super::zone::ZoneFile;
use super::{PlanInputs, ValidatedTenant};
use crate::api::Service;

/// The function that builds `service`'s objects.
pub fn builder(service: Service) -> fn(&Ctx<'_>, &mut Out) {
    match service {
        Service::Mail => mail::build,
        Service::Website => website::build,
        Service::Dns => dns::build,
        Service::Collaboration => collaboration::build,
        Service::Nas => nas::build,
    }
}

/// The network needs `service` declares beside its ports, for `tenant` (mail's egress follows
/// the catalogue's outbound declaration, the NAS's ingress the tenant's networks).
pub fn network_of(service: Service, tenant: &ValidatedTenant) -> Vec<Allow> {
    match service {
        Service::Mail => mail::network(tenant.outbound()),
        Service::Website => website::network(tenant),
        Service::Dns => dns::network(),
        Service::Collaboration => collaboration::network(tenant.services().is_on(Service::Mail)),
        Service::Nas => nas::network(tenant.nas_networks()),
    }
}

/// The volumes each service asks for (declared in its module, sized by `storage::allocate`).
pub fn volumes_of(service: Service) -> &'static [VolumeSpec] {
    match service {
        Service::Mail => &mail::VOLUMES,
        Service::Website => &website::VOLUMES,
        Service::Dns => &[],
        Service::Collaboration => &collaboration::VOLUMES,
        Service::Nas => &nas::VOLUMES,
    }
}

/// What a service builder reads.
pub struct Ctx<'a> {
    pub tenant: &'a ValidatedTenant,
    pub inputs: &'a PlanInputs,
}

impl Ctx<'_> {
    /// Metadata of a namespaced object of this tenant.
    pub fn meta(
        &self,
        name: &str,
        part: impl Into<Part>,
        app: &str,
        component: &str,
    ) -> ObjectMeta {
        meta(
            self.tenant.name(),
            Some(self.tenant.namespace()),
            name,
            part,
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

    /// The volume the allocation gives `pvc` (one of the service's `VOLUMES`).
    pub fn volume(&self, pvc: &str) -> &Volume {
        self.tenant.storage().planned(pvc)
    }
}

/// What service builders produce.
pub struct Out {
    pub objects: Vec<Object>,
    pub secrets: Vec<SecretRequest>,
    pub zones: Vec<ZoneFile>,
    pub notes: Vec<String>,
    pub waiting: Vec<super::output::Waiting>,
}

impl Default for Out {
    /// Sized for a tenant with a dozen members: no regrowth on the common path.
    fn default() -> Out {
        Out {
            objects: Vec::with_capacity(64),
            secrets: Vec::with_capacity(8),
            zones: Vec::new(),
            notes: Vec::new(),
            waiting: Vec::new(),
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
        service: impl Into<Part>,
        keys: Vec<(String, super::SecretKind)>,
    ) {
        self.secrets.push(SecretRequest {
            namespace: ctx.tenant.namespace().to_owned(),
            name: name.to_owned(),
            service: service.into(),
            keys,
        });
    }
}
