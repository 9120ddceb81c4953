// An LD_PRELOAD shim that makes file I/O fail, for tests: a real process and a real filesystem,
// with errors injected at the system call boundary for the files under one folder.
//
//   CAIRN_FAULT_PATH      where the affected files are: every file whose absolute path starts
//                         with this ("/srv/data/blobs/", or "/srv/data/metadata.db" for the
//                         database with its -wal and -shm)
//   CAIRN_FAULT_SWITCH    a file: faults happen only while it exists (tests turn them on and off
//                         without restarting the process)
//   CAIRN_FAULT_WRITE     probability (0..1) that a write, pwrite, writev, fsync or fdatasync of
//                         such a file fails
//   CAIRN_FAULT_READ      the same for read, pread and readv
//   CAIRN_FAULT_ERRNO     the error: EIO (default) or ENOSPC
//   CAIRN_FAULT_SEED      seed of the choices (default 1)
//
// Each injected failure is counted in CAIRN_FAULT_SWITCH's folder as a line in faults.log, so a
// test can assert that faults really happened.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536

static atomic_bool g_tracked[MAX_FDS];
static char g_prefix[4096];
static size_t g_prefix_len;
static const char* g_switch;
static double g_write_p;
static double g_read_p;
static int g_errno = EIO;
static _Atomic uint64_t g_state = 1;
static char g_log[4096];

__attribute__((constructor)) static void init(void) {
  const char* prefix = getenv("CAIRN_FAULT_PATH");
  if (prefix != NULL && strlen(prefix) < sizeof(g_prefix) - 1) {
    strcpy(g_prefix, prefix);
    g_prefix_len = strlen(g_prefix);
  }
  g_switch = getenv("CAIRN_FAULT_SWITCH");
  const char* w = getenv("CAIRN_FAULT_WRITE");
  const char* r = getenv("CAIRN_FAULT_READ");
  g_write_p = w != NULL ? atof(w) : 0.0;
  g_read_p = r != NULL ? atof(r) : 0.0;
  const char* e = getenv("CAIRN_FAULT_ERRNO");
  if (e != NULL && strcmp(e, "ENOSPC") == 0) g_errno = ENOSPC;
  const char* seed = getenv("CAIRN_FAULT_SEED");
  g_state = seed != NULL ? strtoull(seed, NULL, 10) * 2654435761u + 1 : 1;
  if (g_switch != NULL) {
    const char* slash = strrchr(g_switch, '/');
    if (slash != NULL && (size_t)(slash - g_switch) < sizeof(g_log) - 16) {
      memcpy(g_log, g_switch, (size_t)(slash - g_switch));
      strcpy(g_log + (slash - g_switch), "/faults.log");
    }
  }
}

static double next_random(void) {
  // xorshift64*, shared by all threads: the sequence is what it is, the rate is what matters.
  uint64_t x = atomic_load(&g_state);
  uint64_t y;
  do {
    y = x;
    y ^= y >> 12;
    y ^= y << 25;
    y ^= y >> 27;
  } while (!atomic_compare_exchange_weak(&g_state, &x, y));
  return (double)((y * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

static int under_prefix(int dirfd, const char* path) {
  if (g_prefix_len == 0 || path == NULL) return 0;
  if (path[0] != '/') {
    if (dirfd != AT_FDCWD) return dirfd >= 0 && dirfd < MAX_FDS && atomic_load(&g_tracked[dirfd]);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL) return 0;
    return strncmp(cwd, g_prefix, g_prefix_len) == 0;
  }
  return strncmp(path, g_prefix, g_prefix_len) == 0;
}

static void track(int fd, int dirfd, const char* path) {
  if (fd >= 0 && fd < MAX_FDS) atomic_store(&g_tracked[fd], under_prefix(dirfd, path));
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*read_fn)(int, void*, size_t);
typedef ssize_t (*pread_fn)(int, void*, size_t, off_t);
typedef ssize_t (*iov_fn)(int, const struct iovec*, int);
typedef int (*sync_fn)(int);

static void resolve(void);
// The next definition of `name` (libc's, or a sanitizer's interceptor).
#define REAL(name) (name##_real != NULL ? name##_real : (resolve(), name##_real))

static void note(const char* what, int fd) {
  if (g_log[0] == 0) return;
  static write_fn raw_write;
  if (raw_write == NULL) raw_write = (write_fn)dlsym(RTLD_NEXT, "write");
  int (*raw_open)(const char*, int, ...) = dlsym(RTLD_NEXT, "open");
  int log = raw_open(g_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log < 0) return;
  char line[128];
  int n = snprintf(line, sizeof(line), "%d %s fd %d\n", (int)getpid(), what, fd);
  if (n > 0) raw_write(log, line, (size_t)n);
  close(log);
}

// Whether this call on fd fails; sets errno when it does.
static int fail(int fd, double p, const char* what) {
  if (p <= 0 || fd < 0 || fd >= MAX_FDS || !atomic_load(&g_tracked[fd])) return 0;
  if (g_switch == NULL || access(g_switch, F_OK) != 0) return 0;
  if (next_random() >= p) return 0;
  note(what, fd);
  errno = g_errno;
  return 1;
}

static int (*open_real)(const char*, int, ...);
static int (*open64_real)(const char*, int, ...);
static int (*openat_real)(int, const char*, int, ...);
static int (*openat64_real)(int, const char*, int, ...);
static int (*close_real)(int);
static write_fn write_real;
static pwrite_fn pwrite_real;
static pwrite_fn pwrite64_real;
static iov_fn writev_real;
static read_fn read_real;
static pread_fn pread_real;
static pread_fn pread64_real;
static iov_fn readv_real;
static sync_fn fsync_real;
static sync_fn fdatasync_real;

static void resolve(void) {
  open_real = dlsym(RTLD_NEXT, "open");
  open64_real = dlsym(RTLD_NEXT, "open64");
  openat_real = dlsym(RTLD_NEXT, "openat");
  openat64_real = dlsym(RTLD_NEXT, "openat64");
  close_real = dlsym(RTLD_NEXT, "close");
  write_real = dlsym(RTLD_NEXT, "write");
  pwrite_real = dlsym(RTLD_NEXT, "pwrite");
  pwrite64_real = dlsym(RTLD_NEXT, "pwrite64");
  writev_real = dlsym(RTLD_NEXT, "writev");
  read_real = dlsym(RTLD_NEXT, "read");
  pread_real = dlsym(RTLD_NEXT, "pread");
  pread64_real = dlsym(RTLD_NEXT, "pread64");
  readv_real = dlsym(RTLD_NEXT, "readv");
  fsync_real = dlsym(RTLD_NEXT, "fsync");
  fdatasync_real = dlsym(RTLD_NEXT, "fdatasync");
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(open)(path, flags, mode);
  track(fd, AT_FDCWD, path);
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(open64)(path, flags, mode);
  track(fd, AT_FDCWD, path);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(openat)(dirfd, path, flags, mode);
  track(fd, dirfd, path);
  return fd;
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL(openat64)(dirfd, path, flags, mode);
  track(fd, dirfd, path);
  return fd;
}

int close(int fd) {
  if (fd >= 0 && fd < MAX_FDS) atomic_store(&g_tracked[fd], 0);
  return REAL(close)(fd);
}

ssize_t write(int fd, const void* buf, size_t n) {
  if (fail(fd, g_write_p, "write")) return -1;
  return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  if (fail(fd, g_write_p, "pwrite")) return -1;
  return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  if (fail(fd, g_write_p, "pwrite")) return -1;
  return REAL(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (fail(fd, g_write_p, "writev")) return -1;
  return REAL(writev)(fd, iov, count);
}

int fsync(int fd) {
  if (fail(fd, g_write_p, "fsync")) return -1;
  return REAL(fsync)(fd);
}

int fdatasync(int fd) {
  if (fail(fd, g_write_p, "fdatasync")) return -1;
  return REAL(fdatasync)(fd);
}

ssize_t read(int fd, void* buf, size_t n) {
  if (fail(fd, g_read_p, "read")) return -1;
  return REAL(read)(fd, buf, n);
}

ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  if (fail(fd, g_read_p, "pread")) return -1;
  return REAL(pread)(fd, buf, n, off);
}

ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  if (fail(fd, g_read_p, "pread")) return -1;
  return REAL(pread64)(fd, buf, n, off);
}

ssize_t readv(int fd, const struct iovec* iov, int count) {
  if (fail(fd, g_read_p, "readv")) return -1;
  return REAL(readv)(fd, iov, count);
}
