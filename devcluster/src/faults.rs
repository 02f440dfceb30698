//! Fault injection: a chosen fraction of requests, by verb and resource, answered with 409, 429,
//! 500 or a timeout, before the request reaches the store or after its write happened, and
//! responses delayed — what a busy or failing apiserver does to a client, reproducible by seed.
//!
//! Rules are written `verbs=create|patch,resources=secrets,fraction=0.1,error=409|500,when=before|after,delay=50ms`,
//! several separated by `;`, with an optional `seed=N` item (see README.md, Fault injection).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// The answer an injected fault gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultError {
    /// 409 `Conflict` (the object has been modified).
    Conflict,
    /// 429 `TooManyRequests` with `Retry-After: 1`.
    TooMany,
    /// 500 `InternalError`.
    Internal,
    /// 504 `Timeout` after the rule's delay (default 1 s), as the apiserver's timeout filter.
    Timeout,
}

impl FaultError {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "409" | "conflict" => Self::Conflict,
            "429" | "toomany" => Self::TooMany,
            "500" | "internal" => Self::Internal,
            "504" | "timeout" => Self::Timeout,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Self::Conflict => "409",
            Self::TooMany => "429",
            Self::Internal => "500",
            Self::Timeout => "timeout",
        }
    }
}

/// Whether the fault is given instead of handling the request, or after handling it (a write
/// then did happen and the client is told it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Before,
    After,
}

/// One rule: which requests it may hit, how often, and what they get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// RBAC verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`); empty = every verb.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resource plurals, optionally with a subresource (`tenants/status`); a plain plural also
    /// matches its subresources; empty = every resource.
    #[serde(default)]
    pub resources: Vec<String>,
    /// User-Agent prefixes (`mutualis/` for the operator alone, so that a test's own client
    /// is spared); empty = every client.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Share of the matching requests hit, 0 to 1.
    pub fraction: f64,
    /// Errors to choose from (uniformly); empty = delay only.
    #[serde(default)]
    pub errors: Vec<FaultError>,
    /// Moments to choose from (uniformly); empty = before.
    #[serde(default)]
    pub when: Vec<When>,
    /// Added before answering a hit request, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

/// The rules and the seed of their random draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Same seed and same order of requests: same faults. Absent: seeded from the clock.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub error: Option<FaultError>,
    pub when: When,
    pub delay: Duration,
}

/// A fault plan that does not parse: names the item, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault rule {item:?}: {why}")]
pub struct FaultPlanError {
    pub item: String,
    pub why: String,
}

const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn bad(item: &str, why: impl Into<String>) -> FaultPlanError {
    FaultPlanError {
        item: item.to_string(),
        why: why.into(),
    }
}

fn parse_delay(item: &str, v: &str) -> Result<u64, FaultPlanError> {
    let (n, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else {
        (v, 1)
    };
    n.parse::<u64>().map(|n| n * scale).map_err(|_| {
        bad(
            item,
            format!("delay {v:?} is not a duration (e.g. 200ms, 2s)"),
        )
    })
}

fn parse_rule(text: &str) -> Result<FaultRule, FaultPlanError> {
    let mut rule = FaultRule {
        verbs: Vec::new(),
        resources: Vec::new(),
        agents: Vec::new(),
        fraction: 1.0,
        errors: Vec::new(),
        when: Vec::new(),
        delay_ms: 0,
    };
    for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(bad(field, "expected key=value"));
        };
        let values = || {
            value
                .split('|')
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "*")
        };
        match key.trim() {
            "verbs" | "verb" => {
                for v in values() {
                    if !VERBS.contains(&v) {
                        return Err(bad(
                            field,
                            format!("verb {v:?} is not one of {}", VERBS.join(", ")),
                        ));
                    }
                    rule.verbs.push(v.to_string());
                }
            }
            "resources" | "resource" => rule.resources.extend(values().map(String::from)),
            "agents" | "agent" => rule.agents.extend(values().map(String::from)),
            "fraction" => {
                rule.fraction = value
                    .parse::<f64>()
                    .ok()
                    .filter(|f| (0.0..=1.0).contains(f))
                    .ok_or_else(|| {
                        bad(
                            field,
                            format!("fraction {value:?} is not a number from 0 to 1"),
                        )
                    })?
            }
            "error" | "errors" => {
                for v in values() {
                    rule.errors.push(FaultError::parse(v).ok_or_else(|| {
                        bad(
                            field,
                            format!("error {v:?} is not one of 409, 429, 500, timeout"),
                        )
                    })?);
                }
            }
            "when" => {
                for v in values() {
                    rule.when.push(match v {
                        "before" => When::Before,
                        "after" => When::After,
                        _ => return Err(bad(field, format!("when {v:?} is not before or after"))),
                    });
                }
            }
            "delay" => rule.delay_ms = parse_delay(field, value.trim())?,
            k => {
                return Err(bad(
                    field,
                    format!(
                        "unknown key {k:?}; allowed: verbs, resources, agents, fraction, error, when, delay"
                    ),
                ));
            }
        }
    }
    if rule.errors.is_empty() && rule.delay_ms == 0 {
        return Err(bad(text, "a rule needs an error or a delay"));
    }
    Ok(rule)
}

impl FromStr for FaultPlan {
    type Err = FaultPlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut plan = FaultPlan::default();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(seed) = item.strip_prefix("seed=") {
                plan.seed =
                    Some(seed.trim().parse().map_err(|_| {
                        bad(item, format!("seed {seed:?} is not an unsigned integer"))
                    })?);
            } else {
                plan.rules.push(parse_rule(item)?);
            }
        }
        Ok(plan)
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if let Some(seed) = self.seed {
            items.push(format!("seed={seed}"));
        }
        for r in &self.rules {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "*".to_string()
                } else {
                    v.join("|")
                }
            };
            let mut s = format!(
                "verbs={},resources={},fraction={}",
                list(&r.verbs),
                list(&r.resources),
                r.fraction
            );
            if !r.agents.is_empty() {
                s.push_str(&format!(",agents={}", r.agents.join("|")));
            }
            if !r.errors.is_empty() {
                let e: Vec<&str> = r.errors.iter().map(|e| e.label()).collect();
                s.push_str(&format!(",error={}", e.join("|")));
            }
            if !r.when.is_empty() {
                let w: Vec<&str> = r
                    .when
                    .iter()
                    .map(|w| match w {
                        When::Before => "before",
                        When::After => "after",
                    })
                    .collect();
                s.push_str(&format!(",when={}", w.join("|")));
            }
            if r.delay_ms > 0 {
                s.push_str(&format!(",delay={}ms", r.delay_ms));
            }
            items.push(s);
        }
        f.write_str(&items.join("; "))
    }
}

impl FaultRule {
    fn matches(&self, verb: &str, resource: &str, sub: &str, agent: &str) -> bool {
        let agent_ok =
            self.agents.is_empty() || self.agents.iter().any(|a| agent.starts_with(a.as_str()));
        let verb_ok = self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb);
        let resource_ok = self.resources.is_empty()
            || self.resources.iter().any(|r| match r.split_once('/') {
                Some((res, s)) => res == resource && s == sub,
                None => r == resource,
            });
        verb_ok && resource_ok && agent_ok
    }
}

/// The live plan, its random state and what it injected.
pub struct Faults {
    inner: Mutex<Live>,
}

struct Live {
    plan: FaultPlan,
    rng: u64,
    injected: u64,
}

/// splitmix64: small, fast and good enough to pick which requests fail; not for secrets.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed_of(plan: &FaultPlan) -> u64 {
    plan.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    })
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Self {
        let rng = seed_of(&plan);
        Self {
            inner: Mutex::new(Live {
                plan,
                rng,
                injected: 0,
            }),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the plan (and restarts its random sequence); the count of injected faults stays.
    pub fn set(&self, plan: FaultPlan) {
        let mut live = self.live();
        live.rng = seed_of(&plan);
        live.plan = plan;
    }

    pub fn plan(&self) -> FaultPlan {
        self.live().plan.clone()
    }

    /// Faults injected since the server started.
    pub fn injected(&self) -> u64 {
        self.live().injected
    }

    /// Draws the fault for one request, if any: the first matching rule whose draw hits.
    pub fn pick(&self, verb: &str, resource: &str, sub: &str, agent: &str) -> Option<Fault> {
        let mut live = self.live();
        if live.plan.rules.is_empty() {
            return None;
        }
        let Live {
            plan,
            rng,
            injected,
            ..
        } = &mut *live;
        for rule in plan
            .rules
            .iter()
            .filter(|r| r.matches(verb, resource, sub, agent))
        {
            // 53 random bits as a fraction in [0, 1).
            let draw = (next(rng) >> 11) as f64 / (1u64 << 53) as f64;
            if draw >= rule.fraction {
                continue;
            }
            let choose = |rng: &mut u64, n: usize| (next(rng) % n as u64) as usize;
            let error =
                (!rule.errors.is_empty()).then(|| rule.errors[choose(rng, rule.errors.len())]);
            let when = if rule.when.is_empty() {
                When::Before
            } else {
                rule.when[choose(rng, rule.when.len())]
            };
            let mut delay = Duration::from_millis(rule.delay_ms);
            if error == Some(FaultError::Timeout) && delay.is_zero() {
                delay = Duration::from_secs(1);
            }
            *injected += 1;
            return Some(Fault { error, when, delay });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_parses_and_prints_back() {
        let text = "seed=7; verbs=create|patch,resources=secrets|tenants/status,fraction=0.1,error=409|500,when=before|after,delay=20ms; verbs=get,fraction=1,delay=2s";
        let plan: FaultPlan = text.parse().unwrap();
        assert_eq!(plan.seed, Some(7));
        assert_eq!(plan.rules.len(), 2);
        assert_eq!(
            plan.rules[0].errors,
            [FaultError::Conflict, FaultError::Internal]
        );
        assert_eq!(plan.rules[0].when, [When::Before, When::After]);
        assert_eq!(plan.rules[1].delay_ms, 2000);
        assert_eq!(plan.to_string().parse::<FaultPlan>().unwrap(), plan);
    }

    #[test]
    fn bad_items_are_named_with_what_is_allowed() {
        let e = "verbs=frob,error=500".parse::<FaultPlan>().unwrap_err();
        assert_eq!(e.item, "verbs=frob");
        assert!(
            e.why.contains("\"frob\"") && e.why.contains("deletecollection"),
            "{e}"
        );
        let e = "fraction=1.5,error=500".parse::<FaultPlan>().unwrap_err();
        assert!(e.why.contains("from 0 to 1"), "{e}");
        let e = "error=418".parse::<FaultPlan>().unwrap_err();
        assert!(e.why.contains("409, 429, 500, timeout"), "{e}");
        let e = "verbs=get".parse::<FaultPlan>().unwrap_err();
        assert!(e.why.contains("error or a delay"), "{e}");
    }

    #[test]
    fn the_fraction_hit_is_close_to_the_one_asked_and_the_seed_repeats_it() {
        let plan: FaultPlan = "seed=42; verbs=patch,resources=secrets,fraction=0.1,error=500"
            .parse()
            .unwrap();
        let draw = |faults: &Faults| -> Vec<bool> {
            (0..10_000)
                .map(|_| faults.pick("patch", "secrets", "", "kubectl").is_some())
                .collect()
        };
        let (a, b) = (Faults::new(plan.clone()), Faults::new(plan));
        let hits = draw(&a);
        assert_eq!(hits, draw(&b), "same seed, same faults");
        let n = hits.iter().filter(|h| **h).count();
        assert!((800..1200).contains(&n), "{n} of 10 000 hit at 10 %");
        assert_eq!(a.injected(), n as u64);
        // Other verbs and resources are never hit.
        assert!((0..1000).all(|_| a.pick("get", "secrets", "", "").is_none()));
        assert!((0..1000).all(|_| a.pick("patch", "configmaps", "", "").is_none()));
    }

    #[test]
    fn a_subresource_rule_hits_only_that_subresource() {
        let f = Faults::new("resources=tenants/status,error=429".parse().unwrap());
        assert!(f.pick("patch", "tenants", "", "").is_none());
        assert_eq!(
            f.pick("patch", "tenants", "status", "").unwrap().error,
            Some(FaultError::TooMany)
        );
        let f = Faults::new("resources=tenants,error=timeout".parse().unwrap());
        let hit = f.pick("patch", "tenants", "status", "").unwrap();
        assert_eq!(
            hit.delay,
            Duration::from_secs(1),
            "a timeout waits by default"
        );
    }
}
