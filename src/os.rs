//! Facts about this process and its host from the operating system.

/// `sysname-release-machine` from `uname` (`Linux-6.1.0-28-amd64-x86_64`).
pub(crate) fn platform() -> String {
    // SAFETY: uname fills a zeroed struct of fixed-size, NUL-terminated fields.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&raw mut u) != 0 {
            return std::env::consts::OS.to_owned();
        }
        let field = |f: &[libc::c_char]| std::ffi::CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        format!("{}-{}-{}", field(&u.sysname), field(&u.release), field(&u.machine))
    }
}

/// This process's peak resident memory so far, in bytes: `VmHWM` of `/proc/self/status`,
/// else `getrusage`. Linux starts an executed program's `ru_maxrss` at the peak of the
/// process it was forked from: `simulate` launched from a Python process of 400 MB reported
/// at least 400 MB. `VmHWM` counts this program's own memory only.
pub(crate) fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let hwm = status.as_deref().and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")));
    if let Some(kib) = hwm.and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()) {
        return kib * 1024;
    }
    // SAFETY: getrusage fills the zeroed struct it is given.
    let kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) != 0 {
            return 0;
        }
        usage.ru_maxrss
    };
    u64::try_from(kib).unwrap_or(0) * 1024
}

/// The memory the system can still give, in bytes (`MemAvailable` of `/proc/meminfo`).
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn platform_names_the_os() {
        assert!(super::platform().starts_with("Linux-"), "{}", super::platform());
    }

    #[test]
    fn available_memory_is_read() {
        assert!(super::available_memory().is_some_and(|m| m > 1 << 20));
    }

    #[test]
    fn peak_memory_is_measured() {
        let before = super::peak_memory();
        assert!(before > 1 << 20);
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        assert!(super::peak_memory() >= before.max(64 << 20), "{before} then {}", super::peak_memory());
    }
}
