/*
 * Stand-in for Windows' bcryptprimitives.dll, for running tests under wine.
 *
 * Rust's std on Windows gets its randomness (HashMap's RandomState seeds,
 * among others) from ProcessPrng in bcryptprimitives.dll, which it imports
 * directly. Debian's wine 8 ships no such DLL, so without this shim every
 * test binary dies at load time before running a single test. Wine does
 * implement the older RtlGenRandom (exported from advapi32 under its real
 * name, SystemFunction036), so we just forward to that.
 *
 * This is test scaffolding only: it is never shipped or linked into fibra.
 */
#include <windows.h>

/* Declared here rather than via <ntsecapi.h>, whose RtlGenRandom macro
 * needs extra defines to appear. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a 32-bit length while ProcessPrng takes a
     * pointer-sized one, so feed large requests in pieces. */
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
