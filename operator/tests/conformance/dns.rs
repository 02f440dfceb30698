//! DNS: each zone of the tenant's `zones-<tenant>` ConfigMap through BIND's and Knot's zone checkers, then
//! served by a real `knotd` on loopback and queried with `kdig` over UDP and TCP; every answer
//! is compared with the records of `plan.zones` (hickory's), not with strings written here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use mutualis::plan::ZoneFile;

use crate::support::{Fixture, Net, Server, fixtures, free_port, require, temp_dir, text, write};

/// The zone texts a fixture's CoreDNS is given, one per zone of the plan.
fn served_texts<'a>(f: &'a Fixture, plan: &'a mutualis::plan::Plan) -> Vec<(&'a ZoneFile, String)> {
    let cm = plan
        .objects
        .iter()
        .find_map(|o| match o {
            mutualis::plan::Object::ConfigMap(cm) if is_zones(o) => cm.data.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{}: DNS is on but no zones ConfigMap", f.name));
    plan.zones
        .iter()
        .map(|z| {
            let key = format!("db.{}", z.origin);
            let text = cm
                .get(&key)
                .unwrap_or_else(|| panic!("{}: the zones ConfigMap has no {key}", f.name))
                .clone();
            assert_eq!(
                text, z.text,
                "{}: {key} differs from the plan's zone",
                f.name
            );
            (z, text)
        })
        .collect()
}

/// The tenant's zone ConfigMap (published in the shared name servers' namespace).
fn is_zones(o: &mutualis::plan::Object) -> bool {
    o.kind() == "ConfigMap"
        && o.metadata()
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(mutualis::plan::ZONE_LABEL))
}

/// The plans to check: the operator's (DKIM, mail address) and the offline one.
fn plans(f: &Fixture) -> [(&'static str, &mutualis::plan::Plan); 2] {
    [("operator", &f.plan), ("offline", &f.offline)]
}

#[test]
fn every_zone_passes_named_checkzone() {
    if !require("dns zone check (BIND)", &["named-checkzone"]) {
        return;
    }
    let dir = temp_dir();
    let mut checked = 0;
    for f in fixtures().iter().filter(|f| !f.plan.zones.is_empty()) {
        for (which, plan) in plans(f) {
            for (z, zone) in served_texts(f, plan) {
                let file = dir.path().join(format!("{}-{which}-{}", f.name, z.origin));
                write(&file, &zone);
                // The operator's zones strictly: names, MX and NS integrity as failures. The
                // offline zones with BIND's defaults: their MX host has no address yet (the
                // load balancer has none offline), which BIND only warns about.
                let mut cmd = Command::new("named-checkzone");
                if which == "operator" {
                    cmd.args(["-k", "fail", "-m", "fail", "-M", "fail", "-n", "fail"])
                        .args(["-S", "fail", "-r", "fail", "-i", "full"]);
                }
                let out = cmd.arg(&z.origin).arg(&file).output().unwrap();
                let report = text(&out);
                assert!(
                    out.status.success() && report.contains("OK"),
                    "named-checkzone: tenant {} ({which} plan), zone {} (db.{}):\n{report}\n--- zone ---\n{zone}",
                    f.name,
                    z.unicode,
                    z.origin
                );
                assert!(
                    report.contains(&format!("loaded serial {}", z.version.serial)),
                    "tenant {}, zone {}: BIND loaded another serial than the plan's {}:\n{report}",
                    f.name,
                    z.origin,
                    z.version.serial
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} zones checked");
}

/// A Knot configuration serving `zones` from `dir` on `port` (loopback only).
fn knot_conf(dir: &Path, port: u16, zones: &[(&ZoneFile, String)]) -> std::path::PathBuf {
    for sub in ["zones", "db", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut conf = format!(
        "server:\n    rundir: \"{d}/run\"\n    listen: 127.0.0.1@{port}\n{user}\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: \"{d}/db\"\n\
         template:\n  - id: default\n    storage: \"{d}/zones\"\n    file: \"%s.zone\"\n\
         \x20   semantic-checks: on\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
         zone:\n",
        d = dir.display(),
        // Drop root where the package made its user.
        user = if crate::support::is_root()
            && Command::new("id")
                .arg("knot")
                .output()
                .is_ok_and(|o| o.status.success())
        {
            "    user: knot:knot\n"
        } else {
            ""
        },
    );
    for (z, text) in zones {
        write(&dir.join("zones").join(format!("{}.zone", z.origin)), text);
        conf.push_str(&format!("  - domain: {}\n", z.origin));
    }
    for sub in ["db", "run"] {
        let _ = Command::new("chown")
            .args(["-R", "knot:knot"])
            .arg(dir.join(sub))
            .status();
    }
    let path = dir.join("knot.conf");
    write(&path, &conf);
    path
}

#[test]
fn every_zone_passes_knotc_zone_check() {
    if !require("dns zone check (Knot)", &["knotc"]) {
        return;
    }
    for f in fixtures().iter().filter(|f| !f.plan.zones.is_empty()) {
        for (which, plan) in plans(f) {
            let dir = temp_dir();
            let zones = served_texts(f, plan);
            let conf = knot_conf(dir.path(), free_port(), &zones);
            let out = Command::new("knotc")
                .arg("-c")
                .arg(&conf)
                .arg("zone-check")
                .output()
                .unwrap();
            let report = text(&out);
            assert!(
                out.status.success() && !report.to_lowercase().contains("error"),
                "knotc zone-check: tenant {} ({which} plan), zones {:?}:\n{report}",
                f.name,
                zones.iter().map(|(z, _)| &z.origin).collect::<Vec<_>>()
            );
        }
    }
}

/// A running `knotd` serving every zone of a plan on a free loopback port.
pub struct Authoritative {
    pub port: u16,
    _server: Server,
    _dir: tempfile::TempDir,
}

pub fn serve(f: &Fixture, net: Net) -> Authoritative {
    let dir = temp_dir();
    let port = free_port();
    let zones = served_texts(f, &f.plan);
    let conf = knot_conf(dir.path(), port, &zones);
    let mut server = Server::start(
        &format!("knotd for {}", f.name),
        net.command(crate::support::which("knotd").unwrap())
            .arg("-c")
            .arg(&conf),
        &dir.path().join("knotd.log"),
    );
    let probe = zones[0].0.origin.clone();
    server.wait_ready(|| kdig_on(net, port, false, &probe, "SOA").is_some_and(|a| !a.is_empty()));
    Authoritative {
        port,
        _server: server,
        _dir: dir,
    }
}

/// `kdig +short` answer lines for `name`/`rtype`, or None when kdig failed.
pub fn kdig(port: u16, tcp: bool, name: &str, rtype: &str) -> Option<Vec<String>> {
    kdig_on(Net::Host, port, tcp, name, rtype)
}

pub fn kdig_on(net: Net, port: u16, tcp: bool, name: &str, rtype: &str) -> Option<Vec<String>> {
    let out = net
        .command("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args([if tcp { "+tcp" } else { "+notcp" }, "+short", "+noidn"])
        .args(["+time=2", "+retry=1", name, rtype])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
            .map(|l| l.trim().to_owned())
            .collect(),
    )
}

fn ascii(n: &Name) -> String {
    let mut s = n.to_ascii().to_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// A record's data as `kdig +short` prints it.
fn presentation(r: &Record) -> String {
    match &r.data {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::NS(n) => ascii(&n.0),
        RData::CNAME(n) => ascii(&n.0),
        RData::MX(m) => format!("{} {}", m.preference, ascii(&m.exchange)),
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|s| format!("\"{}\"", String::from_utf8_lossy(s)))
            .collect::<Vec<_>>()
            .join(" "),
        RData::SOA(s) => format!(
            "{} {} {} {} {} {} {}",
            ascii(&s.mname),
            ascii(&s.rname),
            s.serial,
            s.refresh,
            s.retry,
            s.expire,
            s.minimum
        ),
        RData::CAA(c) => c.to_string(),
        other => panic!(
            "record type {} not handled by the conformance suite",
            other.record_type()
        ),
    }
}

/// The plan's records of a zone, grouped as a resolver asks for them.
fn rrsets(z: &ZoneFile) -> BTreeMap<(String, RecordType), BTreeSet<String>> {
    let mut sets: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for r in &z.records {
        sets.entry((ascii(&r.name), r.record_type()))
            .or_default()
            .insert(presentation(r));
    }
    sets
}

#[test]
fn served_zones_answer_every_planned_record_over_udp_and_tcp() {
    if !require("dns served zones", &["knotd", "kdig"]) {
        return;
    }
    let mut queried = 0;
    for f in fixtures() {
        if f.plan.zones.is_empty() {
            assert!(
                !f.plan.objects.iter().any(is_zones),
                "{}: no zone but a zones ConfigMap",
                f.name
            );
            continue;
        }
        let server = serve(f, Net::Host);
        for z in &f.plan.zones {
            let sets = rrsets(z);
            let types: BTreeSet<RecordType> = sets.keys().map(|(_, t)| *t).collect();
            // What the enabled services need: SOA, NS, web, MX, SPF/DKIM/DMARC, CAA.
            for needed in [
                RecordType::SOA,
                RecordType::NS,
                RecordType::MX,
                RecordType::TXT,
            ] {
                assert!(
                    types.contains(&needed),
                    "{} zone {}: no {needed}",
                    f.name,
                    z.origin
                );
            }
            for ((owner, rtype), expected) in &sets {
                for tcp in [false, true] {
                    let answer = kdig(server.port, tcp, owner, &rtype.to_string())
                        .unwrap_or_else(|| panic!("{}: kdig {owner} {rtype} failed", f.name));
                    let got: BTreeSet<String> = answer.into_iter().collect();
                    assert_eq!(
                        &got,
                        expected,
                        "tenant {}, zone {}: {owner} {rtype} over {} answers otherwise than planned",
                        f.name,
                        z.origin,
                        if tcp { "TCP" } else { "UDP" }
                    );
                    queried += 1;
                }
            }
        }
    }
    assert!(queried > 100, "only {queried} answers compared");
}

#[test]
fn served_zones_hold_the_records_each_service_needs() {
    if !require("dns served zones", &["knotd", "kdig"]) {
        return;
    }
    let f = fixtures()
        .iter()
        .find(|f| f.name == "entre-deux-mers")
        .unwrap();
    let server = serve(f, Net::Host);
    for z in &f.plan.zones {
        let q = |name: &str, t: &str| kdig(server.port, false, name, t).unwrap_or_default();
        let o = &z.origin;
        assert!(!q(o, "CAA").is_empty(), "{o}: CAA");
        for host in [o.clone(), format!("www.{o}")] {
            assert!(
                !q(&host, "A").is_empty() && !q(&host, "AAAA").is_empty(),
                "{host}: A/AAAA"
            );
        }
        assert!(
            q(o, "TXT").iter().any(|t| t.starts_with("\"v=spf1")),
            "{o}: SPF"
        );
        assert!(
            q(&format!("_dmarc.{o}"), "TXT")
                .iter()
                .any(|t| t.starts_with("\"v=DMARC1")),
            "{o}: DMARC"
        );
        assert!(
            q(&format!("mutualis._domainkey.{o}"), "TXT")
                .iter()
                .any(|t| t.contains("v=DKIM1")),
            "{o}: DKIM"
        );
        let mx = q(o, "MX");
        assert_eq!(mx.len(), 1, "{o}: one MX");
        let mail_host = mx[0].split_whitespace().nth(1).unwrap().to_owned();
        // The MX target is the tenant's mail host, which resolves to the load balancer.
        assert!(
            mail_host.ends_with(".entre-deux-mers.fr."),
            "{o}: MX {mail_host}"
        );
        let a: BTreeSet<String> = q(&mail_host, "A")
            .into_iter()
            .chain(q(&mail_host, "AAAA"))
            .collect();
        let expected: BTreeSet<String> = crate::support::MAIL_ADDRESSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(a, expected, "{mail_host}: the mail LB's addresses");
    }
}

/// The shared name servers: every tenant's zone ConfigMap laid out in one directory as the
/// sidecar writes it (one file per key, named by the key), loaded by one server, and each
/// tenant's zones answered there with their planned SOA and NS.
#[test]
fn one_server_serves_every_tenant_zone_from_the_zone_config_maps() {
    if !require("dns shared server", &["knotd", "kdig"]) {
        return;
    }
    let dir = temp_dir();
    // The sidecar's folder. The IDNA fixture reuses a domain of the Coteaux Bordelais (as a
    // second tenant could: nothing refuses a domain another tenant holds yet), and one folder
    // can hold one file per zone, so a tenant whose zone is taken is left out here.
    let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in fixtures() {
        let Some(data) = f
            .plan
            .objects
            .iter()
            .filter(|o| is_zones(o))
            .find_map(|o| match o {
                mutualis::plan::Object::ConfigMap(cm) => cm.data.clone(),
                _ => None,
            })
        else {
            continue;
        };
        if data.keys().any(|k| files.contains_key(k)) {
            continue;
        }
        for (key, text) in data {
            files.insert(key, (f.name.clone(), text));
        }
    }
    let zones: Vec<(ZoneFile, String)> = files
        .iter()
        .map(|(key, (tenant, text))| {
            // CoreDNS's `auto` plugin derives the origin from `db.<origin>`.
            let origin = key.strip_prefix("db.").expect("zone files are db.<origin>");
            let f = fixtures().iter().find(|f| &f.name == tenant).unwrap();
            let z = f.plan.zones.iter().find(|z| z.origin == origin).unwrap();
            (z.clone(), text.clone())
        })
        .collect();
    let refs: Vec<(&ZoneFile, String)> = zones.iter().map(|(z, t)| (z, t.clone())).collect();
    let port = free_port();
    let conf = knot_conf(dir.path(), port, &refs);
    let mut server = Server::start(
        "knotd for every tenant",
        Net::Host
            .command(crate::support::which("knotd").unwrap())
            .arg("-c")
            .arg(&conf),
        &dir.path().join("knotd.log"),
    );
    let probe = refs[0].0.origin.clone();
    server.wait_ready(|| kdig(port, false, &probe, "SOA").is_some_and(|a| !a.is_empty()));
    let tenants: BTreeSet<&str> = files.values().map(|(t, _)| t.as_str()).collect();
    assert!(tenants.len() >= 3, "{tenants:?}");
    for (z, _) in &zones {
        let sets = rrsets(z);
        let apex = sets
            .iter()
            .filter(|((_, t), _)| matches!(t, RecordType::SOA | RecordType::NS));
        for ((owner, rtype), expected) in apex {
            let got: BTreeSet<String> = kdig(port, false, owner, &rtype.to_string())
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(&got, expected, "{owner} {rtype}");
        }
    }
}
