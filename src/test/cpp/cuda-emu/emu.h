// The CUDA device dialect for the CPU emulator: included before nemoh's kernel sources (kernels.cpp), so that they
// compile with g++ unchanged. Each CUDA thread of a block is a fiber (fiber.cpp); the intrinsics that make threads
// wait for each other (__syncthreads, the warp operations) switch fibers there. Qualifiers vanish, __shared__
// becomes static (blocks run one after another, so a function-local static is the block's), and CudaEmulator.java
// rewrites `extern __shared__ T name[];` into a pointer to the launch's dynamic shared memory.
#pragma once

#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdio> // device printf prints at once
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__ static
#define __align__(n) alignas(n)
#define __grid_constant__
// __restrict__ is g++'s own spelling too

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

// Read by kernels, written by the scheduler whenever it switches to another CUDA thread (fiber.cpp). Calls into the
// scheduler are opaque to the compiler, so it reloads them after every intrinsic that may switch.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

// ---- vector types -------------------------------------------------------------------------------------------------

namespace emu {
// A vector load or store at an address its type's alignment does not divide: CUDA_ERROR_MISALIGNED_ADDRESS on a GPU
// (x86 would not mind). Reports the kernel's source line from the caller's address.
[[noreturn]] void misaligned(const void* p, int alignment);
} // namespace emu
__forceinline__ void emu_check_aligned(const void* p, int alignment) {
    if ((uintptr_t) p & (uintptr_t) (alignment - 1)) emu::misaligned(p, alignment);
}

// Copying a vector from memory (a load) checks the source's alignment, assigning to one (a store) the destination's;
// locals are aligned anyway. Constructors as CUDA's: uninitialised by default, else from every component.
#define EMU_VEC2(T, N, A)                                                                                            \
    struct alignas(A) N##2 {                                                                                         \
        T x, y;                                                                                                      \
        N##2() = default;                                                                                            \
        constexpr N##2(T x, T y) : x(x), y(y) {}                                                                     \
        N##2(const N##2& o) : x(o.x), y(o.y) { emu_check_aligned(&o, A); }                                           \
        N##2& operator=(const N##2& o) {                                                                             \
            emu_check_aligned(this, A);                                                                              \
            x = o.x;                                                                                                 \
            y = o.y;                                                                                                 \
            return *this;                                                                                            \
        }                                                                                                            \
    };                                                                                                               \
    inline N##2 make_##N##2(T x, T y) { return N##2(x, y); }
#define EMU_VEC3(T, N)                                                                                               \
    struct N##3 { T x, y, z; };                                                                                      \
    inline N##3 make_##N##3(T x, T y, T z) { return N##3{x, y, z}; }
#define EMU_VEC4(T, N, A)                                                                                            \
    struct alignas(A) N##4 {                                                                                         \
        T x, y, z, w;                                                                                                \
        N##4() = default;                                                                                            \
        constexpr N##4(T x, T y, T z, T w) : x(x), y(y), z(z), w(w) {}                                               \
        N##4(const N##4& o) : x(o.x), y(o.y), z(o.z), w(o.w) { emu_check_aligned(&o, A); }                          \
        N##4& operator=(const N##4& o) {                                                                             \
            emu_check_aligned(this, A);                                                                              \
            x = o.x;                                                                                                 \
            y = o.y;                                                                                                 \
            z = o.z;                                                                                                 \
            w = o.w;                                                                                                 \
            return *this;                                                                                            \
        }                                                                                                            \
    };                                                                                                               \
    inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4(x, y, z, w); }

EMU_VEC2(float, float, 8) EMU_VEC3(float, float) EMU_VEC4(float, float, 16)
EMU_VEC2(double, double, 16) EMU_VEC4(double, double, 16)
EMU_VEC2(int, int, 8) EMU_VEC3(int, int) EMU_VEC4(int, int, 16)
EMU_VEC2(unsigned, uint, 8) EMU_VEC4(unsigned, uint, 16)
EMU_VEC2(short, short, 4) EMU_VEC4(short, short, 8)
EMU_VEC2(unsigned short, ushort, 4) EMU_VEC4(unsigned short, ushort, 8)
EMU_VEC2(signed char, char, 2) EMU_VEC4(signed char, char, 4)
EMU_VEC2(unsigned char, uchar, 2) EMU_VEC4(unsigned char, uchar, 4)
EMU_VEC2(long long, longlong, 16) EMU_VEC2(unsigned long long, ulonglong, 16)
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }

// ---- the scheduler (fiber.cpp) ------------------------------------------------------------------------------------

namespace emu {
enum WarpOp { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, SYNCWARP, BALLOT, ANY, ALL, REDUCE_ADD, REDUCE_MIN, REDUCE_MAX,
              REDUCE_MIN_S, REDUCE_MAX_S, WARP_OPS };
enum BarrierOp { SYNC, SYNC_COUNT, SYNC_AND, SYNC_OR };
int barrier(const char* file, int line, int op, int predicate);
unsigned long long warp(const char* file, int line, int op, unsigned mask, unsigned long long value, int b, int c);
unsigned activemask();
void* dynamic_shared();
[[noreturn]] void trap(const char* file, int line, const char* what);
[[noreturn]] void assertion(const char* file, int line, const char* expression);
long long clock();
} // namespace emu

#define EMU_FENCE() asm volatile("" ::: "memory")

inline int emu_barrier(const char* f, int l, int op, int p) {
    EMU_FENCE();
    int r = emu::barrier(f, l, op, p);
    EMU_FENCE();
    return r;
}
#define __syncthreads() emu_barrier(__FILE__, __LINE__, emu::SYNC, 0)
#define __syncthreads_count(p) emu_barrier(__FILE__, __LINE__, emu::SYNC_COUNT, (p) != 0)
#define __syncthreads_and(p) emu_barrier(__FILE__, __LINE__, emu::SYNC_AND, (p) != 0)
#define __syncthreads_or(p) emu_barrier(__FILE__, __LINE__, emu::SYNC_OR, (p) != 0)

template <class T>
inline T emu_warp_op(const char* f, int l, int op, unsigned mask, T v, int b, int c) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp operations move at most 8 bytes");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    EMU_FENCE();
    bits = emu::warp(f, l, op, mask, bits, b, c);
    EMU_FENCE();
    T r;
    std::memcpy(&r, &bits, sizeof(T));
    return r;
}
// the c operand of PTX shfl.sync, as CUDA's headers build it from the width
template <class T>
inline T emu_shfl_sync(const char* f, int l, unsigned mask, T v, int src, int width = warpSize) {
    return emu_warp_op(f, l, emu::SHFL_IDX, mask, v, src, ((warpSize - width) << 8) | 0x1f);
}
template <class T>
inline T emu_shfl_up_sync(const char* f, int l, unsigned mask, T v, unsigned delta, int width = warpSize) {
    return emu_warp_op(f, l, emu::SHFL_UP, mask, v, (int) delta, (warpSize - width) << 8);
}
template <class T>
inline T emu_shfl_down_sync(const char* f, int l, unsigned mask, T v, unsigned delta, int width = warpSize) {
    return emu_warp_op(f, l, emu::SHFL_DOWN, mask, v, (int) delta, ((warpSize - width) << 8) | 0x1f);
}
template <class T>
inline T emu_shfl_xor_sync(const char* f, int l, unsigned mask, T v, int laneMask, int width = warpSize) {
    return emu_warp_op(f, l, emu::SHFL_XOR, mask, v, laneMask, ((warpSize - width) << 8) | 0x1f);
}
inline void emu_syncwarp(const char* f, int l, unsigned mask = 0xffffffffu) {
    emu_warp_op(f, l, emu::SYNCWARP, mask, 0, 0, 0);
}
#define __shfl_sync(...) emu_shfl_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) emu_shfl_up_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) emu_shfl_down_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) emu_shfl_xor_sync(__FILE__, __LINE__, __VA_ARGS__)
#define __syncwarp(...) emu_syncwarp(__FILE__, __LINE__ __VA_OPT__(,) __VA_ARGS__)
#define __ballot_sync(mask, p) ((unsigned) emu_warp_op(__FILE__, __LINE__, emu::BALLOT, mask, (int) ((p) != 0), 0, 0))
#define __any_sync(mask, p) emu_warp_op(__FILE__, __LINE__, emu::ANY, mask, (int) ((p) != 0), 0, 0)
#define __all_sync(mask, p) emu_warp_op(__FILE__, __LINE__, emu::ALL, mask, (int) ((p) != 0), 0, 0)
#define __activemask() emu::activemask()
inline unsigned emu_reduce(const char* f, int l, int op, unsigned mask, unsigned v) { return emu_warp_op(f, l, op, mask, v, 0, 0); }
inline int emu_reduce(const char* f, int l, int op, unsigned mask, int v) {
    return emu_warp_op(f, l, op == emu::REDUCE_MIN ? emu::REDUCE_MIN_S : op == emu::REDUCE_MAX ? emu::REDUCE_MAX_S : op, mask, v, 0, 0);
}
#define __reduce_add_sync(mask, v) emu_reduce(__FILE__, __LINE__, emu::REDUCE_ADD, mask, v)
#define __reduce_min_sync(mask, v) emu_reduce(__FILE__, __LINE__, emu::REDUCE_MIN, mask, v)
#define __reduce_max_sync(mask, v) emu_reduce(__FILE__, __LINE__, emu::REDUCE_MAX, mask, v)
#define __trap() emu::trap(__FILE__, __LINE__, "__trap()")
// a failed device assert is CUDA_ERROR_ASSERT, not the end of the process
#undef assert
#define assert(e) ((e) ? (void) 0 : emu::assertion(__FILE__, __LINE__, #e))
#define __brkpt() emu::trap(__FILE__, __LINE__, "__brkpt()")

// memory fences order nothing between fibers of one OS thread; they only keep the compiler from caching
#define __threadfence() EMU_FENCE()
#define __threadfence_block() EMU_FENCE()
#define __threadfence_system() EMU_FENCE()
inline long long clock64() { return emu::clock(); }
inline void __nanosleep(unsigned) {}

// ---- arithmetic ---------------------------------------------------------------------------------------------------

template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
    using T = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<T>) return std::fmin((T) a, (T) b);
    else return (T) a < (T) b ? (T) a : (T) b;
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
    using T = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<T>) return std::fmax((T) a, (T) b);
    else return (T) a > (T) b ? (T) a : (T) b;
}

// The fast-math intrinsics are exact here (the GPU's differ in the last bits)
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x != x ? 0.f : x < 0.f ? 0.f : x > 1.f ? 1.f : x; }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.f / cbrtf(x); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
inline int __float2int_rn(float x) { return (int) nearbyintf(x); }
inline int __float2int_rz(float x) { return (int) x; }
inline int __float2int_rd(float x) { return (int) floorf(x); }
inline int __float2int_ru(float x) { return (int) ceilf(x); }
inline unsigned __float2uint_rn(float x) { return (unsigned) nearbyintf(x); }
inline float __int2float_rn(int x) { return (float) x; }
inline float __uint2float_rn(unsigned x) { return (float) x; }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned) x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long) x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline int __mul24(int a, int b) { return a * b; }
inline unsigned __umul24(unsigned a, unsigned b) { return a * b; }
inline int __mulhi(int a, int b) { return (int) (((long long) a * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned) (((unsigned long long) a * b) >> 32); }
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned s) {
    s &= 31;
    return s == 0 ? hi : (hi << s) | (lo >> (32 - s));
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s) {
    s &= 31;
    return s == 0 ? lo : (lo >> s) | (hi << (32 - s));
}

// ---- loads and atomics --------------------------------------------------------------------------------------------

template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// The threads of a launch run one at a time and switch only inside the intrinsics above, so every read-modify-write
// is atomic as written.
template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> inline T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <class T> inline T atomicMax(T* p, T v) { T old = *p; *p = v > old ? v : old; return old; }
template <class T> inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }
template <class T> inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
template <class T> inline T atomicXor(T* p, T v) { T old = *p; *p = old ^ v; return old; }
template <class T> inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
inline unsigned atomicInc(unsigned* p, unsigned limit) { unsigned old = *p; *p = old >= limit ? 0 : old + 1; return old; }
inline unsigned atomicDec(unsigned* p, unsigned limit) { unsigned old = *p; *p = old == 0 || old > limit ? limit : old - 1; return old; }
#define atomicAdd_block atomicAdd
#define atomicAdd_system atomicAdd
#define atomicMax_block atomicMax
#define atomicMin_block atomicMin
