// Device memory is host memory: a CUdeviceptr is the host address. Each allocation is its own mapping whose end
// touches a PROT_NONE guard page, so a kernel that runs past the end of a buffer faults at once (fiber.cpp turns the
// fault into a CUDA error naming the kernel and the buffer); the few bytes between the end and the guard page (the
// start is 256-byte aligned) are checked after every launch. Fresh memory holds 0xff bytes (NaN as float or bf16,
// -1 as int) rather than zeros, so that reading memory nothing wrote shows in results. Freed memory stays mapped
// without access for a while, so a use after free faults too.
#include "runtime.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>

namespace emu {
namespace {

struct Allocation {
    uintptr_t start;
    size_t size;
    char* map;
    size_t mapLength;
    Space space;
};

std::map<uintptr_t, Allocation> live;         // by the start of its mapping
std::deque<Allocation> quarantine;            // freed, oldest first
size_t quarantined = 0, deviceInUse = 0;
constexpr size_t QUARANTINE_BYTES = 4ull << 30, QUARANTINE_COUNT = 4096;
constexpr unsigned char POISON = 0xff;

size_t pageSize() {
    static size_t page = (size_t) sysconf(_SC_PAGESIZE);
    return page;
}

bool poison() {
    static int on = [] {
        const char* v = getenv("NEMOH_EMU_POISON");
        return v == nullptr || strcmp(v, "0") != 0;
    }();
    return on;
}

const char* spaceName(Space s) { return s == Space::DEVICE ? "device" : "page-locked host"; }

const Allocation* containing(const std::map<uintptr_t, Allocation>& m, uintptr_t p) {
    auto it = m.upper_bound(p);
    if (it == m.begin()) return nullptr;
    --it;
    const Allocation& a = it->second;
    return p >= (uintptr_t) a.map && p < (uintptr_t) a.map + a.mapLength ? &a : nullptr;
}

std::string hex(uintptr_t p) {
    char b[32];
    snprintf(b, sizeof b, "0x%llx", (unsigned long long) p);
    return b;
}

} // namespace

void* allocate(size_t bytes, Space space) {
    if (bytes == 0) return nullptr;
    size_t page = pageSize();
    size_t data = (bytes + page - 1) / page * page;
    if (space == Space::DEVICE && deviceInUse + data > deviceMemory()) return nullptr;
    size_t length = data + page;
    void* m = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char* map = (char*) m;
    if (mprotect(map + data, page, PROT_NONE) != 0) {
        munmap(map, length);
        return nullptr;
    }
    uintptr_t start = ((uintptr_t) map + data - bytes) & ~(uintptr_t) 255;
    if (poison()) memset((void*) start, POISON, (uintptr_t) map + data - start);
    else memset((void*) (start + bytes), POISON, (uintptr_t) map + data - start - bytes); // the slack only
    live[(uintptr_t) map] = Allocation{start, bytes, map, length, space};
    if (space == Space::DEVICE) deviceInUse += data;
    return (void*) start;
}

bool release(uintptr_t p, Space space) {
    const Allocation* found = containing(live, p);
    if (found == nullptr || found->start != p || found->space != space) return false;
    Allocation a = *found;
    live.erase((uintptr_t) a.map);
    if (space == Space::DEVICE) deviceInUse -= a.mapLength - pageSize();
    madvise(a.map, a.mapLength, MADV_DONTNEED);
    mprotect(a.map, a.mapLength, PROT_NONE);
    quarantine.push_back(a);
    quarantined += a.mapLength;
    while (quarantine.size() > QUARANTINE_COUNT || quarantined > QUARANTINE_BYTES) {
        Allocation& old = quarantine.front();
        munmap(old.map, old.mapLength);
        quarantined -= old.mapLength;
        quarantine.pop_front();
    }
    return true;
}

bool inside(uintptr_t p, size_t bytes, bool any, Space space) {
    const Allocation* a = containing(live, p);
    if (a == nullptr || (!any && a->space != space)) return false;
    return p >= a->start && p - a->start <= a->size && bytes <= a->size - (p - a->start);
}

std::string describe(uintptr_t p) {
    if (p < 65536) return "address " + hex(p) + ", a null pointer plus " + std::to_string(p);
    if (const Allocation* a = containing(live, p)) {
        std::string what = "the " + std::to_string(a->size) + "-byte " + spaceName(a->space) + " allocation at " + hex(a->start);
        if (p < a->start) return "address " + hex(p) + ", " + std::to_string(a->start - p) + " bytes before " + what;
        if (p >= a->start + a->size) {
            return "address " + hex(p) + ", " + std::to_string(p - a->start - a->size) + " bytes past the end of " + what;
        }
        return "address " + hex(p) + ", byte " + std::to_string(p - a->start) + " of " + what;
    }
    for (auto it = quarantine.rbegin(); it != quarantine.rend(); ++it) {
        if (p >= (uintptr_t) it->map && p < (uintptr_t) it->map + it->mapLength) {
            return "address " + hex(p) + " in the " + std::to_string(it->size) + "-byte " + spaceName(it->space)
                    + " allocation at " + hex(it->start) + ", which was freed (a use after free)";
        }
    }
    return "address " + hex(p) + ", which is in no allocation of device or page-locked memory";
}

std::string checkSlack() {
    std::string bad;
    for (auto& [base, a] : live) {
        uintptr_t start = a.start;
        const unsigned char* end = (const unsigned char*) (start + a.size);
        const unsigned char* guard = (const unsigned char*) a.map + a.mapLength - pageSize();
        for (const unsigned char* q = end; q < guard; q++) {
            if (*q != POISON) {
                if (!bad.empty()) bad += "; ";
                bad += "byte " + std::to_string(q - end) + " past the end of the " + std::to_string(a.size) + "-byte "
                        + spaceName(a.space) + " allocation at " + hex(start) + " was written";
                memset((void*) end, POISON, guard - end); // report it once
                break;
            }
        }
    }
    return bad;
}

size_t deviceBytesInUse() { return deviceInUse; }

static size_t deviceMemoryBytes = 16ull << 30;

size_t deviceMemory() { return deviceMemoryBytes; }

void setDeviceMemory(size_t bytes) { deviceMemoryBytes = bytes; }

} // namespace emu
