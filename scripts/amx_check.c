/* Exit 0 when this machine runs Intel AMX tile instructions in a user process: the kernel grants
 * the tile-data permission and a tile multiply gives the right sum. A CPU can list amx_tile and
 * amx_int8 in /proc/cpuinfo on a VM whose kernel or hypervisor does not enable them; there the
 * permission request fails (exit 2) or the first tile instruction faults. scripts/install.sh builds
 * llama.cpp's AMX kernels only where this passes. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

struct tile_config {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64)));

int main(void) {
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) return 2;
    /* volatile: GCC 12's _tile_loadconfig declares an 8-byte read, so plain stores past the
     * first 8 bytes may be dropped as dead (the bug install.sh works around for llama.cpp) */
    static volatile struct tile_config cfg;
    static int8_t a[16 * 64], b[16 * 64];
    static int32_t c[16 * 16];
    cfg.palette_id = 1;
    for (int i = 0; i < 3; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    _tile_loadconfig((const void *)&cfg);
    _tile_zero(0);
    _tile_loadd(1, a, 64);
    _tile_loadd(2, b, 64);
    _tile_dpbssd(0, 1, 2);
    _tile_stored(0, c, 64);
    _tile_release();
    return c[0] == 64 * 1 * 2 ? 0 : 1; /* each int32 of C sums 64 products of 1 × 2 */
}
