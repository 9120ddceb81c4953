#pragma once

// CAIRN_CHECK guards invariants of our own code: it aborts with file and line in every build.
// It never guards what the outside world controls (input, disks, networks): those are Errors.

#include <cstdio>
#include <cstdlib>

#define CAIRN_CHECK(cond)                                                                 \
  do {                                                                                    \
    if (!(cond)) [[unlikely]] {                                                           \
      std::fprintf(stderr, "%s:%d: CAIRN_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)

#ifdef NDEBUG
#define CAIRN_DCHECK(cond) \
  do {                     \
  } while (false)
#else
#define CAIRN_DCHECK(cond) CAIRN_CHECK(cond)
#endif
