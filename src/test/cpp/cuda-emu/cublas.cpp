// cuBLAS (libcublas) as nemoh calls it, with cuBLAS's column-major semantics: C = alpha · op(A) · op(B) + beta · C,
// C not read when beta is 0. Every entry point reduces to one Gemm (one or more batches of one product) that gemm()
// runs, or records when the handle's stream captures a graph; a new variant (Sgemm, batched, strided) only describes
// its operands. Computation is float32 whatever the compute type (TF32 and bf16 "fast" modes included): operands are
// widened exactly to float, each output sums its k products in order in float, then alpha and beta apply. Arguments
// cuBLAS rejects are rejected (CUBLAS_STATUS_INVALID_VALUE, NOT_SUPPORTED); operands that reach outside their
// allocations fail the call with a message and leave the sticky error a faulting kernel would.
#include "runtime.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

enum Status {
    CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_ARCH_MISMATCH = 8, CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13, CUBLAS_STATUS_INTERNAL_ERROR = 14, CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16
};
enum Type { R_32F = 0, R_64F = 1, R_16F = 2, R_16BF = 14 };
enum Compute {
    COMPUTE_16F = 64, COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_16F = 74,
    COMPUTE_32F_FAST_16BF = 75, COMPUTE_32F_FAST_TF32 = 77
};
enum { OP_N = 0, OP_T = 1, OP_C = 2 };
enum { POINTER_MODE_HOST = 0, POINTER_MODE_DEVICE = 1 };

struct Handle {
    void* stream;
    int pointerMode, mathMode;
};

struct Operand {
    const void* base;
    int type, ld;
    bool transposed;
    long long stride;             // between batches, in elements
    const void* const* pointers;  // per batch (batched API), else null
};

struct Gemm {
    int m, n, k, batches;
    float alpha, beta;
    Operand a, b;
    void* c;
    int typeC, ldc;
    long long strideC;
    void* const* pointersC;
};

size_t elementSize(int type) { return type == R_32F ? 4 : 2; }

float widen(const void* p, int type, size_t i) {
    switch (type) {
    case R_32F: return ((const float*) p)[i];
    case R_16BF: {
        unsigned u = (unsigned) ((const uint16_t*) p)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: return (float) ((const _Float16*) p)[i];
    }
}

void narrow(void* p, int type, size_t i, float v) {
    if (type == R_32F) {
        ((float*) p)[i] = v;
    } else if (type == R_16BF) {
        unsigned u;
        memcpy(&u, &v, 4);
        uint16_t r = (u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) ? (uint16_t) ((u >> 16) | 0x40)
                                                                          : (uint16_t) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        ((uint16_t*) p)[i] = r;
    } else {
        ((_Float16*) p)[i] = (_Float16) v;
    }
}

const void* batchBase(const Operand& o, int batch) {
    if (o.pointers) return o.pointers[batch];
    return (const char*) o.base + (size_t) (batch * o.stride) * elementSize(o.type);
}

// op(X) as float rows: row r of the result is op(X)(r, 0..depth) when `rowsOfOp`, or column r of op(X) otherwise.
// For A (m × k) the rows; for B (k × n) the columns; either way each row of `out` is contiguous in k.
void pack(const Operand& o, const void* base, int count, int depth, bool rowsOfOp, std::vector<float>& out) {
    out.resize((size_t) count * depth);
    // element (r, kk) of what is packed lies in stored X at (r, kk) or (kk, r), column-major with leading dim ld
    bool rIsRowOfStored = rowsOfOp != o.transposed;
    for (int r = 0; r < count; r++) {
        float* row = out.data() + (size_t) r * depth;
        if (rIsRowOfStored) {
            for (int kk = 0; kk < depth; kk++) row[kk] = widen(base, o.type, (size_t) r + (size_t) kk * o.ld);
        } else {
            for (int kk = 0; kk < depth; kk++) row[kk] = widen(base, o.type, (size_t) kk + (size_t) r * o.ld);
        }
    }
}

// C[i, j] for a 4 × 4 tile (fewer at the edges), each sum in k order.
void run(const Gemm& g) {
    std::vector<float> ap, bp;
    for (int batch = 0; batch < g.batches; batch++) {
        void* c = g.pointersC ? g.pointersC[batch] : (char*) g.c + (size_t) (batch * g.strideC) * elementSize(g.typeC);
        int m = g.m, n = g.n, k = g.k;
        if (k > 0 && g.alpha != 0.f) {
            pack(g.a, batchBase(g.a, batch), m, k, true, ap);
            pack(g.b, batchBase(g.b, batch), n, k, false, bp);
        }
        for (int j0 = 0; j0 < n; j0 += 4) {
            for (int i0 = 0; i0 < m; i0 += 4) {
                float acc[4][4] = {};
                int im = m - i0 < 4 ? m - i0 : 4, jn = n - j0 < 4 ? n - j0 : 4;
                if (k > 0 && g.alpha != 0.f) {
                    if (im == 4 && jn == 4) {
                        const float *a0 = &ap[(size_t) i0 * k], *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
                        const float *b0 = &bp[(size_t) j0 * k], *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
                        for (int kk = 0; kk < k; kk++) {
                            float x0 = a0[kk], x1 = a1[kk], x2 = a2[kk], x3 = a3[kk];
                            float y0 = b0[kk], y1 = b1[kk], y2 = b2[kk], y3 = b3[kk];
                            acc[0][0] += x0 * y0; acc[0][1] += x0 * y1; acc[0][2] += x0 * y2; acc[0][3] += x0 * y3;
                            acc[1][0] += x1 * y0; acc[1][1] += x1 * y1; acc[1][2] += x1 * y2; acc[1][3] += x1 * y3;
                            acc[2][0] += x2 * y0; acc[2][1] += x2 * y1; acc[2][2] += x2 * y2; acc[2][3] += x2 * y3;
                            acc[3][0] += x3 * y0; acc[3][1] += x3 * y1; acc[3][2] += x3 * y2; acc[3][3] += x3 * y3;
                        }
                    } else {
                        for (int ii = 0; ii < im; ii++) {
                            for (int jj = 0; jj < jn; jj++) {
                                const float* a = &ap[(size_t) (i0 + ii) * k];
                                const float* b = &bp[(size_t) (j0 + jj) * k];
                                float s = 0.f;
                                for (int kk = 0; kk < k; kk++) s += a[kk] * b[kk];
                                acc[ii][jj] = s;
                            }
                        }
                    }
                }
                for (int ii = 0; ii < im; ii++) {
                    for (int jj = 0; jj < jn; jj++) {
                        size_t at = (size_t) (i0 + ii) + (size_t) (j0 + jj) * g.ldc;
                        float v = g.alpha * acc[ii][jj];
                        if (g.beta != 0.f) v += g.beta * widen(c, g.typeC, at);
                        narrow(c, g.typeC, at, v);
                    }
                }
            }
        }
    }
}

// The bytes a column-major rows × cols operand with leading dimension ld spans.
size_t span(int rows, int cols, int ld, size_t element) {
    if (rows == 0 || cols == 0) return 0;
    return ((size_t) (cols - 1) * ld + rows) * element;
}

int checkRange(const void* p, size_t bytes, const char* what, const char* operand, int batch) {
    if (bytes == 0 || emu::inside((uintptr_t) p, bytes, true, emu::Space::DEVICE)) return CUBLAS_STATUS_SUCCESS;
    emu::report(std::string(what) + ": operand " + operand + (batch >= 0 ? " of batch " + std::to_string(batch) : "")
                + " spans " + std::to_string(bytes) + " bytes from " + emu::describe((uintptr_t) p)
                + ", past the memory it lies in");
    emu::setStickyError(emu::ILLEGAL_ADDRESS);
    return CUBLAS_STATUS_EXECUTION_FAILED;
}

// Whether every batch's operands lie in device (or page-locked) memory.
int checkRanges(const Gemm& g, const char* what) {
    int rowsA = g.a.transposed ? g.k : g.m, colsA = g.a.transposed ? g.m : g.k;
    int rowsB = g.b.transposed ? g.n : g.k, colsB = g.b.transposed ? g.k : g.n;
    for (int batch = 0; batch < g.batches; batch++) {
        int b = g.batches > 1 ? batch : -1;
        void* c = g.pointersC ? g.pointersC[batch] : (char*) g.c + (size_t) (batch * g.strideC) * elementSize(g.typeC);
        if (int rc = checkRange(batchBase(g.a, batch), span(rowsA, colsA, g.a.ld, elementSize(g.a.type)), what, "A", b)) return rc;
        if (int rc = checkRange(batchBase(g.b, batch), span(rowsB, colsB, g.b.ld, elementSize(g.b.type)), what, "B", b)) return rc;
        if (int rc = checkRange(c, span(g.m, g.n, g.ldc, elementSize(g.typeC)), what, "C", b)) return rc;
    }
    return CUBLAS_STATUS_SUCCESS;
}

// Checks a Gemm as cuBLAS does, then runs it on the handle's stream (or records it into that stream's capture).
int submit(Handle* h, const char* what, Gemm g, int compute, const void* alpha, const void* beta) {
    if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    std::lock_guard<std::recursive_mutex> guard(emu::lock());
    if (emu::stickyError()) return CUBLAS_STATUS_EXECUTION_FAILED;
    int rowsA = g.a.transposed ? g.k : g.m, rowsB = g.b.transposed ? g.n : g.k;
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batches < 0 || g.a.ld < (rowsA > 1 ? rowsA : 1)
        || g.b.ld < (rowsB > 1 ? rowsB : 1) || g.ldc < (g.m > 1 ? g.m : 1) || alpha == nullptr || beta == nullptr) {
        emu::report(std::string(what) + ": invalid value (m " + std::to_string(g.m) + ", n " + std::to_string(g.n) + ", k "
                    + std::to_string(g.k) + ", lda " + std::to_string(g.a.ld) + ", ldb " + std::to_string(g.b.ld)
                    + ", ldc " + std::to_string(g.ldc) + ")");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    bool f32 = g.a.type == R_32F && g.b.type == R_32F && g.typeC == R_32F;
    bool half = g.a.type == g.b.type && (g.a.type == R_16BF || g.a.type == R_16F) && (g.typeC == g.a.type || g.typeC == R_32F);
    bool supported = compute == COMPUTE_32F || compute == COMPUTE_32F_PEDANTIC || compute == R_32F
            ? f32 || half
            : (compute == COMPUTE_32F_FAST_TF32 || compute == COMPUTE_32F_FAST_16BF || compute == COMPUTE_32F_FAST_16F) && f32;
    if (!supported) {
        emu::report(std::string(what) + ": the emulator (like cuBLAS) does not support types A " + std::to_string(g.a.type)
                    + ", B " + std::to_string(g.b.type) + ", C " + std::to_string(g.typeC) + " with compute type "
                    + std::to_string(compute));
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (g.m == 0 || g.n == 0 || g.batches == 0) return CUBLAS_STATUS_SUCCESS;
    if (int rc = checkRanges(g, what)) return rc;
    bool device = h->pointerMode == POINTER_MODE_DEVICE;
    std::string name = what;
    return emu::recordOrRun(h->stream, what, [g, device, alpha, beta, name]() mutable {
        // a replayed graph may run it after its memory was freed
        if (checkRanges(g, name.c_str())) return (int) emu::ILLEGAL_ADDRESS;
        // with host pointers cuBLAS reads alpha and beta when the call is made; device pointers when it runs
        if (device) {
            g.alpha = *(const float*) alpha;
            g.beta = *(const float*) beta;
        }
        run(g);
        return 0;
    }) ? CUBLAS_STATUS_EXECUTION_FAILED : CUBLAS_STATUS_SUCCESS;
}

Gemm describe(int transa, int transb, int m, int n, int k, const void* alpha, const void* A, int typeA, int lda,
              long long strideA, const void* B, int typeB, int ldb, long long strideB, const void* beta, void* C,
              int typeC, int ldc, long long strideC, int batches, int pointerMode) {
    Gemm g{};
    g.m = m;
    g.n = n;
    g.k = k;
    g.batches = batches;
    g.alpha = alpha && pointerMode == POINTER_MODE_HOST ? *(const float*) alpha : 0.f;
    g.beta = beta && pointerMode == POINTER_MODE_HOST ? *(const float*) beta : 0.f;
    g.a = Operand{A, typeA, lda, transa != OP_N, strideA, nullptr};
    g.b = Operand{B, typeB, ldb, transb != OP_N, strideB, nullptr};
    g.c = C;
    g.typeC = typeC;
    g.ldc = ldc;
    g.strideC = strideC;
    return g;
}

bool validOp(int op) { return op == OP_N || op == OP_T || op == OP_C; }

} // namespace

EMU_API int cublasCreate_v2(Handle** handle) {
    if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new Handle{nullptr, POINTER_MODE_HOST, 0};
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasDestroy_v2(Handle* handle) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasGetVersion_v2(Handle* handle, int* version) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (version == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *version = 130000;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasSetStream_v2(Handle* handle, void* stream) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasGetStream_v2(Handle* handle, void** stream) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (stream == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasSetMathMode(Handle* handle, int mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->mathMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasGetMathMode(Handle* handle, int* mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->mathMode;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasSetPointerMode_v2(Handle* handle, int mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != POINTER_MODE_HOST && mode != POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointerMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasGetPointerMode_v2(Handle* handle, int* mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->pointerMode;
    return CUBLAS_STATUS_SUCCESS;
}

EMU_API int cublasSetWorkspace_v2(Handle* handle, void*, size_t) {
    return handle == nullptr ? CUBLAS_STATUS_NOT_INITIALIZED : CUBLAS_STATUS_SUCCESS;
}

EMU_API const char* cublasGetStatusName(int status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "<unrecognized cuBLAS status>";
    }
}

EMU_API const char* cublasGetStatusString(int status) { return cublasGetStatusName(status); }

EMU_API int cublasGemmEx(Handle* h, int transa, int transb, int m, int n, int k, const void* alpha, const void* A,
                         int typeA, int lda, const void* B, int typeB, int ldb, const void* beta, void* C, int typeC,
                         int ldc, int compute, int algo) {
    (void) algo;
    if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!validOp(transa) || !validOp(transb)) return CUBLAS_STATUS_INVALID_VALUE;
    Gemm g = describe(transa, transb, m, n, k, alpha, A, typeA, lda, 0, B, typeB, ldb, 0, beta, C, typeC, ldc, 0, 1,
                      h->pointerMode);
    return submit(h, "cublasGemmEx", g, compute, alpha, beta);
}

EMU_API int cublasGemmStridedBatchedEx(Handle* h, int transa, int transb, int m, int n, int k, const void* alpha,
                                       const void* A, int typeA, int lda, long long strideA, const void* B, int typeB,
                                       int ldb, long long strideB, const void* beta, void* C, int typeC, int ldc,
                                       long long strideC, int batches, int compute, int algo) {
    (void) algo;
    if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!validOp(transa) || !validOp(transb)) return CUBLAS_STATUS_INVALID_VALUE;
    Gemm g = describe(transa, transb, m, n, k, alpha, A, typeA, lda, strideA, B, typeB, ldb, strideB, beta, C, typeC,
                      ldc, strideC, batches, h->pointerMode);
    return submit(h, "cublasGemmStridedBatchedEx", g, compute, alpha, beta);
}

EMU_API int cublasGemmBatchedEx(Handle* h, int transa, int transb, int m, int n, int k, const void* alpha,
                                const void* const A[], int typeA, int lda, const void* const B[], int typeB, int ldb,
                                const void* beta, void* const C[], int typeC, int ldc, int batches, int compute,
                                int algo) {
    (void) algo;
    if (h == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!validOp(transa) || !validOp(transb) || (batches > 0 && (A == nullptr || B == nullptr || C == nullptr))) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    Gemm g = describe(transa, transb, m, n, k, alpha, nullptr, typeA, lda, 0, nullptr, typeB, ldb, 0, beta, nullptr,
                      typeC, ldc, 0, batches, h->pointerMode);
    g.a.pointers = A;
    g.b.pointers = B;
    g.pointersC = C;
    return submit(h, "cublasGemmBatchedEx", g, compute, alpha, beta);
}

EMU_API int cublasSgemm_v2(Handle* h, int transa, int transb, int m, int n, int k, const float* alpha, const float* A,
                           int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
    return cublasGemmEx(h, transa, transb, m, n, k, alpha, A, R_32F, lda, B, R_32F, ldb, beta, C, R_32F, ldc,
                        COMPUTE_32F, -1);
}

EMU_API int cublasSgemmStridedBatched(Handle* h, int transa, int transb, int m, int n, int k, const float* alpha,
                                      const float* A, int lda, long long strideA, const float* B, int ldb,
                                      long long strideB, const float* beta, float* C, int ldc, long long strideC,
                                      int batches) {
    return cublasGemmStridedBatchedEx(h, transa, transb, m, n, k, alpha, A, R_32F, lda, strideA, B, R_32F, ldb,
                                      strideB, beta, C, R_32F, ldc, strideC, batches, COMPUTE_32F, -1);
}
