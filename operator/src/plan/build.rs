//! build: the validated tenant, sized, turned into every object of every enabled service.

use super::inputs::PlanInputs;
use super::object::apply_rank;
use super::output::Plan;
use super::services::{self, Ctx, Out};
use super::tenancy;
use super::validate::ValidatedTenant;
use crate::api::{Endpoints, Service};

/// Builds the plan of a validated tenant. Pure and deterministic.
pub fn build(tenant: &ValidatedTenant, inputs: &PlanInputs) -> Plan {
    let ctx = Ctx { tenant, inputs };
    let mut out = Out::default();
    tenancy::build(&ctx, &mut out);
    for service in tenant.services().enabled() {
        services::builder(service)(&ctx, &mut out);
    }
    super::backup::build(&ctx, &mut out);
    tenancy::finish(&ctx, &mut out);
    // Stable: within a kind, objects keep the service order above.
    out.objects.sort_by_key(apply_rank);
    Plan {
        tenant: tenant.name().to_owned(),
        namespace: tenant.namespace().to_owned(),
        tier: tenant.tier().tier.name.clone(),
        member_count: tenant.members().len(),
        annual_contribution: tenant.annual_contribution(),
        objects: out.objects,
        storage: tenant.storage().clone(),
        zones: out.zones,
        secrets: out.secrets,
        endpoints: endpoints(&ctx),
        notes: out.notes,
        waiting: out.waiting,
    }
}

/// `scheme://host` of Service `name`: its load balancer's address once it has one (what the
/// town halls' networks reach), else its name inside the cluster.
fn address(ctx: &Ctx<'_>, exposed: bool, name: &str, scheme: &str) -> String {
    let external = exposed
        .then(|| ctx.inputs.load_balancer_addresses.get(name)?.first())
        .flatten();
    match external {
        Some(std::net::IpAddr::V6(ip)) => format!("{scheme}://[{ip}]"),
        Some(ip) => format!("{scheme}://{ip}"),
        None => format!("{scheme}://{name}.{}.svc", ctx.tenant.namespace()),
    }
}

fn endpoints(ctx: &Ctx<'_>) -> Endpoints {
    let t = ctx.tenant;
    let on = |s: Service| t.services().is_on(s);
    let scheme = if ctx.issuer().is_some() {
        "https"
    } else {
        "http"
    };
    Endpoints {
        websites: if on(Service::Website) {
            t.domains()
                .map(|d| format!("{scheme}://{}", d.ascii))
                .collect()
        } else {
            Vec::new()
        },
        mail_host: on(Service::Mail).then(|| ctx.mail_host()),
        collaboration: on(Service::Collaboration)
            .then(|| format!("{scheme}://{}", ctx.cloud_host())),
        nas: on(Service::Nas).then(|| {
            let exposed = !t.nas_networks().is_empty();
            address(ctx, exposed, "nas", "smb")
        }),
        sftp: (on(Service::Website) && super::services::website::sftp::published(t)).then(|| {
            let exposed = !t.sftp_networks().is_empty();
            address(
                ctx,
                exposed,
                super::services::website::sftp::SERVICE,
                "sftp",
            )
        }),
        name_servers: if on(Service::Dns) {
            t.name_servers()
                .iter()
                .map(|n| n.trim_end_matches('.').to_owned())
                .collect()
        } else {
            Vec::new()
        },
    }
}
