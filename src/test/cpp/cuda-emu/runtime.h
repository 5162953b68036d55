// What the parts of the emulator share: the kernel registry (kernels.cpp), device memory (memory.cpp), running a
// kernel on fibers (fiber.cpp), streams and graph capture (driver.cpp), error reporting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#define EMU_API extern "C" __attribute__((visibility("default")))

namespace emu {

// ---- the kernel registry (kernels.cpp, generated registry.inc) ----------------------------------------------------

struct Kernel {
    const char* name;
    void (*invoke)(void** params); // unpacks params[i] (a pointer to argument i) into a call of the kernel
    int params;
    const unsigned* sizes; // bytes of each parameter
    const char* kinds;     // one letter per parameter, as KernelSource parsed it: P pointer, L i64, I i32, F f32
    int maxThreads;        // __launch_bounds__'s first argument, else 1024
    int maxDynamicShared;  // cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES); 48 KiB until raised
};
Kernel* findKernel(const char* name);
int kernelCount();
Kernel* kernelAt(int i);
// the joined source (KernelSource.join()) the kernels were built from, which the fake NVRTC compares
const char* builtSource();
size_t builtSourceLength();
// What the fake NVRTC returns as the "cubin" and cuModuleLoadData accepts: a text naming the built source's hash.
const char* imageMarker();

// ---- errors -------------------------------------------------------------------------------------------------------

enum : int {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, NO_DEVICE = 100, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, INVALID_CONTEXT = 201, INVALID_HANDLE = 400, ILLEGAL_STATE = 401, NOT_FOUND = 500,
    NOT_READY = 600, ILLEGAL_ADDRESS = 700, LAUNCH_OUT_OF_RESOURCES = 701, MISALIGNED_ADDRESS = 716,
    ASSERT = 710, LAUNCH_FAILED = 719, NOT_SUPPORTED = 801, CAPTURE_UNSUPPORTED = 900, CAPTURE_INVALIDATED = 901,
    CAPTURE_IMPLICIT = 906, UNKNOWN = 999
};
// Prints "nemoh CUDA emulator: message" on stderr and keeps it for nemoh_emu_last_error().
void report(const std::string& message);
// The error a failed kernel leaves, as on a GPU: every later call of the context returns it (nemoh_emu_reset clears).
int stickyError();
void setStickyError(int code);

// ---- device memory (memory.cpp) -----------------------------------------------------------------------------------

enum class Space { DEVICE, HOST };
// Memory of `bytes` (> 0), 256-byte aligned, its end against a PROT_NONE guard page and filled with 0xff (NaN as
// float or bf16) unless NEMOH_EMU_POISON=0; null when out of memory.
void* allocate(size_t bytes, Space space);
// Frees an allocation's start; false when p is none. Its pages stay reserved and inaccessible for a while, so a
// later access faults as a use after free.
bool release(uintptr_t p, Space space);
// Whether [p, p + bytes) lies in one live allocation (of `space` unless any); bytes 0 allows one past the end.
bool inside(uintptr_t p, size_t bytes, bool any, Space space);
// Where address p lies, for messages: "12 bytes past the end of the 1024-byte device allocation at 0x...".
std::string describe(uintptr_t p);
// Checks the slack between each allocation's end and its guard page; non-empty: which were written past their end.
std::string checkSlack();
size_t deviceBytesInUse();
// The device memory the emulator lends: 16 GiB unless nemoh_emu_set_device_memory set another size.
size_t deviceMemory();
void setDeviceMemory(size_t bytes);

// ---- running kernels (fiber.cpp) ----------------------------------------------------------------------------------

struct Dim {
    unsigned x, y, z;
};
// Runs a launch to completion, its blocks one after another and each block's threads as fibers. Returns SUCCESS, or
// an error (deadlock, fault, trap) with `error` saying what happened where.
int runKernel(const Kernel* k, Dim grid, Dim block, unsigned sharedBytes, void** params, std::string& error);

// Runs `work` now, or records it into the graph when `stream` captures one (driver.cpp; cuBLAS queues this way).
int recordOrRun(void* stream, const char* what, std::function<int()> work);

// The one lock every entry point of the library takes: launches, copies and cuBLAS calls run one at a time.
std::recursive_mutex& lock();

} // namespace emu
