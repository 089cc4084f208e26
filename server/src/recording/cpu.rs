//! The CPU readings admission counts, from /proc: the thin IO side of
//! [`super::admission`], which does the arithmetic. Each is a counter, in seconds of CPU.
//!
//! A sampler thread reads them once a second and keeps the last few seconds
//! ([`super::admission::WINDOW`]) rather than a reading at decision time against a kept
//! previous one: "the CPU use over the last few seconds" must mean that whenever a
//! recording is asked for (a reading against the previous request's would span ten
//! milliseconds or an hour), the correction factor is smoothed over time rather than
//! over requests, and `/api/health`, which supervisors poll, costs no reading. It reads a
//! few small files a second.
use super::Recorder;
use std::io;
use std::sync::Weak;

/// How often the sampler reads.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the recorder's sampler: a reading now, then one every [`TICK`], until the
/// recorder is dropped.
pub(super) fn spawn_sampler(recorder: Weak<Recorder>) {
    let sampler = move || {
        while let Some(recorder) = recorder.upgrade() {
            recorder.sample_cpu();
            drop(recorder);
            std::thread::sleep(TICK);
        }
    };
    if let Err(e) = std::thread::Builder::new().name("podium-cpu".into()).spawn(sampler) {
        tracing::warn!("cannot start the CPU sampler ({e}): admission counts only the recordings' predicted costs");
    }
}

/// The kernel's clock ticks per second, the unit of /proc's CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The whole machine's busy time: every CPU's user, nice, system, irq, softirq and
/// steal time (a VM's CPU taken by its host is not ours either); idle and iowait are not
/// busy, and guest time is already in user.
pub fn machine_busy_seconds() -> io::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks = busy_ticks(&stat).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no cpu line in /proc/stat"))?;
    Ok(ticks as f64 / ticks_per_second())
}

/// A process's CPU time (user and system, all its threads) since it started.
pub fn process_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = process_ticks(&stat).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unreadable /proc/{pid}/stat")))?;
    Ok(ticks as f64 / ticks_per_second())
}

/// This server's own CPU time: the SFU's workers are its threads; its compositors are
/// processes of their own, counted apart.
pub fn own_seconds() -> io::Result<f64> {
    process_seconds(std::process::id())
}

/// The busy ticks of /proc/stat's first line (`cpu  user nice system idle iowait irq
/// softirq steal guest guest_nice`).
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    (fields.len() >= 4).then(|| at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// utime + stime of a /proc/PID/stat line (fields 14 and 15; the command name, field 2,
/// may hold spaces and parentheses, so fields are counted after its last `)`).
fn process_ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_busy_time_of_proc_stat() {
        let stat = "cpu  100 20 30 5000 40 5 6 7 50 0\ncpu0 50 10 15 2500 20 2 3 3 25 0\nintr 1 2 3\n";
        assert_eq!(busy_ticks(stat), Some(100 + 20 + 30 + 5 + 6 + 7));
        assert_eq!(busy_ticks("intr 1 2\n"), None);
        assert_eq!(busy_ticks("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn reads_a_process_cpu_time_whatever_its_name() {
        let stat = "4242 (podium (compose) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 250 75 0 0 20 0 9 0 12345 100000 2000 18446744073709551615";
        assert_eq!(process_ticks(stat), Some(325));
        assert_eq!(process_ticks("garbage"), None);
    }

    #[test]
    fn this_process_and_the_machine_can_be_read() {
        // Burn a little CPU so the counters move.
        let before = own_seconds().unwrap();
        let machine = machine_busy_seconds().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(150) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(own_seconds().unwrap() > before, "own CPU time did not grow");
        assert!(machine_busy_seconds().unwrap() > machine, "the machine's busy time did not grow");
    }
}
