// Deterministic pseudo-random fill, for synthetic benchmark contexts (never zeros).
extern "C" __global__ void fill_random_bf16(bf16* x, long n, unsigned seed, float scale) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = to_bf(((h & 0xffffff) / 16777216.f - 0.5f) * scale);
    }
}

extern "C" __global__ void fill_random_f32(float* x, long n, unsigned seed, float scale) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = ((h & 0xffffff) / 16777216.f - 0.5f) * scale;
    }
}
