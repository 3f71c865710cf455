//! What the operating system allows: open file descriptors (one per connection), and the host
//! name for the run record.

use crate::schedule::Plan;

/// Descriptors the process needs besides its connections (stdio, the runtime, files).
const RESERVED_FDS: u64 = 64;

/// Raises the soft limit on open files to the hard limit (every connection is a descriptor;
/// shells often start at 1024 while the hard limit is far higher), then warns before sending
/// when the run could need more descriptors than that.
pub fn raise_open_files(plan: &Plan) {
    let soft = raise_nofile();
    let Some(soft) = soft else { return };
    let timeout_s = plan.timeout.as_secs_f64();
    // Requests that can be in flight at once: the cap, or for an open loop rate × timeout.
    let open_loop_peak = plan.stages.iter().filter_map(|s| s.process.rate_per_s()).fold(0.0f64, f64::max) * timeout_s;
    let (peak, why) = match plan.concurrency {
        Some(n) => (n as f64, format!("--concurrency {n}")),
        None if open_loop_peak > 0.0 => (
            open_loop_peak,
            format!("the rate x --timeout {timeout_s:.0}s, if the server stops answering; --concurrency caps it"),
        ),
        None => return,
    };
    if peak + RESERVED_FDS as f64 > soft as f64 {
        eprintln!(
            "sb-load: warning: up to {peak:.0} requests could be in flight ({why}), but only {soft} file descriptors are allowed (ulimit -n, hard limit included); past about {} connections, sends fail as connect_error \"Too many open files\"",
            soft.saturating_sub(RESERVED_FDS)
        );
    }
}

/// Soft RLIMIT_NOFILE after raising it to the hard limit; `None` when it cannot be read.
fn raise_nofile() -> Option<u64> {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit on a local struct; no memory is shared.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// This machine's host name, for the run record.
pub fn hostname() -> Option<String> {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|h| !h.is_empty());
        }
    }
    None
}

/// Whether `--spin` can have the cores it needs: `threads` event-loop threads that never sleep,
/// (the reader and writer threads run at a lower priority beside them). It measures, over
/// 200 ms, how much of the CPUs this process may run on sat idle; with less than 90% of a core
/// idle for each spinning thread, spinning
/// would fight other work for the core and make timing far worse (TTFT p99 +482 ms was seen
/// on a shared machine), so the answer is no, with the reason.
pub fn spin_has_a_core(threads: usize) -> Result<(), String> {
    let cpus = allowed_cpus();
    let Some(cpus) = cpus.filter(|c| !c.is_empty()) else { return Ok(()) };
    let before = cpu_times(&cpus);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = cpu_times(&cpus);
    let (Some((idle0, total0)), Some((idle1, total1))) = (before, after) else { return Ok(()) };
    let (idle, total) = (idle1.saturating_sub(idle0) as f64, total1.saturating_sub(total0) as f64);
    if total <= 0.0 {
        return Ok(());
    }
    let idle_cores = cpus.len() as f64 * idle / total;
    let need = threads as f64 * 0.9;
    if idle_cores < need {
        return Err(format!(
            "--spin needs an idle core of its own for each of its {threads} event-loop thread(s): this process may use {} CPU(s), of which {idle_cores:.1} sat idle just now",
            cpus.len()
        ));
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity mask).
fn allowed_cpus() -> Option<Vec<usize>> {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_getaffinity fills our local cpu_set_t; CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        return Some((0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect());
    }
    #[allow(unreachable_code)]
    None
}

/// (idle, total) jiffies of these CPUs from /proc/stat.
fn cpu_times(cpus: &[usize]) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let (mut idle, mut total) = (0u64, 0u64);
    for line in stat.lines() {
        let Some(rest) = line.strip_prefix("cpu") else { continue };
        let Some((id, fields)) = rest.split_once(' ') else { continue };
        let Ok(id) = id.parse::<usize>() else { continue };
        if !cpus.contains(&id) {
            continue;
        }
        let v: Vec<u64> = fields.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal
        if v.len() >= 5 {
            idle += v[3] + v[4];
            total += v.iter().take(8).sum::<u64>();
        }
    }
    Some((idle, total))
}
