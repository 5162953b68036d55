package dev.nemoh.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA driver API (libcuda) bound through {@code java.lang.foreign}: device 0's primary context, device memory,
 * copies, modules and kernel launches. Kernels and cuBLAS calls run in issue order on one blocking stream
 * ({@link #stream}), which the synchronous copies on the legacy default stream also wait for and are waited for by.
 * Device pointers are plain {@code long}s. One instance per process ({@link #get}).
 */
public final class Cuda {
    private static final int ATTR_MULTIPROCESSORS = 16;
    private static final int ATTR_CC_MAJOR = 75;
    private static final int ATTR_CC_MINOR = 76;
    private static final int ERROR_OUT_OF_MEMORY = 2;
    private static final int ERROR_NO_DEVICE = 100;
    private static final int LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    private static Cuda instance;
    private static CudaException unavailable;
    /** The emulator library ({@link NativeLibrary#EMULATOR}) {@link #unavailable} was found with: another one retries. */
    private static String unavailableWith;

    private final MethodHandle getErrorName, ctxSetCurrent, ctxSynchronize, memAlloc, memFree, memcpyHtoD, memcpyDtoH,
            memcpyDtoD, memsetD8, memGetInfo, moduleLoadData, moduleGetFunction, launchKernel, launchKernelEx, funcSetAttribute,
            eventCreate, eventDestroy, eventRecord, eventSynchronize, eventElapsedTime, streamBeginCapture, streamEndCapture,
            graphInstantiate, graphLaunch, graphDestroy, graphExecDestroy, memAllocHost, memFreeHost, memcpyHtoDAsync,
            memcpyDtoHAsync, streamSynchronize;
    private final MemorySegment context;
    /**
     * The stream every kernel and cuBLAS product runs on. Created blocking, so it stays ordered with the legacy
     * default stream that copies and events use; unlike that stream it can be captured into a CUDA graph.
     */
    final MemorySegment stream;
    public final String deviceName;
    public final int computeMajor, computeMinor, multiprocessors;
    public final long totalMemory;
    /** The budget every allocation goes through ({@code --gpu-memory}), with what each part holds. */
    public final GpuMemory memory;
    /**
     * Whether kernels are launched with programmatic dependent launch (compute capability 9.0 and later, unless
     * {@code NEMOH_CUDA_PDL=0}): a kernel may start while the one before it finishes; each of ours waits for its
     * inputs itself ({@code begin_kernel} in common.cuh). A decode step is some 250 short kernels, so the ends and
     * starts this overlaps add up.
     */
    public final boolean programmaticLaunch;
    /** A CUlaunchConfig (56 bytes) and its one CUlaunchAttribute (72 bytes), reused by every launch. */
    private final MemorySegment launchConfig;

    /** The driver and device 0, initialised once; throws a {@link CudaException} saying why when there is none. */
    public static synchronized Cuda get() {
        if (instance != null) return instance;
        String emulator = System.getProperty(NativeLibrary.EMULATOR);
        if (unavailable != null && java.util.Objects.equals(emulator, unavailableWith)) throw unavailable;
        try {
            instance = new Cuda();
            return instance;
        } catch (CudaException e) {
            unavailable = e;
            unavailableWith = emulator;
            throw e;
        }
    }

    /**
     * Lifts the {@code --gpu-memory} budget of the command that ended, where the device was opened at all, so that the
     * process's next command (tests run many in one JVM) starts unbounded; the counting goes on.
     */
    public static synchronized void endCommand() {
        if (instance != null) instance.memory.unlimited();
    }

    /** Whether a CUDA driver and a GPU are present; {@link #get} says why not. */
    public static boolean available() {
        try {
            get();
            return true;
        } catch (CudaException e) {
            return false;
        }
    }

    private Cuda() {
        NativeLibrary lib;
        try {
            lib = NativeLibrary.load("the NVIDIA driver's CUDA library; is there an NVIDIA GPU and driver on this machine?",
                    "libcuda.so.1", "libcuda.so");
        } catch (CudaException e) {
            throw new CudaException("no CUDA driver: " + e.getMessage());
        }
        getErrorName = lib.function("cuGetErrorName", JAVA_INT, JAVA_INT, ADDRESS);
        MethodHandle init = lib.function("cuInit", JAVA_INT, JAVA_INT);
        MethodHandle deviceGetCount = lib.function("cuDeviceGetCount", JAVA_INT, ADDRESS);
        MethodHandle deviceGetName = lib.function("cuDeviceGetName", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        MethodHandle deviceGetAttribute = lib.function("cuDeviceGetAttribute", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        MethodHandle deviceTotalMem = lib.function("cuDeviceTotalMem_v2", JAVA_INT, ADDRESS, JAVA_INT);
        MethodHandle primaryCtxRetain = lib.function("cuDevicePrimaryCtxRetain", JAVA_INT, ADDRESS, JAVA_INT);
        ctxSetCurrent = lib.function("cuCtxSetCurrent", JAVA_INT, ADDRESS);
        ctxSynchronize = lib.function("cuCtxSynchronize", JAVA_INT);
        memAlloc = lib.function("cuMemAlloc_v2", JAVA_INT, ADDRESS, JAVA_LONG);
        memFree = lib.function("cuMemFree_v2", JAVA_INT, JAVA_LONG);
        memcpyHtoD = lib.function("cuMemcpyHtoD_v2", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG);
        memcpyDtoH = lib.function("cuMemcpyDtoH_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG);
        memcpyDtoD = lib.function("cuMemcpyDtoD_v2", JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        memsetD8 = lib.function("cuMemsetD8_v2", JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG);
        memGetInfo = lib.function("cuMemGetInfo_v2", JAVA_INT, ADDRESS, ADDRESS);
        moduleLoadData = lib.function("cuModuleLoadData", JAVA_INT, ADDRESS, ADDRESS);
        moduleGetFunction = lib.function("cuModuleGetFunction", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        launchKernel = lib.function("cuLaunchKernel", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        launchKernelEx = lib.function("cuLaunchKernelEx", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        funcSetAttribute = lib.function("cuFuncSetAttribute", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        eventCreate = lib.function("cuEventCreate", JAVA_INT, ADDRESS, JAVA_INT);
        eventDestroy = lib.function("cuEventDestroy_v2", JAVA_INT, ADDRESS);
        eventRecord = lib.function("cuEventRecord", JAVA_INT, ADDRESS, ADDRESS);
        eventSynchronize = lib.function("cuEventSynchronize", JAVA_INT, ADDRESS);
        eventElapsedTime = lib.function("cuEventElapsedTime", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        MethodHandle streamCreate = lib.function("cuStreamCreate", JAVA_INT, ADDRESS, JAVA_INT);
        streamBeginCapture = lib.function("cuStreamBeginCapture_v2", JAVA_INT, ADDRESS, JAVA_INT);
        streamEndCapture = lib.function("cuStreamEndCapture", JAVA_INT, ADDRESS, ADDRESS);
        graphInstantiate = lib.function("cuGraphInstantiateWithFlags", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
        graphLaunch = lib.function("cuGraphLaunch", JAVA_INT, ADDRESS, ADDRESS);
        graphDestroy = lib.function("cuGraphDestroy", JAVA_INT, ADDRESS);
        graphExecDestroy = lib.function("cuGraphExecDestroy", JAVA_INT, ADDRESS);
        memAllocHost = lib.function("cuMemAllocHost_v2", JAVA_INT, ADDRESS, JAVA_LONG);
        memFreeHost = lib.function("cuMemFreeHost", JAVA_INT, ADDRESS);
        memcpyHtoDAsync = lib.function("cuMemcpyHtoDAsync_v2", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
        memcpyDtoHAsync = lib.function("cuMemcpyDtoHAsync_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
        streamSynchronize = lib.function("cuStreamSynchronize", JAVA_INT, ADDRESS);

        int rc = (int) call(init, 0);
        if (rc == ERROR_NO_DEVICE) throw new CudaException("no CUDA-capable GPU found (cuInit: CUDA_ERROR_NO_DEVICE); use --device cpu");
        check(rc, "cuInit");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            check((int) call(deviceGetCount, n), "cuDeviceGetCount");
            if (n.get(JAVA_INT, 0) == 0) throw new CudaException("no CUDA-capable GPU found; use --device cpu");
            MemorySegment name = a.allocate(256);
            check((int) call(deviceGetName, name, 256, 0), "cuDeviceGetName");
            deviceName = name.getString(0);
            computeMajor = attribute(deviceGetAttribute, a, ATTR_CC_MAJOR);
            computeMinor = attribute(deviceGetAttribute, a, ATTR_CC_MINOR);
            multiprocessors = attribute(deviceGetAttribute, a, ATTR_MULTIPROCESSORS);
            MemorySegment total = a.allocate(JAVA_LONG);
            check((int) call(deviceTotalMem, total, 0), "cuDeviceTotalMem");
            totalMemory = total.get(JAVA_LONG, 0);
            memory = new GpuMemory(this);
            MemorySegment ctx = a.allocate(ADDRESS);
            check((int) call(primaryCtxRetain, ctx, 0), "cuDevicePrimaryCtxRetain");
            context = ctx.get(ADDRESS, 0);
            makeCurrent();
            MemorySegment st = a.allocate(ADDRESS);
            check((int) call(streamCreate, st, 0), "cuStreamCreate");
            stream = st.get(ADDRESS, 0);
        }
        programmaticLaunch = computeMajor >= 9 && !"0".equals(System.getenv("NEMOH_CUDA_PDL"));
        launchConfig = Arena.global().allocate(56 + 72, 8);
        MemorySegment attribute = launchConfig.asSlice(56);
        launchConfig.set(JAVA_INT, 16, 1); // blockDimY
        launchConfig.set(JAVA_INT, 20, 1); // blockDimZ
        launchConfig.set(ADDRESS, 32, stream);
        launchConfig.set(ADDRESS, 40, attribute);
        launchConfig.set(JAVA_INT, 48, 1); // numAttrs
        attribute.set(JAVA_INT, 0, LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        attribute.set(JAVA_INT, 8, 1); // programmaticStreamSerializationAllowed
    }

    private int attribute(MethodHandle h, Arena a, int attr) {
        MemorySegment v = a.allocate(JAVA_INT);
        check((int) call(h, v, attr, 0), "cuDeviceGetAttribute");
        return v.get(JAVA_INT, 0);
    }

    /** "sm_90" for an H100. */
    public String arch() {
        return "sm_" + computeMajor + computeMinor;
    }

    /** Binds the context to the calling thread; the entry points of the backend call it, so any thread may drive it. */
    public void makeCurrent() {
        check((int) call(ctxSetCurrent, context), "cuCtxSetCurrent");
    }

    public void synchronize() {
        check((int) call(ctxSynchronize), "cuCtxSynchronize (an earlier kernel failed)");
    }

    /** Device memory for {@code part}, counted by {@link #memory}, which refuses it first when it would not fit. */
    public long alloc(GpuMemory.Part part, long bytes) {
        memory.require(part, bytes, part.label);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            int rc = (int) call(memAlloc, p, Math.max(bytes, 1));
            if (rc == ERROR_OUT_OF_MEMORY) {
                long[] info = memoryInfo();
                throw CudaException.outOfMemory("out of GPU memory: " + size(bytes) + " asked, "
                        + size(info[0]) + " free of " + size(info[1]) + " on " + deviceName, "use a smaller model, context or batch");
            }
            check(rc, "cuMemAlloc of " + bytes + " bytes");
            long ptr = p.get(JAVA_LONG, 0);
            memory.allocated(ptr, part, bytes);
            return ptr;
        }
    }

    /** A size for messages: GiB from 1 GiB on, MiB from 1 MiB on, KiB below. */
    static String size(long bytes) {
        return bytes >= 1L << 30 ? String.format(java.util.Locale.ROOT, "%.2f GiB", bytes / 1073741824.0)
                : bytes >= 1L << 20 ? String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0)
                : String.format(java.util.Locale.ROOT, "%.1f KiB", bytes / 1024.0);
    }

    /** Allocates and zeroes. */
    public long allocZeroed(GpuMemory.Part part, long bytes) {
        long p = alloc(part, bytes);
        check((int) call(memsetD8, p, (byte) 0, bytes), "cuMemsetD8");
        return p;
    }

    /** Sets {@code bytes} bytes at {@code ptr} to zero, in order with the work queued before it. */
    public void zero(long ptr, long bytes) {
        if (bytes > 0) check((int) call(memsetD8, ptr, (byte) 0, bytes), "cuMemsetD8");
    }

    public void free(long ptr) {
        if (ptr == 0) return;
        check((int) call(memFree, ptr), "cuMemFree");
        memory.freed(ptr);
    }

    /** {free, total} bytes of device memory. */
    public long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            check((int) call(memGetInfo, free, total), "cuMemGetInfo");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /** Host (off-heap or mapped) to device; synchronous for pageable memory. */
    public void upload(long dst, MemorySegment src, long bytes) {
        check((int) call(memcpyHtoD, dst, src, bytes), "cuMemcpyHtoD");
    }

    public void upload(long dst, float[] src) {
        try (Arena a = Arena.ofConfined()) {
            upload(dst, a.allocateFrom(JAVA_FLOAT, src), 4L * src.length);
        }
    }

    public void upload(long dst, int[] src) {
        try (Arena a = Arena.ofConfined()) {
            upload(dst, a.allocateFrom(JAVA_INT, src), 4L * src.length);
        }
    }

    /** Device to host; waits for the work queued before it. */
    public float[] downloadFloats(long src, int count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(JAVA_FLOAT, count);
            check((int) call(memcpyDtoH, host, src, 4L * count), "cuMemcpyDtoH (an earlier kernel may have failed)");
            return host.toArray(JAVA_FLOAT);
        }
    }

    public int[] downloadInts(long src, int count) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(JAVA_INT, count);
            check((int) call(memcpyDtoH, host, src, 4L * count), "cuMemcpyDtoH (an earlier kernel may have failed)");
            return host.toArray(JAVA_INT);
        }
    }

    public void copy(long dst, long src, long bytes) {
        check((int) call(memcpyDtoD, dst, src, bytes), "cuMemcpyDtoD");
    }

    /** Loads a cubin image and returns the module handle. */
    MemorySegment loadModule(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(ADDRESS);
            check((int) call(moduleLoadData, m, a.allocateFrom(JAVA_BYTE, image)), "cuModuleLoadData");
            return m.get(ADDRESS, 0);
        }
    }

    MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ADDRESS);
            check((int) call(moduleGetFunction, f, module, a.allocateFrom(name)), "cuModuleGetFunction " + name);
            return f.get(ADDRESS, 0);
        }
    }

    /** Raises a kernel's dynamic shared memory limit past the default 48 KB. */
    void maxDynamicSharedMemory(MemorySegment function, int bytes) {
        check((int) call(funcSetAttribute, function, 8, bytes), "cuFuncSetAttribute");
    }

    /** Queues a kernel on {@link #stream}; {@code params} holds one pointer per kernel argument. */
    synchronized void launch(MemorySegment function, int gx, int gy, int gz, int block, int sharedBytes, MemorySegment params, String name) {
        int rc;
        try {
            if (programmaticLaunch) {
                launchConfig.set(JAVA_INT, 0, gx);
                launchConfig.set(JAVA_INT, 4, gy);
                launchConfig.set(JAVA_INT, 8, gz);
                launchConfig.set(JAVA_INT, 12, block);
                launchConfig.set(JAVA_INT, 24, sharedBytes);
                rc = (int) launchKernelEx.invokeExact(launchConfig, function, params, MemorySegment.NULL);
            } else {
                rc = (int) launchKernel.invokeExact(function, gx, gy, gz, block, 1, 1, sharedBytes, stream, params,
                        MemorySegment.NULL);
            }
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0) check(rc, "launch of kernel " + name + " (grid " + gx + "×" + gy + "×" + gz + ", block " + block + ")");
    }

    /**
     * Records what {@code work} queues on {@link #stream} into an executable graph instead of running it (relaxed
     * capture: work must only queue kernels). Returns the graph's handle for {@link #launchGraph}.
     */
    MemorySegment captureGraph(Runnable work) {
        try (Arena a = Arena.ofConfined()) {
            check((int) call(streamBeginCapture, stream, 2), "cuStreamBeginCapture");
            MemorySegment graph = a.allocate(ADDRESS);
            try {
                work.run();
            } finally {
                check((int) call(streamEndCapture, stream, graph), "cuStreamEndCapture");
            }
            MemorySegment exec = a.allocate(ADDRESS);
            try {
                check((int) call(graphInstantiate, exec, graph.get(ADDRESS, 0), 0L), "cuGraphInstantiate");
            } finally {
                check((int) call(graphDestroy, graph.get(ADDRESS, 0)), "cuGraphDestroy");
            }
            return exec.get(ADDRESS, 0);
        }
    }

    void launchGraph(MemorySegment exec) {
        checked(() -> (int) graphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
    }

    /**
     * Page-locked host memory of {@code bytes}: copies to and from it run at full speed, with no staging copy, and
     * can be queued on the stream ({@link #uploadAsync}, {@link #downloadAsync}). Free with {@link #freeHost}.
     */
    MemorySegment allocHost(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check((int) call(memAllocHost, p, bytes), "cuMemAllocHost (" + bytes + " bytes of page-locked memory)");
            return p.get(ADDRESS, 0).reinterpret(bytes);
        }
    }

    void freeHost(MemorySegment host) {
        check((int) call(memFreeHost, host), "cuMemFreeHost");
    }

    /** Queues a copy from page-locked {@code src} on the stream; {@code src} must stay unchanged until it has run. */
    void uploadAsync(long dst, MemorySegment src, long bytes) {
        checked(() -> (int) memcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
    }

    /** Queues a copy into page-locked {@code dst} on the stream; it holds the data after {@link #synchronizeStream}. */
    void downloadAsync(MemorySegment dst, long src, long bytes) {
        checked(() -> (int) memcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
    }

    /** Waits for everything queued on the stream. */
    void synchronizeStream() {
        checked(() -> (int) streamSynchronize.invokeExact(stream), "cuStreamSynchronize (an earlier kernel may have failed)");
    }

    void destroyGraph(MemorySegment exec) {
        check((int) call(graphExecDestroy, exec), "cuGraphExecDestroy");
    }

    /** A device event, for timing device work. */
    public MemorySegment event() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(ADDRESS);
            check((int) call(eventCreate, e, 0), "cuEventCreate");
            return e.get(ADDRESS, 0);
        }
    }

    /** Frees an {@link #event()}. */
    public void destroyEvent(MemorySegment event) {
        check((int) call(eventDestroy, event), "cuEventDestroy");
    }

    public void record(MemorySegment event) {
        check((int) call(eventRecord, event, MemorySegment.NULL), "cuEventRecord");
    }

    /** Milliseconds between two recorded events, waiting for the second. */
    public float elapsedMillis(MemorySegment start, MemorySegment end) {
        check((int) call(eventSynchronize, end), "cuEventSynchronize");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(JAVA_FLOAT);
            check((int) call(eventElapsedTime, ms, start, end), "cuEventElapsedTime");
            return ms.get(JAVA_FLOAT, 0);
        }
    }

    /** A driver call on the step's hot path: invokeExact, not {@link #call}'s boxing invokeWithArguments. */
    @FunctionalInterface
    private interface NativeCall {
        int run() throws Throwable;
    }

    private void checked(NativeCall call, String what) {
        int rc;
        try {
            rc = call.run();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        check(rc, what);
    }

    void check(int rc, String what) {
        if (rc == 0) return;
        String name = "error " + rc;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            if ((int) call(getErrorName, rc, p) == 0) name = p.get(ADDRESS, 0).reinterpret(256).getString(0);
        }
        throw new CudaException(what + " failed: " + name);
    }

    static Object call(MethodHandle h, Object... args) {
        try {
            return h.invokeWithArguments(args);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
