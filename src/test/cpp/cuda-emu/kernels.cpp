// nemoh's kernels compiled for the CPU, and the registry that finds them by name. CudaEmulator.java writes, into the
// build directory: kernels.emu.cu (KernelSource.join() plus the emulator's test kernels, with `extern "C"` dropped so
// the kernels live in a namespace, and `extern __shared__` arrays made pointers to the launch's dynamic shared
// memory), registry.inc (one EMU_KERNEL(name, launch bounds, parameter kinds) per kernel KernelSource.signatures()
// finds, macro families expanded) and source.inc (the joined source as NVRTC receives it).
#include "emu.h"

#include "runtime.h"

#include <cstring>
#include <utility>

namespace emu_kernels {
#include "kernels.emu.cu"
}

namespace emu {
namespace {

template <class F>
struct Signature;

template <class T>
constexpr char kindOf() {
    if constexpr (std::is_pointer_v<T>) return 'P';
    else if constexpr (std::is_same_v<T, float>) return 'F';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) return 'L';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) return 'I';
    else return '?';
}

template <class... A>
struct Signature<void (*)(A...)> {
    static constexpr int count = sizeof...(A);
    static constexpr unsigned sizes[sizeof...(A) + 1] = {(unsigned) sizeof(A)..., 0};
    static constexpr char kinds[sizeof...(A) + 1] = {kindOf<A>()..., 0};

    template <size_t... I>
    static void call(void (*f)(A...), void** p, std::index_sequence<I...>) {
        f(*static_cast<A*>(p[I])...);
    }
};

template <auto F>
void invoke(void** params) {
    using S = Signature<decltype(F)>;
    S::call(F, params, std::make_index_sequence<S::count>{});
}

constexpr bool same(const char* a, const char* b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

// KernelSource's reading of each kernel's parameters must be the C++ signature's: else the Java bindings, checked
// against that reading, could pass what the kernel does not take.
#define EMU_KERNEL(NAME, BOUNDS, KINDS)                                                                              \
    static_assert(same(Signature<decltype(&emu_kernels::NAME)>::kinds, KINDS),                                       \
                  "kernel " #NAME ": KernelSource.signatures() reads the parameter kinds " KINDS                     \
                  ", which are not those of its C++ signature");
#include "registry.inc"
#undef EMU_KERNEL

#define EMU_KERNEL(NAME, BOUNDS, KINDS)                                                                              \
    Kernel{#NAME, &invoke<&emu_kernels::NAME>, Signature<decltype(&emu_kernels::NAME)>::count,                      \
           Signature<decltype(&emu_kernels::NAME)>::sizes, KINDS, BOUNDS, 48 << 10},
Kernel registry[] = {
#include "registry.inc"
};
#undef EMU_KERNEL

const char source[] =
#include "source.inc"
    ;

} // namespace

Kernel* findKernel(const char* name) {
    for (Kernel& k : registry) if (strcmp(k.name, name) == 0) return &k;
    return nullptr;
}

int kernelCount() { return (int) (sizeof registry / sizeof registry[0]); }
Kernel* kernelAt(int i) { return &registry[i]; }
const char* builtSource() { return source; }
size_t builtSourceLength() { return sizeof source - 1; }

} // namespace emu
