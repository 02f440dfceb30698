//! build: the validated tenant, sized, turned into every object of every enabled service.

use super::object::apply_rank;
use super::services::{self, Ctx, Out};
use super::{Endpoints, Plan, PlanInputs, ValidatedTenant, tenancy};

/// Builds the plan of a validated tenant. Pure and deterministic.
pub fn build(tenant: &ValidatedTenant, inputs: &PlanInputs) -> Plan {
    let ctx = Ctx { tenant, inputs };
    let mut out = Out::default();
    let s = tenant.services();
    tenancy::build(&ctx, &mut out);
    if s.mail {
        services::mail::build(&ctx, &mut out);
    }
    if s.website {
        services::website::build(&ctx, &mut out);
    }
    if s.dns {
        let zones = services::dns::zones(&ctx, &mut out.notes);
        services::dns::build(&ctx, &zones, &mut out);
        out.zones = zones;
    }
    if s.collaboration {
        services::collaboration::build(&ctx, &mut out);
    }
    if s.nas {
        services::nas::build(&ctx, &mut out);
    }
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
    }
}

fn endpoints(ctx: &Ctx<'_>) -> Endpoints {
    let t = ctx.tenant;
    let s = t.services();
    let scheme = if ctx.issuer().is_some() {
        "https"
    } else {
        "http"
    };
    Endpoints {
        websites: if s.website {
            t.domains()
                .map(|d| format!("{scheme}://{}", d.ascii))
                .collect()
        } else {
            Vec::new()
        },
        mail_host: s.mail.then(|| ctx.mail_host()),
        collaboration: s
            .collaboration
            .then(|| format!("{scheme}://{}", ctx.cloud_host())),
        nas: s.nas.then(|| format!("smb://nas.{}.svc", t.namespace())),
        name_servers: if s.dns {
            t.name_servers()
                .iter()
                .map(|n| n.trim_end_matches('.').to_owned())
                .collect()
        } else {
            Vec::new()
        },
    }
}
