package dev.nemoh.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC, the CUDA run-time compiler, bound through {@code java.lang.foreign}: CUDA C++ source in, a cubin for one GPU
 * architecture out. Compiling at run time keeps the jar free of GPU binaries and fits whatever GPU is present.
 */
final class Nvrtc {
    private final MethodHandle create, compile, logSize, log, cubinSize, cubin, destroy, errorString;

    Nvrtc() {
        NativeLibrary lib = NativeLibrary.load("NVRTC, the CUDA run-time compiler that builds nemoh's kernels",
                "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12");
        create = lib.function("nvrtcCreateProgram", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        compile = lib.function("nvrtcCompileProgram", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
        logSize = lib.function("nvrtcGetProgramLogSize", JAVA_INT, ADDRESS, ADDRESS);
        log = lib.function("nvrtcGetProgramLog", JAVA_INT, ADDRESS, ADDRESS);
        cubinSize = lib.function("nvrtcGetCUBINSize", JAVA_INT, ADDRESS, ADDRESS);
        cubin = lib.function("nvrtcGetCUBIN", JAVA_INT, ADDRESS, ADDRESS);
        destroy = lib.function("nvrtcDestroyProgram", JAVA_INT, ADDRESS);
        errorString = lib.function("nvrtcGetErrorString", ADDRESS, JAVA_INT);
    }

    /** Compiles {@code source} to machine code for {@code arch} (such as "sm_90"). */
    byte[] compile(String source, String name, String arch) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check((int) Cuda.call(create, prog, a.allocateFrom(source), a.allocateFrom(name), 0, MemorySegment.NULL,
                    MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                String[] options = {"--gpu-architecture=" + arch, "-std=c++17"};
                MemorySegment opts = a.allocate(ADDRESS, options.length);
                for (int i = 0; i < options.length; i++) opts.setAtIndex(ADDRESS, i, a.allocateFrom(options[i]));
                int rc = (int) Cuda.call(compile, p, options.length, opts);
                if (rc != 0) throw new CudaException("NVRTC could not compile " + name + " for " + arch + ":\n" + log(a, p));
                MemorySegment size = a.allocate(JAVA_LONG);
                check((int) Cuda.call(cubinSize, p, size), "nvrtcGetCUBINSize");
                MemorySegment image = a.allocate(size.get(JAVA_LONG, 0));
                check((int) Cuda.call(cubin, p, image), "nvrtcGetCUBIN");
                return image.toArray(JAVA_BYTE);
            } finally {
                Cuda.call(destroy, prog);
            }
        }
    }

    private String log(Arena a, MemorySegment p) {
        MemorySegment size = a.allocate(JAVA_LONG);
        check((int) Cuda.call(logSize, p, size), "nvrtcGetProgramLogSize");
        MemorySegment text = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        check((int) Cuda.call(log, p, text), "nvrtcGetProgramLog");
        return text.getString(0);
    }

    private void check(int rc, String what) {
        if (rc != 0) {
            String msg = ((MemorySegment) Cuda.call(errorString, rc)).reinterpret(256).getString(0);
            throw new CudaException(what + " failed: " + msg);
        }
    }
}
