/* An LD_PRELOAD shim for the fault tests: a file system that refuses locks, and a crash
 * right after (or in the middle of) the k-th write of a process.
 *
 * BSB_SHIM_FLOCK=refuse  flock() fails with ENOSYS, as on Lustre mounted without flock.
 * BSB_SHIM_DIR=DIR       counts the calls that change files under DIR: write, pwrite,
 *                        writev, pwritev, fsync, fdatasync, ftruncate, rename, unlink
 *                        (per process; opens are logged, not counted).
 * BSB_SHIM_LOG=PREFIX    logs each counted call to PREFIX.RANK: "seq op path bytes".
 * BSB_SHIM_CRASH=R:K[:torn]  in the process of rank R (OMPI_COMM_WORLD_RANK, 0 for a
 *                        plain process), stops (SIGSTOP) right after call K, or with only
 *                        the first half of its bytes written; writes PREFIX.crashed first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long counted;

static const char *env(const char *name) { return getenv(name); }

static int rank(void) {
    const char *r = env("OMPI_COMM_WORLD_RANK");
    return r ? atoi(r) : 0;
}

static int under_dir(const char *path) {
    const char *dir = env("BSB_SHIM_DIR");
    return dir && path && strncmp(path, dir, strlen(dir)) == 0;
}

static int fd_path(int fd, char *out, size_t n) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, out, n - 1);
    if (len < 0) return 0;
    out[len] = 0;
    return 1;
}

static void log_line(const char *suffix, const char *text) {
    const char *prefix = env("BSB_SHIM_LOG");
    if (!prefix) return;
    char path[4096];
    snprintf(path, sizeof path, "%s.%d%s", prefix, rank(), suffix);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    syscall(SYS_write, fd, text, strlen(text));
    syscall(SYS_close, fd);
}

/* Whether this call is the one to crash at, and whether torn; counts it and logs it. */
static int crash_here(const char *op, const char *path, long bytes, int *torn) {
    if (!under_dir(path)) return 0;
    counted++;
    char line[4400];
    snprintf(line, sizeof line, "%ld %s %s %ld\n", counted, op, path, bytes);
    log_line("", line);
    const char *spec = env("BSB_SHIM_CRASH");
    if (!spec) return 0;
    int r = -1;
    long k = -1;
    char mode[8] = "";
    if (sscanf(spec, "%d:%ld:%7s", &r, &k, mode) < 2 || r != rank() || k != counted) return 0;
    *torn = strcmp(mode, "torn") == 0;
    return 1;
}

static void stop(const char *op, const char *path) {
    char line[4400];
    snprintf(line, sizeof line, "%ld %s %s\n", counted, op, path);
    log_line(".crashed", line);
    raise(SIGSTOP);
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = dlsym(RTLD_NEXT, #name)

int flock(int fd, int op) {
    REAL(flock);
    const char *refuse = env("BSB_SHIM_FLOCK");
    if (refuse && strcmp(refuse, "refuse") == 0) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, op);
}

/* Whether the write-like call on `fd` is the one to crash at; `count` is its length, and
 * `*n` becomes what to write (half of it when torn). */
static int decide(const char *op, int fd, size_t count, size_t *n, char *path) {
    int torn = 0;
    *n = count;
    if (!fd_path(fd, path, 4096) || !crash_here(op, path, (long)count, &torn)) return 0;
    if (torn && count > 1) *n = count / 2;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(write);
    char path[4096];
    size_t n;
    int crash = decide("write", fd, count, &n, path);
    ssize_t done = real(fd, buf, n);
    if (crash) stop("write", path);
    return done;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite);
    char path[4096];
    size_t n;
    int crash = decide("pwrite", fd, count, &n, path);
    ssize_t done = real(fd, buf, n, offset);
    if (crash) stop("pwrite", path);
    return done;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite64);
    char path[4096];
    size_t n;
    int crash = decide("pwrite", fd, count, &n, path);
    ssize_t done = real(fd, buf, n, offset);
    if (crash) stop("pwrite", path);
    return done;
}

static size_t iov_bytes(const struct iovec *iov, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    return total;
}

/* Torn vectored writes: the first half of the vectors, or half of the only one. */
static int torn_iov(const struct iovec *iov, int n, size_t keep, struct iovec *half) {
    if (keep == iov_bytes(iov, n)) return n;
    if (n > 1) return n / 2;
    half->iov_base = iov[0].iov_base;
    half->iov_len = iov[0].iov_len / 2;
    return -1;
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    REAL(writev);
    char path[4096];
    size_t keep;
    struct iovec half;
    int crash = decide("writev", fd, iov_bytes(iov, n), &keep, path);
    int count = torn_iov(iov, n, keep, &half);
    ssize_t done = count < 0 ? real(fd, &half, 1) : real(fd, iov, count);
    if (crash) stop("writev", path);
    return done;
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t offset) {
    REAL(pwritev);
    char path[4096];
    size_t keep;
    struct iovec half;
    int crash = decide("pwritev", fd, iov_bytes(iov, n), &keep, path);
    int count = torn_iov(iov, n, keep, &half);
    ssize_t done = count < 0 ? real(fd, &half, 1, offset) : real(fd, iov, count, offset);
    if (crash) stop("pwritev", path);
    return done;
}

/* A call on `fd` that changes the file without bytes (never torn). */
static int fd_crash(const char *op, int fd, char *path) {
    int torn = 0;
    return fd_path(fd, path, 4096) && crash_here(op, path, 0, &torn);
}

int fsync(int fd) {
    REAL(fsync);
    char path[4096];
    int crash = fd_crash("fsync", fd, path);
    int done = real(fd);
    if (crash) stop("fsync", path);
    return done;
}

int fdatasync(int fd) {
    REAL(fdatasync);
    char path[4096];
    int crash = fd_crash("fdatasync", fd, path);
    int done = real(fd);
    if (crash) stop("fdatasync", path);
    return done;
}

int ftruncate(int fd, off_t length) {
    REAL(ftruncate);
    char path[4096];
    int crash = fd_crash("ftruncate", fd, path);
    int done = real(fd, length);
    if (crash) stop("ftruncate", path);
    return done;
}

int ftruncate64(int fd, off_t length) {
    REAL(ftruncate64);
    char path[4096];
    int crash = fd_crash("ftruncate", fd, path);
    int done = real(fd, length);
    if (crash) stop("ftruncate", path);
    return done;
}

/* The absolute form of `path` in `full`. */
static const char *absolute(const char *path, char *full) {
    if (path[0] == '/') return path;
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return path;
    snprintf(full, 4096, "%s/%s", cwd, path);
    return full;
}

int rename(const char *from, const char *to) {
    REAL(rename);
    char full[4096];
    int torn = 0;
    const char *path = absolute(to, full);
    int crash = crash_here("rename", path, 0, &torn);
    int done = real(from, to);
    if (crash) stop("rename", path);
    return done;
}

int unlink(const char *name) {
    REAL(unlink);
    char full[4096];
    int torn = 0;
    const char *path = absolute(name, full);
    int crash = crash_here("unlink", path, 0, &torn);
    int done = real(name);
    if (crash) stop("unlink", path);
    return done;
}

/* Opens are logged (not counted), so that a test can tell the writes apart. */
static void log_open(const char *name, int flags) {
    char full[4096];
    const char *path = absolute(name, full);
    if (!under_dir(path)) return;
    char line[4400];
    snprintf(line, sizeof line, "%ld open%s %s 0\n", counted, (flags & O_CREAT) ? "-create" : "", path);
    log_line("", line);
}

int open(const char *path, int flags, ...) {
    REAL(open);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    log_open(path, flags);
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    REAL(open64);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    log_open(path, flags);
    return real(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(openat);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    if (dirfd == AT_FDCWD) log_open(path, flags);
    return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    REAL(openat64);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    if (dirfd == AT_FDCWD) log_open(path, flags);
    return real(dirfd, path, flags, mode);
}
