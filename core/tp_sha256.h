/*
 * tp_sha256.h - SHA-256 (FIPS 180-4) with the x86 SHA extensions, as a BearSSL hash class.
 *
 * This file pair owns the choice of SHA-256 implementation: on a CPU with the SHA
 * extensions (SHA-NI) and SSE4.1 the compression function runs on sha256rnds2 and
 * friends, about five times faster than BearSSL's portable C; elsewhere BearSSL's own
 * br_sha256_vtable is used. The class is a drop-in br_hash_class: its context fits in a
 * br_hash_compat_context, its desc equals br_sha256_vtable.desc, and state()/set_state()
 * mean what BearSSL's do, so br_hmac_* and every other BearSSL user of a hash class
 * accepts it. SHA-224 stays on BearSSL.
 */
#ifndef TP_SHA256_H
#define TP_SHA256_H

#include <bearssl.h>

/**
 * The SHA-256 class to use on this machine: the SHA-NI one when the CPU has the SHA
 * extensions and SSE4.1, else &br_sha256_vtable. The CPU is probed once per process;
 * later calls are a load. The returned class is static; never freed.
 */
const br_hash_class *tp_sha256_vtable(void);

/**
 * The SHA-NI class itself, or NULL when this CPU (or this build's target) lacks the
 * instructions. For tests and benchmarks that want to name the implementation; everyone
 * else calls tp_sha256_vtable().
 */
const br_hash_class *tp_sha256_ni_vtable(void);

#endif
