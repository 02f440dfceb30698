//! Process metrics in the Prometheus client convention (`process_resident_memory_bytes`,
//! `process_cpu_seconds_total`, `process_open_fds`), read from `/proc/self` at each scrape.
//! Elsewhere than Linux they are simply absent.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks a second in `/proc/<pid>/stat`: USER_HZ, fixed at 100 in Linux's user ABI on
/// every architecture the operator ships for.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default)]
pub struct ProcessCollector;

/// Resident memory in bytes, from the `VmRSS:` line of `/proc/self/status` (in kB).
pub fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User plus system CPU time in seconds (fields 14 and 15 of `/proc/self/stat`; the command
/// name in field 2 may hold spaces, so fields are counted after its closing parenthesis).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Open file descriptors: the entries of `/proc/self/fd`.
pub fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(bytes) = resident_bytes() {
            let gauge = ConstGauge::new(bytes);
            let m = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(m)?;
        }
        if let Some(seconds) = cpu_seconds() {
            let counter = ConstCounter::new(seconds);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?;
            counter.encode(m)?;
        }
        if let Some(fds) = open_fds() {
            let gauge = ConstGauge::new(fds);
            let m = encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(m)?;
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn process_figures_are_read_from_proc() {
        let rss = super::resident_bytes().unwrap();
        assert!(
            rss > 1024 * 1024,
            "a test process holds more than 1 MiB: {rss}"
        );
        // Burn some CPU so the figure cannot be zero.
        let mut x = 0u64;
        let before = super::cpu_seconds().unwrap();
        while super::cpu_seconds().unwrap() <= before {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        assert!(x != 1);
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let with_file = super::open_fds().unwrap();
        drop(file);
        assert!(
            with_file >= 4,
            "stdin, stdout, stderr and the file: {with_file}"
        );
    }
}
