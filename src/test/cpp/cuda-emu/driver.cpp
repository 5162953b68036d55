// The CUDA driver API (libcuda) subset nemoh calls, with the same C symbols and signatures. One device, "nemoh CUDA
// emulator (CPU)", compute capability 9.0; device memory is host memory (memory.cpp); every operation runs at once,
// in the calling thread, so streams only matter for graph capture: work queued on a capturing stream is recorded
// (kernel parameters deep-copied, host pointers of copies kept and read at replay, as the driver does) and replayed
// by cuGraphLaunch. What the driver rejects is rejected here too, with a message on stderr: calls before cuInit or
// without a current context (per thread), bad handles, launch shapes and shared memory past the limits, legacy-stream
// work or synchronization during a capture, copies outside allocations. A kernel that faults or deadlocks leaves a
// sticky error, as on a GPU.
#include "runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace emu {
namespace {

std::recursive_mutex mutex;
bool initialized;
int sticky;
std::string lastError;
thread_local bool contextCurrent;
int primaryContext, moduleTag;

struct ErrorName {
    int code;
    const char* name;
};
const ErrorName ERRORS[] = {
#include "errors.inc"
};

using Node = std::function<int()>;
struct Graph {
    std::vector<Node> nodes;
};
struct Exec {
    std::vector<Node> nodes;
};
struct Stream {
    unsigned flags;
    bool capturing, invalidated;
    int mode;
    Graph* graph;
};
struct Event {
    unsigned flags;
    bool recorded;
    double ms;
};

std::set<void*> streams, events, graphs, execs;
void* const LEGACY = (void*) 1;
void* const PER_THREAD = (void*) 2;
constexpr unsigned STREAM_NON_BLOCKING = 1, EVENT_DISABLE_TIMING = 2;
constexpr int CAPTURE_GLOBAL = 0, CAPTURE_RELAXED = 2;

int multiprocessors() {
    static int n = [] {
        const char* v = getenv("NEMOH_EMU_SMS");
        int x = v ? atoi(v) : 0;
        return x > 0 ? x : 4;
    }();
    return n;
}

// NEMOH_EMU_TRACE=1: a line on stderr for every kernel run (with its time), capture, and graph replay
bool tracing() {
    static bool on = [] {
        const char* v = getenv("NEMOH_EMU_TRACE");
        return v != nullptr && strcmp(v, "0") != 0;
    }();
    return on;
}

double nowMs() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string hex(unsigned long long p) {
    char b[32];
    snprintf(b, sizeof b, "0x%llx", p);
    return b;
}

int fail(int code, const std::string& message) {
    report(message);
    return code;
}

#define ENTER()                                                                                                      \
    std::lock_guard<std::recursive_mutex> guard(mutex);                                                              \
    if (!initialized) return NOT_INITIALIZED
#define ENTER_CONTEXT()                                                                                              \
    ENTER();                                                                                                         \
    if (!contextCurrent) return fail(INVALID_CONTEXT, std::string(__func__) + ": no current context on this thread"); \
    if (sticky) return sticky

bool isStream(void* s) { return s == nullptr || s == LEGACY || s == PER_THREAD || streams.count(s); }
bool isLegacy(void* s) { return s == nullptr || s == LEGACY; }

Stream* capturing() {
    for (void* s : streams) if (((Stream*) s)->capturing) return (Stream*) s;
    return nullptr;
}

// Ends every capture with an error, as the driver does when a capture meets what it cannot record.
void invalidateCaptures() {
    for (void* s : streams) if (((Stream*) s)->capturing) ((Stream*) s)->invalidated = true;
}

// Where work queued on `stream` goes: SUCCESS with *into null runs it now, with *into set records it into the graph
// of that stream's capture. Work on the legacy stream while a blocking stream captures would make the capture
// depend on it: an error that invalidates the capture.
int route(void* stream, const char* what, Stream** into) {
    *into = nullptr;
    if (!isStream(stream)) return fail(INVALID_HANDLE, std::string(what) + ": invalid stream " + hex((uintptr_t) stream));
    if (isLegacy(stream)) {
        Stream* c = capturing();
        if (c != nullptr && !(c->flags & STREAM_NON_BLOCKING)) {
            invalidateCaptures();
            return fail(CAPTURE_IMPLICIT, std::string(what) + " on the legacy default stream while stream "
                        + hex((uintptr_t) c) + " captures a graph (CUDA_ERROR_STREAM_CAPTURE_IMPLICIT); the capture is"
                        " invalidated");
        }
        return SUCCESS;
    }
    if (stream == PER_THREAD) return SUCCESS;
    Stream* s = (Stream*) stream;
    if (s->capturing) {
        if (s->invalidated) return fail(CAPTURE_INVALIDATED, std::string(what) + ": the capture was invalidated");
        *into = s;
    }
    return SUCCESS;
}

// Allocation and freeing are not allowed during a capture unless its mode is relaxed.
int unsafeDuringCapture(const char* what) {
    Stream* c = capturing();
    if (c != nullptr && c->mode != CAPTURE_RELAXED) {
        invalidateCaptures();
        return fail(CAPTURE_UNSUPPORTED, std::string(what) + " during a stream capture whose mode is not relaxed");
    }
    return SUCCESS;
}

int checkDevice(uintptr_t p, size_t bytes, const char* what) {
    if (bytes == 0 || inside(p, bytes, true, Space::DEVICE)) return SUCCESS;
    return fail(INVALID_VALUE, std::string(what) + ": " + std::to_string(bytes) + " bytes at " + describe(p)
                + (inside(p, 0, true, Space::DEVICE) ? ", which runs past the end of it" : ""));
}

// ---- kernels ------------------------------------------------------------------------------------------------------

int execute(Kernel* k, Dim grid, Dim block, unsigned shared, void** params) {
    if (sticky) return sticky;
    for (int i = 0; i < k->params; i++) {
        if (k->kinds[i] != 'P') continue;
        uintptr_t p;
        memcpy(&p, params[i], sizeof p);
        if (p != 0 && !inside(p, 0, true, Space::DEVICE)) {
            return fail(INVALID_VALUE, std::string("kernel ") + k->name + ": pointer argument " + std::to_string(i + 1)
                        + " is " + describe(p));
        }
    }
    std::string error;
    double start = tracing() ? nowMs() : 0;
    int rc = runKernel(k, grid, block, shared, params, error);
    if (tracing()) {
        fprintf(stderr, "nemoh CUDA emulator: kernel %s grid %u×%u×%u block %u×%u×%u shared %u: %.3f ms\n", k->name, grid.x,
                grid.y, grid.z, block.x, block.y, block.z, shared, nowMs() - start);
    }
    if (rc != SUCCESS) {
        std::string slack = checkSlack(); // what the failed kernel wrote there is its, not the next one's
        report(error + (slack.empty() ? "" : "; also: " + slack));
        if (rc == ILLEGAL_ADDRESS || rc == LAUNCH_FAILED || rc == MISALIGNED_ADDRESS || rc == ASSERT) sticky = rc;
        return rc;
    }
    std::string slack = checkSlack();
    if (!slack.empty()) {
        report(std::string("kernel ") + k->name + " wrote past the end of memory it was given: " + slack);
        sticky = ILLEGAL_ADDRESS;
        return sticky;
    }
    return SUCCESS;
}

int launch(void* f, Dim grid, Dim block, unsigned shared, void* stream, void** params, void** extra) {
    Kernel* k = (Kernel*) f;
    bool known = false;
    for (int i = 0; i < kernelCount(); i++) known |= kernelAt(i) == k;
    if (!known) return fail(INVALID_HANDLE, "launch of an invalid function handle " + hex((uintptr_t) f));
    std::string name = std::string("launch of kernel ") + k->name;
    if (extra != nullptr) return fail(NOT_SUPPORTED, name + ": the emulator takes arguments only through kernelParams");
    if (params == nullptr && k->params > 0) return fail(INVALID_VALUE, name + ": no kernelParams");
    unsigned long long threads = (unsigned long long) block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0
        || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535 || block.x > 1024 || block.y > 1024 || block.z > 64
        || threads > 1024) {
        return fail(INVALID_VALUE, name + ": invalid grid " + std::to_string(grid.x) + "×" + std::to_string(grid.y) + "×"
                    + std::to_string(grid.z) + " or block " + std::to_string(block.x) + "×" + std::to_string(block.y)
                    + "×" + std::to_string(block.z));
    }
    if (threads > (unsigned long long) k->maxThreads) {
        return fail(LAUNCH_OUT_OF_RESOURCES, name + ": " + std::to_string(threads) + " threads a block, more than its "
                    "__launch_bounds__ of " + std::to_string(k->maxThreads));
    }
    if (shared > (unsigned) k->maxDynamicShared) {
        return fail(INVALID_VALUE, name + ": " + std::to_string(shared) + " bytes of dynamic shared memory, more than "
                    "its limit of " + std::to_string(k->maxDynamicShared) + " (raise it with cuFuncSetAttribute)");
    }
    Stream* into;
    if (int rc = route(stream, name.c_str(), &into)) return rc;
    if (into == nullptr) return execute(k, grid, block, shared, params);
    // deep-copy the arguments: the caller may reuse its buffers once the launch returns
    auto blob = std::make_shared<std::vector<unsigned char>>();
    std::vector<size_t> offsets;
    for (int i = 0; i < k->params; i++) {
        size_t at = (blob->size() + 15) & ~(size_t) 15;
        offsets.push_back(at);
        blob->resize(at + k->sizes[i]);
        memcpy(blob->data() + at, params[i], k->sizes[i]);
    }
    into->graph->nodes.push_back([k, grid, block, shared, blob, offsets]() {
        std::vector<void*> p(offsets.size());
        for (size_t i = 0; i < offsets.size(); i++) p[i] = blob->data() + offsets[i];
        return execute(k, grid, block, shared, p.data());
    });
    return SUCCESS;
}

int copy(void* dst, const void* src, size_t bytes, void* stream, const char* what, uintptr_t deviceDst,
         uintptr_t deviceSrc) {
    int rc;
    if (deviceDst && (rc = checkDevice(deviceDst, bytes, what))) return rc;
    if (deviceSrc && (rc = checkDevice(deviceSrc, bytes, what))) return rc;
    Stream* into;
    if (int rc2 = route(stream, what, &into)) return rc2;
    if (into == nullptr) {
        if (bytes) memmove(dst, src, bytes);
        return SUCCESS;
    }
    std::string name = what;
    into->graph->nodes.push_back([=]() {
        int rc2;
        if (deviceDst && (rc2 = checkDevice(deviceDst, bytes, name.c_str()))) return rc2;
        if (deviceSrc && (rc2 = checkDevice(deviceSrc, bytes, name.c_str()))) return rc2;
        if (bytes) memmove(dst, src, bytes);
        return (int) SUCCESS;
    });
    return SUCCESS;
}

int set(uintptr_t dst, unsigned value, size_t count, int width, void* stream, const char* what) {
    int rc = checkDevice(dst, count * width, what);
    if (rc) return rc;
    auto run = [=]() {
        if (width == 1) memset((void*) dst, (int) value, count);
        else if (width == 2) for (size_t i = 0; i < count; i++) ((uint16_t*) dst)[i] = (uint16_t) value;
        else for (size_t i = 0; i < count; i++) ((uint32_t*) dst)[i] = value;
        return (int) SUCCESS;
    };
    Stream* into;
    if (int rc2 = route(stream, what, &into)) return rc2;
    if (into == nullptr) return run();
    into->graph->nodes.push_back(run);
    return SUCCESS;
}

// Only what cuDeviceGetAttribute is asked for by name here; H100-like values, but few multiprocessors.
bool attribute(int attr, int* v) {
    switch (attr) {
    case 1: *v = 1024; return true;          // MAX_THREADS_PER_BLOCK
    case 2: case 3: *v = 1024; return true;  // MAX_BLOCK_DIM_X, Y
    case 4: *v = 64; return true;            // MAX_BLOCK_DIM_Z
    case 5: *v = 2147483647; return true;    // MAX_GRID_DIM_X
    case 6: case 7: *v = 65535; return true; // MAX_GRID_DIM_Y, Z
    case 8: *v = 49152; return true;         // MAX_SHARED_MEMORY_PER_BLOCK
    case 9: *v = 65536; return true;         // TOTAL_CONSTANT_MEMORY
    case 10: *v = 32; return true;           // WARP_SIZE
    case 11: *v = 2147483647; return true;   // MAX_PITCH
    case 12: *v = 65536; return true;        // MAX_REGISTERS_PER_BLOCK
    case 13: *v = 1980000; return true;      // CLOCK_RATE
    case 14: *v = 512; return true;          // TEXTURE_ALIGNMENT
    case 15: *v = 1; return true;            // GPU_OVERLAP
    case 16: *v = multiprocessors(); return true;
    case 17: *v = 0; return true;            // KERNEL_EXEC_TIMEOUT
    case 18: *v = 0; return true;            // INTEGRATED
    case 19: *v = 1; return true;            // CAN_MAP_HOST_MEMORY
    case 20: *v = 0; return true;            // COMPUTE_MODE default
    case 31: *v = 1; return true;            // CONCURRENT_KERNELS
    case 32: *v = 0; return true;            // ECC_ENABLED
    case 33: case 34: case 50: *v = 0; return true; // PCI bus, device, domain
    case 36: *v = 2619000; return true;      // MEMORY_CLOCK_RATE
    case 37: *v = 5120; return true;         // GLOBAL_MEMORY_BUS_WIDTH
    case 38: *v = 50 << 20; return true;     // L2_CACHE_SIZE
    case 39: *v = 2048; return true;         // MAX_THREADS_PER_MULTIPROCESSOR
    case 40: *v = 2; return true;            // ASYNC_ENGINE_COUNT
    case 41: *v = 1; return true;            // UNIFIED_ADDRESSING
    case 75: *v = 9; return true;            // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = 0; return true;            // COMPUTE_CAPABILITY_MINOR
    case 81: *v = 233472; return true;       // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    case 82: *v = 65536; return true;        // MAX_REGISTERS_PER_MULTIPROCESSOR
    case 83: *v = 1; return true;            // MANAGED_MEMORY
    case 95: *v = 1; return true;            // COOPERATIVE_LAUNCH
    case 97: *v = 232448; return true;       // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    case 106: *v = 32; return true;          // MAX_BLOCKS_PER_MULTIPROCESSOR
    default: return false;
    }
}

} // namespace

void report(const std::string& message) {
    lastError = message;
    fprintf(stderr, "nemoh CUDA emulator: %s\n", message.c_str());
    fflush(stderr);
}

int recordOrRun(void* stream, const char* what, std::function<int()> work) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    Stream* into;
    if (int rc = route(stream, what, &into)) return rc;
    if (into != nullptr) {
        into->graph->nodes.push_back(std::move(work));
        return SUCCESS;
    }
    return work();
}

int stickyError() { return sticky; }
void setStickyError(int code) { sticky = code; }
std::recursive_mutex& lock() { return mutex; }

} // namespace emu

using namespace emu;
typedef int CUresult;
typedef unsigned long long CUdeviceptr;

// ---- the emulator's own entry points, for its tests --------------------------------------------------------------

EMU_API const char* nemoh_emu_last_error() { return lastError.c_str(); }

// Clears a sticky error and the last message; the self-tests provoke errors on purpose.
EMU_API void nemoh_emu_reset() {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    sticky = 0;
    lastError.clear();
}

// Lends `bytes` of device memory from now on (0: the default 16 GiB), so that tests can run out of it; allocations
// already made stay.
EMU_API void nemoh_emu_set_device_memory(size_t bytes) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    setDeviceMemory(bytes == 0 ? 16ull << 30 : bytes);
}

// ---- initialization, device, context -----------------------------------------------------------------------------

EMU_API CUresult cuInit(unsigned flags) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    if (flags != 0) return INVALID_VALUE;
    initialized = true;
    return SUCCESS;
}

EMU_API CUresult cuDriverGetVersion(int* version) {
    if (version == nullptr) return INVALID_VALUE;
    *version = 13000;
    return SUCCESS;
}

EMU_API CUresult cuGetErrorName(CUresult error, const char** name) {
    if (name == nullptr) return INVALID_VALUE;
    for (const ErrorName& e : ERRORS) {
        if (e.code == error) {
            *name = e.name;
            return SUCCESS;
        }
    }
    *name = nullptr;
    return INVALID_VALUE;
}

EMU_API CUresult cuGetErrorString(CUresult error, const char** text) {
    return cuGetErrorName(error, text);
}

EMU_API CUresult cuDeviceGetCount(int* count) {
    ENTER();
    if (count == nullptr) return INVALID_VALUE;
    *count = 1;
    return SUCCESS;
}

EMU_API CUresult cuDeviceGet(int* device, int ordinal) {
    ENTER();
    if (device == nullptr) return INVALID_VALUE;
    if (ordinal != 0) return INVALID_DEVICE;
    *device = 0;
    return SUCCESS;
}

EMU_API CUresult cuDeviceGetName(char* name, int len, int dev) {
    ENTER();
    if (dev != 0) return INVALID_DEVICE;
    if (name == nullptr || len <= 0) return INVALID_VALUE;
    snprintf(name, (size_t) len, "%s", "nemoh CUDA emulator (CPU)");
    return SUCCESS;
}

EMU_API CUresult cuDeviceGetAttribute(int* value, int attr, int dev) {
    ENTER();
    if (dev != 0) return INVALID_DEVICE;
    if (value == nullptr) return INVALID_VALUE;
    if (!attribute(attr, value)) return fail(INVALID_VALUE, "cuDeviceGetAttribute: the emulator knows no attribute " + std::to_string(attr));
    return SUCCESS;
}

EMU_API CUresult cuDeviceTotalMem_v2(size_t* bytes, int dev) {
    ENTER();
    if (dev != 0) return INVALID_DEVICE;
    if (bytes == nullptr) return INVALID_VALUE;
    *bytes = deviceMemory();
    return SUCCESS;
}

EMU_API CUresult cuDevicePrimaryCtxRetain(void** context, int dev) {
    ENTER();
    if (dev != 0) return INVALID_DEVICE;
    if (context == nullptr) return INVALID_VALUE;
    *context = &primaryContext;
    return SUCCESS;
}

EMU_API CUresult cuDevicePrimaryCtxRelease_v2(int dev) {
    ENTER();
    return dev == 0 ? SUCCESS : INVALID_DEVICE;
}

EMU_API CUresult cuCtxSetCurrent(void* context) {
    ENTER();
    if (context != nullptr && context != &primaryContext) return fail(INVALID_CONTEXT, "cuCtxSetCurrent: not the primary context");
    contextCurrent = context != nullptr;
    return SUCCESS;
}

EMU_API CUresult cuCtxGetCurrent(void** context) {
    ENTER();
    if (context == nullptr) return INVALID_VALUE;
    *context = contextCurrent ? &primaryContext : nullptr;
    return SUCCESS;
}

EMU_API CUresult cuCtxGetDevice(int* device) {
    ENTER_CONTEXT();
    if (device == nullptr) return INVALID_VALUE;
    *device = 0;
    return SUCCESS;
}

EMU_API CUresult cuCtxSynchronize() {
    ENTER_CONTEXT();
    if (capturing() != nullptr) {
        invalidateCaptures();
        return fail(CAPTURE_UNSUPPORTED, "cuCtxSynchronize during a stream capture; the capture is invalidated");
    }
    return SUCCESS;
}

// ---- memory -------------------------------------------------------------------------------------------------------

EMU_API CUresult cuMemAlloc_v2(CUdeviceptr* ptr, size_t bytes) {
    ENTER_CONTEXT();
    if (ptr == nullptr || bytes == 0) return INVALID_VALUE;
    if (int rc = unsafeDuringCapture("cuMemAlloc")) return rc;
    void* p = allocate(bytes, Space::DEVICE);
    if (p == nullptr) return OUT_OF_MEMORY;
    *ptr = (CUdeviceptr) p;
    return SUCCESS;
}

EMU_API CUresult cuMemFree_v2(CUdeviceptr ptr) {
    ENTER_CONTEXT();
    if (ptr == 0) return SUCCESS;
    if (int rc = unsafeDuringCapture("cuMemFree")) return rc;
    if (!release(ptr, Space::DEVICE)) return fail(INVALID_VALUE, "cuMemFree of " + describe(ptr) + ", not the start of a live allocation");
    return SUCCESS;
}

EMU_API CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* total) {
    ENTER_CONTEXT();
    if (freeBytes == nullptr || total == nullptr) return INVALID_VALUE;
    *total = deviceMemory();
    *freeBytes = deviceMemory() > deviceBytesInUse() ? deviceMemory() - deviceBytesInUse() : 0;
    return SUCCESS;
}

EMU_API CUresult cuMemAllocHost_v2(void** ptr, size_t bytes) {
    ENTER_CONTEXT();
    if (ptr == nullptr || bytes == 0) return INVALID_VALUE;
    if (int rc = unsafeDuringCapture("cuMemAllocHost")) return rc;
    void* p = allocate(bytes, Space::HOST);
    if (p == nullptr) return OUT_OF_MEMORY;
    *ptr = p;
    return SUCCESS;
}

EMU_API CUresult cuMemFreeHost(void* ptr) {
    ENTER_CONTEXT();
    if (int rc = unsafeDuringCapture("cuMemFreeHost")) return rc;
    if (!release((uintptr_t) ptr, Space::HOST)) return fail(INVALID_VALUE, "cuMemFreeHost of " + describe((uintptr_t) ptr) + ", not page-locked memory from cuMemAllocHost");
    return SUCCESS;
}

EMU_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    ENTER_CONTEXT();
    return copy((void*) dst, src, bytes, nullptr, "cuMemcpyHtoD", dst, 0);
}

EMU_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    ENTER_CONTEXT();
    return copy(dst, (const void*) src, bytes, nullptr, "cuMemcpyDtoH", 0, src);
}

EMU_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    ENTER_CONTEXT();
    return copy((void*) dst, (const void*) src, bytes, nullptr, "cuMemcpyDtoD", dst, src);
}

EMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, void* stream) {
    ENTER_CONTEXT();
    return copy((void*) dst, src, bytes, stream, "cuMemcpyHtoDAsync", dst, 0);
}

EMU_API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, void* stream) {
    ENTER_CONTEXT();
    return copy(dst, (const void*) src, bytes, stream, "cuMemcpyDtoHAsync", 0, src);
}

EMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void* stream) {
    ENTER_CONTEXT();
    return copy((void*) dst, (const void*) src, bytes, stream, "cuMemcpyDtoDAsync", dst, src);
}

EMU_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count) {
    ENTER_CONTEXT();
    return set(dst, value, count, 1, nullptr, "cuMemsetD8");
}

EMU_API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count) {
    ENTER_CONTEXT();
    return set(dst, value, count, 4, nullptr, "cuMemsetD32");
}

EMU_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, void* stream) {
    ENTER_CONTEXT();
    return set(dst, value, count, 1, stream, "cuMemsetD8Async");
}

EMU_API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void* stream) {
    ENTER_CONTEXT();
    return set(dst, value, count, 4, stream, "cuMemsetD32Async");
}

// ---- modules and kernels ------------------------------------------------------------------------------------------

EMU_API CUresult cuModuleLoadData(void** module, const void* image) {
    ENTER_CONTEXT();
    if (module == nullptr || image == nullptr) return INVALID_VALUE;
    const char* marker = imageMarker();
    if (strncmp((const char*) image, marker, strlen(marker)) != 0) {
        bool elf = memcmp(image, "\177ELF", 4) == 0;
        return fail(INVALID_IMAGE, std::string("cuModuleLoadData: ") + (elf ? "a real GPU binary" : "an image")
                    + " the emulator cannot run; it runs only what its own NVRTC returns for the sources it was built from");
    }
    *module = &moduleTag;
    return SUCCESS;
}

EMU_API CUresult cuModuleUnload(void* module) {
    ENTER_CONTEXT();
    return module == &moduleTag ? SUCCESS : INVALID_HANDLE;
}

EMU_API CUresult cuModuleGetFunction(void** function, void* module, const char* name) {
    ENTER_CONTEXT();
    if (function == nullptr || name == nullptr) return INVALID_VALUE;
    if (module != &moduleTag) return INVALID_HANDLE;
    Kernel* k = findKernel(name);
    if (k == nullptr) return fail(NOT_FOUND, std::string("cuModuleGetFunction: no kernel named ") + name);
    *function = k;
    return SUCCESS;
}

EMU_API CUresult cuFuncSetAttribute(void* function, int attr, int value) {
    ENTER_CONTEXT();
    Kernel* k = (Kernel*) function;
    bool known = false;
    for (int i = 0; i < kernelCount(); i++) known |= kernelAt(i) == k;
    if (!known) return INVALID_HANDLE;
    if (attr == 8) { // MAX_DYNAMIC_SHARED_SIZE_BYTES
        if (value < 0 || value > 232448) {
            return fail(INVALID_VALUE, std::string("cuFuncSetAttribute: ") + std::to_string(value) + " bytes of dynamic "
                        "shared memory for " + k->name + ", more than the 232448 a block may opt in to");
        }
        k->maxDynamicShared = value;
        return SUCCESS;
    }
    if (attr == 9) return value >= -1 && value <= 100 ? SUCCESS : INVALID_VALUE; // PREFERRED_SHARED_MEMORY_CARVEOUT
    return fail(INVALID_VALUE, "cuFuncSetAttribute: the emulator knows no function attribute " + std::to_string(attr));
}

EMU_API CUresult cuFuncGetAttribute(int* value, int attr, void* function) {
    ENTER_CONTEXT();
    Kernel* k = (Kernel*) function;
    if (value == nullptr) return INVALID_VALUE;
    switch (attr) {
    case 0: *value = k->maxThreads; return SUCCESS;        // MAX_THREADS_PER_BLOCK
    case 1: case 2: case 3: *value = 0; return SUCCESS;    // SHARED, CONST, LOCAL bytes (unknown here)
    case 4: *value = 32; return SUCCESS;                   // NUM_REGS
    case 5: case 6: *value = 90; return SUCCESS;           // PTX, BINARY version
    case 8: *value = k->maxDynamicShared; return SUCCESS;
    default: return INVALID_VALUE;
    }
}

EMU_API CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                                unsigned shared, void* stream, void** params, void** extra) {
    ENTER_CONTEXT();
    return launch(f, Dim{gx, gy, gz}, Dim{bx, by, bz}, shared, stream, params, extra);
}

struct LaunchConfig {
    unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
    void* hStream;
    void* attrs;
    unsigned numAttrs;
};

// Launch attributes (programmatic stream serialization...) change nothing when kernels run one after another.
EMU_API CUresult cuLaunchKernelEx(const LaunchConfig* c, void* f, void** params, void** extra) {
    ENTER_CONTEXT();
    if (c == nullptr || (c->numAttrs > 0 && c->attrs == nullptr)) return INVALID_VALUE;
    return launch(f, Dim{c->gridDimX, c->gridDimY, c->gridDimZ}, Dim{c->blockDimX, c->blockDimY, c->blockDimZ},
                  c->sharedMemBytes, c->hStream, params, extra);
}

// ---- streams, events, graphs --------------------------------------------------------------------------------------

EMU_API CUresult cuStreamCreate(void** stream, unsigned flags) {
    ENTER_CONTEXT();
    if (stream == nullptr || flags > STREAM_NON_BLOCKING) return INVALID_VALUE;
    Stream* s = new Stream{flags, false, false, 0, nullptr};
    streams.insert(s);
    *stream = s;
    return SUCCESS;
}

EMU_API CUresult cuStreamDestroy_v2(void* stream) {
    ENTER_CONTEXT();
    if (!streams.count(stream)) return INVALID_HANDLE;
    Stream* s = (Stream*) stream;
    if (s->capturing) return fail(ILLEGAL_STATE, "cuStreamDestroy of a stream that captures a graph");
    streams.erase(stream);
    delete s;
    return SUCCESS;
}

EMU_API CUresult cuStreamSynchronize(void* stream) {
    ENTER_CONTEXT();
    if (!isStream(stream)) return INVALID_HANDLE;
    Stream* c = capturing();
    if (c != nullptr && (stream == c || (isLegacy(stream) && !(c->flags & STREAM_NON_BLOCKING)))) {
        invalidateCaptures();
        return fail(CAPTURE_UNSUPPORTED, "cuStreamSynchronize of a stream that captures a graph (or of the legacy "
                    "stream it depends on); the capture is invalidated");
    }
    return SUCCESS;
}

EMU_API CUresult cuStreamQuery(void* stream) {
    ENTER_CONTEXT();
    return isStream(stream) ? SUCCESS : INVALID_HANDLE;
}

EMU_API CUresult cuStreamBeginCapture_v2(void* stream, int mode) {
    ENTER_CONTEXT();
    if (isLegacy(stream) || stream == PER_THREAD) {
        return fail(CAPTURE_UNSUPPORTED, "cuStreamBeginCapture on the default stream, which cannot be captured");
    }
    if (!streams.count(stream)) return INVALID_HANDLE;
    if (mode < CAPTURE_GLOBAL || mode > CAPTURE_RELAXED) return INVALID_VALUE;
    Stream* s = (Stream*) stream;
    if (s->capturing) return fail(ILLEGAL_STATE, "cuStreamBeginCapture: the stream captures already");
    s->capturing = true;
    s->invalidated = false;
    s->mode = mode;
    s->graph = new Graph();
    return SUCCESS;
}

EMU_API CUresult cuStreamIsCapturing(void* stream, int* status) {
    ENTER_CONTEXT();
    if (status == nullptr || !isStream(stream)) return INVALID_VALUE;
    Stream* s = isLegacy(stream) || stream == PER_THREAD ? nullptr : (Stream*) stream;
    *status = s == nullptr || !s->capturing ? 0 : s->invalidated ? 2 : 1;
    return SUCCESS;
}

EMU_API CUresult cuStreamEndCapture(void* stream, void** graph) {
    ENTER();
    if (graph == nullptr) return INVALID_VALUE;
    if (!streams.count(stream)) return INVALID_HANDLE;
    Stream* s = (Stream*) stream;
    if (!s->capturing) return fail(ILLEGAL_STATE, "cuStreamEndCapture on a stream that does not capture");
    s->capturing = false;
    Graph* g = s->graph;
    s->graph = nullptr;
    if (s->invalidated) {
        delete g;
        *graph = nullptr;
        return CAPTURE_INVALIDATED;
    }
    graphs.insert(g);
    *graph = g;
    if (tracing()) fprintf(stderr, "nemoh CUDA emulator: capture on stream %p recorded %zu nodes\n", stream, g->nodes.size());
    return SUCCESS;
}

EMU_API CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
    ENTER_CONTEXT();
    if (exec == nullptr) return INVALID_VALUE;
    if (!graphs.count(graph)) return INVALID_HANDLE;
    (void) flags;
    Exec* e = new Exec{((Graph*) graph)->nodes};
    execs.insert(e);
    *exec = e;
    return SUCCESS;
}

EMU_API CUresult cuGraphLaunch(void* exec, void* stream) {
    ENTER_CONTEXT();
    if (!execs.count(exec)) return fail(INVALID_HANDLE, "cuGraphLaunch of an invalid or destroyed graph " + hex((uintptr_t) exec));
    Exec* e = (Exec*) exec;
    Stream* into;
    if (int rc = route(stream, "cuGraphLaunch", &into)) return rc;
    if (into != nullptr) {
        std::vector<Node> nodes = e->nodes;
        into->graph->nodes.push_back([nodes]() {
            for (const Node& n : nodes) if (int rc = n()) return rc;
            return (int) SUCCESS;
        });
        return SUCCESS;
    }
    if (tracing()) fprintf(stderr, "nemoh CUDA emulator: graph %p replays %zu nodes\n", exec, e->nodes.size());
    for (const Node& n : e->nodes) if (int rc = n()) return rc;
    return SUCCESS;
}

EMU_API CUresult cuGraphDestroy(void* graph) {
    ENTER();
    if (!graphs.count(graph)) return INVALID_HANDLE;
    graphs.erase(graph);
    delete (Graph*) graph;
    return SUCCESS;
}

EMU_API CUresult cuGraphExecDestroy(void* exec) {
    ENTER();
    if (!execs.count(exec)) return INVALID_HANDLE;
    execs.erase(exec);
    delete (Exec*) exec;
    return SUCCESS;
}

EMU_API CUresult cuEventCreate(void** event, unsigned flags) {
    ENTER_CONTEXT();
    if (event == nullptr || flags > 7) return INVALID_VALUE;
    Event* e = new Event{flags, false, 0};
    events.insert(e);
    *event = e;
    return SUCCESS;
}

EMU_API CUresult cuEventDestroy_v2(void* event) {
    ENTER_CONTEXT();
    if (!events.count(event)) return INVALID_HANDLE;
    events.erase(event);
    delete (Event*) event;
    return SUCCESS;
}

EMU_API CUresult cuEventRecord(void* event, void* stream) {
    ENTER_CONTEXT();
    if (!events.count(event)) return INVALID_HANDLE;
    Event* e = (Event*) event;
    Stream* into;
    if (int rc = route(stream, "cuEventRecord", &into)) return rc;
    if (into != nullptr) {
        into->graph->nodes.push_back([event]() {
            if (!events.count(event)) return (int) INVALID_HANDLE;
            ((Event*) event)->recorded = true;
            ((Event*) event)->ms = nowMs();
            return (int) SUCCESS;
        });
        return SUCCESS;
    }
    e->recorded = true;
    e->ms = nowMs();
    return SUCCESS;
}

EMU_API CUresult cuEventSynchronize(void* event) {
    ENTER_CONTEXT();
    return events.count(event) ? SUCCESS : INVALID_HANDLE;
}

EMU_API CUresult cuEventQuery(void* event) {
    ENTER_CONTEXT();
    return events.count(event) ? SUCCESS : INVALID_HANDLE;
}

EMU_API CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
    ENTER_CONTEXT();
    if (ms == nullptr) return INVALID_VALUE;
    if (!events.count(start) || !events.count(end)) return INVALID_HANDLE;
    Event* a = (Event*) start;
    Event* b = (Event*) end;
    if (!a->recorded || !b->recorded || (a->flags & EVENT_DISABLE_TIMING) || (b->flags & EVENT_DISABLE_TIMING)) {
        return INVALID_HANDLE;
    }
    *ms = (float) (b->ms - a->ms);
    return SUCCESS;
}
