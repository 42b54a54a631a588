/*
 * TEST-ONLY: never shipped. installer/wine-check.sh builds this into a
 * bcryptprimitives.dll inside a throwaway Wine prefix; make dist never
 * builds or packages it (wine-check.sh checks the MSI holds no such file).
 *
 * Go 1.22 and later fill their random numbers with ProcessPrng from
 * bcryptprimitives.dll, which every supported Windows has and Wine 8 does
 * not: without this stand-in every Steward program stops at start-up with
 * "bcryptprimitives.dll not found". It fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036), which Wine implements.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
