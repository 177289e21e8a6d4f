// SPDX-License-Identifier: Apache-2.0
// Stands in for "libcrypto.so" (this library's SONAME), which Debian 12's
// libcivetweb 1.15 dlopen()s although only libssl-dev installs that name.
// Nothing of its own: civetweb's dlsym() lookups fall through to
// libcrypto.so.3, which this library needs. See libssl.c.
typedef int synwatch_civetweb_libcrypto_is_empty;
