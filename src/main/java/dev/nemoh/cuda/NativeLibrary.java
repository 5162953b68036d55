package dev.nemoh.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A shared library of the CUDA stack, found at run time: first by the dynamic loader's own search (LD_LIBRARY_PATH,
 * ldconfig), then in the directories of {@code NEMOH_CUDA_LIBS} (colon-separated) and of the usual CUDA installs.
 * Nothing is linked at build time, so nemoh builds and runs its CPU backend where no CUDA is installed. The system
 * property {@value #EMULATOR} names one library that stands for all of them instead: the CPU emulator of the CUDA
 * stack that the tests build (src/test/cpp/cuda-emu).
 */
final class NativeLibrary {
    static final String EMULATOR = "nemoh.cuda.emulator";
    private static final Linker LINKER = Linker.nativeLinker();
    private final SymbolLookup lookup;
    final String name;

    private NativeLibrary(String name, SymbolLookup lookup) {
        this.name = name;
        this.lookup = lookup;
    }

    /** Loads the first of {@code fileNames} found; {@code purpose} completes the error message. */
    static NativeLibrary load(String purpose, String... fileNames) {
        String emulator = System.getProperty(EMULATOR);
        if (emulator != null) return new NativeLibrary(emulator, SymbolLookup.libraryLookup(Path.of(emulator), Arena.global()));
        List<String> tried = new ArrayList<>();
        for (String file : fileNames) {
            try {
                return new NativeLibrary(file, SymbolLookup.libraryLookup(file, Arena.global()));
            } catch (IllegalArgumentException notFound) {
                tried.add(file);
            }
        }
        for (Path dir : searchDirs()) {
            for (String file : fileNames) {
                Path p = dir.resolve(file);
                if (Files.exists(p)) return new NativeLibrary(p.toString(), SymbolLookup.libraryLookup(p, Arena.global()));
            }
        }
        throw new CudaException("no " + fileNames[0] + " found (" + purpose + "); tried " + String.join(", ", tried)
                + " and " + searchDirs() + ". Install the CUDA toolkit or its pip wheels, or point NEMOH_CUDA_LIBS at the"
                + " directory holding it");
    }

    /** Whether the CUDA stack is the emulator ({@value #EMULATOR} is set). */
    static boolean emulated() {
        return System.getProperty(EMULATOR) != null;
    }

    private static List<Path> searchDirs() {
        List<Path> dirs = new ArrayList<>();
        String env = System.getenv("NEMOH_CUDA_LIBS");
        if (env != null) for (String d : env.split(":")) if (!d.isBlank()) dirs.add(Path.of(d));
        for (String home : new String[] {System.getenv("CUDA_HOME"), System.getenv("CUDA_PATH"), "/usr/local/cuda"}) {
            if (home == null) continue;
            dirs.add(Path.of(home, "lib64"));
            dirs.add(Path.of(home, "targets", "x86_64-linux", "lib"));
        }
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        return dirs;
    }

    /** A downcall handle for {@code symbol}; {@code ret} null for void. */
    MethodHandle function(String symbol, MemoryLayout ret, MemoryLayout... args) {
        var address = lookup.find(symbol).orElseThrow(() ->
                new CudaException(name + " has no symbol " + symbol + "; it is older than the CUDA 12 API nemoh needs"));
        return LINKER.downcallHandle(address, ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args));
    }
}
