// Declines glibc printf hooks (see below). Linked into libwinnow_server.so.
//
// Why: OpenBLAS (selection/nearest.cc's batched path) pulls in libgfortran
// and with it libquadmath, whose load-time constructor registers printf
// handlers for __float128 (register_printf_type, _modifier, _specifier).
// Once any handler is registered, glibc formats every printf-family call
// through its positional path, which takes several KB more stack. The
// metrics endpoint's civetweb worker threads run on fixed ~100 KB stacks,
// and a /metrics scrape then overflowed one (SIGSEGV in printf_positional,
// from mg_printf) — every scrape crashed winnowd.
//
// How: these definitions come before libc's in the dynamic linker's lookup
// order (libwinnow_server.so is a direct dependency of every binary that
// links it, ahead of libc.so.6), so libquadmath's constructor calls them,
// gets -1 and registers nothing. Winnow never formats __float128; nothing
// else in the process registers printf hooks. Tested by the metrics tests
// (tests/server/metrics_test.cc scrapes /metrics in process, and
// tests/system/metrics_test.cc through winnowd).
#include <printf.h>

extern "C" {

int register_printf_type(printf_va_arg_function*) { return -1; }

int register_printf_modifier(const wchar_t*) { return -1; }

int register_printf_specifier(int, printf_function*,
                              printf_arginfo_size_function*) {
  return -1;
}

}  // extern "C"
