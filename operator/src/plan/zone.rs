//! DNS zones: records built with hickory-proto's types, rendered as RFC 1035 zone files for
//! CoreDNS's `file` plugin, and versioned so the SOA serial rises exactly when content
//! changes. The plan is pure, so the previous versions come in through `PlanInputs`.

use std::collections::BTreeMap;
use std::fmt::Write;

use hickory_proto::rr::rdata::{CAA, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The annotation of the zone ConfigMap that records each zone's serial and digest.
pub const ZONE_VERSIONS_ANNOTATION: &str = "mutualis.io/zone-versions";

/// Serial and content digest of one zone as last published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneVersion {
    pub serial: u32,
    /// SHA-256 (hex) of the zone's content with the serial left out.
    pub digest: String,
}

/// Versions of every zone of a tenant, keyed by the zone's ASCII name (no trailing dot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneVersions(pub BTreeMap<String, ZoneVersion>);

impl ZoneVersions {
    /// Reads the versions back from the zone ConfigMap's annotations (as observed by the
    /// reconciler). Missing or unreadable annotations mean "no previous version": serials
    /// restart at 1, which secondaries accept after a refresh; never a reconcile failure.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> ZoneVersions {
        annotations
            .get(ZONE_VERSIONS_ANNOTATION)
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    /// The annotation value to store on the zone ConfigMap.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("zone versions always serialize")
    }

    /// The version of `zone` given its new content digest: same digest keeps the serial,
    /// a different one takes the next serial (RFC 1982 arithmetic, never 0), none starts at 1.
    pub fn next(&self, zone: &str, digest: &str) -> ZoneVersion {
        let serial = match self.0.get(zone) {
            Some(v) if v.digest == digest => v.serial,
            Some(v) => match v.serial.wrapping_add(1) {
                0 => 1,
                s => s,
            },
            None => 1,
        };
        ZoneVersion {
            serial,
            digest: digest.to_owned(),
        }
    }
}

/// SOA values shared by all zones of a plan.
pub struct SoaValues {
    pub primary: Name,
    /// Hostmaster mailbox in DNS form (`hostmaster.example.fr.`).
    pub mailbox: Name,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// A zone with its records and the zone file CoreDNS serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneFile {
    /// ASCII (IDNA) name without trailing dot, e.g. `xn--salleboeuf-kkb.fr`.
    pub origin: String,
    /// Unicode form, for people.
    pub unicode: String,
    /// Every record, SOA first.
    pub records: Vec<Record>,
    pub version: ZoneVersion,
    /// The zone file text.
    pub text: String,
}

/// Builds the zone `origin` from `records` (without SOA), versioned against `previous`.
pub fn zone_file(
    origin: &str,
    unicode: &str,
    ttl: u32,
    soa: &SoaValues,
    mut body: Vec<Record>,
    previous: &ZoneVersions,
) -> ZoneFile {
    let apex = fqdn(origin);
    let soa_record = |serial: u32| {
        Record::from_rdata(
            apex.clone(),
            ttl,
            RData::SOA(SOA::new(
                soa.primary.clone(),
                soa.mailbox.clone(),
                serial,
                clamp(soa.refresh),
                clamp(soa.retry),
                clamp(soa.expire),
                soa.minimum,
            )),
        )
    };
    let mut text = String::with_capacity(256 + body.len() * 80);
    // The origin in its ASCII (IDNA) form too: BIND and Knot refuse a Unicode `$ORIGIN`.
    text.push_str("$ORIGIN ");
    write_name(&mut text, &apex);
    let _ = writeln!(text, "\n$TTL {ttl}");
    let header = text.len();
    write_record(&mut text, &soa_record(0));
    for r in &body {
        write_record(&mut text, r);
    }
    // The digest covers everything but the serial, which is still 0 in `text` here.
    let digest = hex(&Sha256::digest(text.as_bytes())[..16]);
    let version = previous.next(origin, &digest);
    let soa_record = soa_record(version.serial);
    let mut soa_line = String::new();
    write_record(&mut soa_line, &soa_record);
    let end_of_soa = text[header..]
        .find('\n')
        .map_or(text.len(), |i| header + i + 1);
    text.replace_range(header..end_of_soa, &soa_line);
    let mut records = Vec::with_capacity(body.len() + 1);
    records.push(soa_record);
    records.append(&mut body);
    ZoneFile {
        origin: origin.to_owned(),
        unicode: unicode.to_owned(),
        records,
        version,
        text,
    }
}

/// An absolute name from an ASCII name with or without trailing dot; inputs are validated.
pub fn fqdn(ascii: &str) -> Name {
    let mut n = Name::from_ascii(ascii).unwrap_or_else(|e| panic!("validated name {ascii:?}: {e}"));
    n.set_fqdn(true);
    n
}

/// `label.origin.` as a name.
pub fn sub(label: &str, origin: &str) -> Name {
    fqdn(&format!("{label}.{origin}"))
}

pub fn ns(owner: &Name, ttl: u32, target: &Name) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::NS(NS(target.clone())))
}

pub fn cname(owner: Name, ttl: u32, target: &Name) -> Record {
    Record::from_rdata(owner, ttl, RData::CNAME(CNAME(target.clone())))
}

pub fn mx(owner: &Name, ttl: u32, preference: u16, exchange: &Name) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::MX(MX::new(preference, exchange.clone())),
    )
}

/// A TXT record; values over 255 bytes are split into several character strings.
pub fn txt(owner: Name, ttl: u32, value: &str) -> Record {
    let chunks = value
        .as_bytes()
        .chunks(255)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Record::from_rdata(owner, ttl, RData::TXT(TXT::new(chunks)))
}

pub fn caa_issue(owner: &Name, ttl: u32, issuer: &Name) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::CAA(CAA::new_issue(false, Some(issuer.clone()), Vec::new())),
    )
}

/// A or AAAA record for an address.
pub fn address(owner: Name, ttl: u32, ip: std::net::IpAddr) -> Record {
    let rdata = match ip {
        std::net::IpAddr::V4(v4) => RData::A(v4.into()),
        std::net::IpAddr::V6(v6) => RData::AAAA(v6.into()),
    };
    Record::from_rdata(owner, ttl, rdata)
}

fn write_record(out: &mut String, r: &Record) {
    // Names go out in their ASCII (IDNA) form: hickory's Display shows Unicode.
    write_name(out, &r.name);
    let _ = write!(out, " {} IN {} ", r.ttl, r.record_type());
    match &r.data {
        RData::SOA(s) => {
            write_name(out, &s.mname);
            out.push(' ');
            write_name(out, &s.rname);
            let _ = write!(
                out,
                " {} {} {} {} {}",
                s.serial, s.refresh, s.retry, s.expire, s.minimum
            );
        }
        RData::NS(n) => write_name(out, &n.0),
        RData::CNAME(n) => write_name(out, &n.0),
        RData::MX(m) => {
            let _ = write!(out, "{} ", m.preference);
            write_name(out, &m.exchange);
        }
        // hickory prints TXT strings unquoted; zone files need each one quoted and escaped.
        RData::TXT(t) => {
            for (i, s) in t.txt_data.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push('"');
                for &b in s.iter() {
                    match b {
                        b'"' | b'\\' => {
                            out.push('\\');
                            out.push(b as char);
                        }
                        0x20..=0x7e => out.push(b as char),
                        _ => {
                            let _ = write!(out, "\\{b:03}");
                        }
                    }
                }
                out.push('"');
            }
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
    out.push('\n');
}

/// Writes an absolute name in its ASCII (IDNA) form, as zone files want; hickory's Display
/// shows Unicode, and `to_ascii` allocates. Labels come from validated ASCII input.
fn write_name(out: &mut String, name: &Name) {
    if name.is_root() {
        out.push('.');
        return;
    }
    for label in name.iter() {
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        out.push('.');
    }
}

fn clamp(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soa() -> SoaValues {
        SoaValues {
            primary: fqdn("ns1.example.net"),
            mailbox: fqdn("hostmaster.example.net"),
            refresh: 7200,
            retry: 3600,
            expire: 1_209_600,
            minimum: 3600,
        }
    }

    fn zone(extra: &str, previous: &ZoneVersions) -> ZoneFile {
        let apex = fqdn("example.fr");
        let body = vec![
            ns(&apex, 3600, &fqdn("ns1.example.net")),
            txt(apex.clone(), 3600, extra),
        ];
        zone_file("example.fr", "example.fr", 3600, &soa(), body, previous)
    }

    #[test]
    fn serial_starts_at_one_stays_when_unchanged_and_rises_on_change() {
        let first = zone("v=spf1 mx -all", &ZoneVersions::default());
        assert_eq!(first.version.serial, 1);
        let mut seen = ZoneVersions::default();
        seen.0.insert(
            "example.fr".into(),
            ZoneVersion {
                serial: 7,
                digest: first.version.digest.clone(),
            },
        );
        let same = zone("v=spf1 mx -all", &seen);
        assert_eq!(same.version.serial, 7, "unchanged content keeps its serial");
        assert_eq!(same.text.replace(" 7 7200", " 1 7200"), first.text);
        let changed = zone("v=spf1 mx ~all", &seen);
        assert_eq!(changed.version.serial, 8);
        assert_ne!(changed.version.digest, first.version.digest);
        assert!(
            changed.text.contains(
                "IN SOA ns1.example.net. hostmaster.example.net. 8 7200 3600 1209600 3600"
            )
        );
    }

    #[test]
    fn serial_wraps_without_zero() {
        let mut seen = ZoneVersions::default();
        seen.0.insert(
            "example.fr".into(),
            ZoneVersion {
                serial: u32::MAX,
                digest: "old".into(),
            },
        );
        assert_eq!(zone("x", &seen).version.serial, 1);
    }

    #[test]
    fn versions_round_trip_through_the_annotation() {
        let z = zone("v=spf1 mx -all", &ZoneVersions::default());
        let versions = ZoneVersions(BTreeMap::from([(z.origin.clone(), z.version.clone())]));
        let annotations = BTreeMap::from([(
            ZONE_VERSIONS_ANNOTATION.to_owned(),
            versions.to_annotation(),
        )]);
        assert_eq!(ZoneVersions::from_annotations(&annotations), versions);
        let garbage =
            BTreeMap::from([(ZONE_VERSIONS_ANNOTATION.to_owned(), "{not json".to_owned())]);
        assert_eq!(
            ZoneVersions::from_annotations(&garbage),
            ZoneVersions::default()
        );
    }

    #[test]
    fn an_idna_zone_is_written_in_a_labels_only() {
        let origin = "xn--sallebuf-ptb.fr";
        let apex = fqdn(origin);
        let body = vec![ns(&apex, 3600, &fqdn("ns1.example.net"))];
        let z = zone_file(
            origin,
            "sallebœuf.fr",
            3600,
            &soa(),
            body,
            &ZoneVersions::default(),
        );
        assert!(
            z.text
                .starts_with("$ORIGIN xn--sallebuf-ptb.fr.\n$TTL 3600\n"),
            "{}",
            z.text
        );
        assert!(z.text.is_ascii(), "{}", z.text);
    }

    #[test]
    fn long_txt_values_are_split_and_quoted() {
        let long = format!("v=DKIM1; k=rsa; p={}\"q", "A".repeat(400));
        let z = zone(&long, &ZoneVersions::default());
        let line = z.text.lines().find(|l| l.contains("DKIM1")).unwrap();
        assert!(line.contains("\" \""), "split in two strings: {line}");
        assert!(line.ends_with("\\\"q\""), "quote escaped: {line}");
    }
}
