package dev.nemoh.build;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/build-native.sh}, which Maven runs in process-classes: a C compiler that is there but fails must fail
 * the build (else the native kernels vanish and their tests skip while the build stays green); only a missing
 * compiler or another platform skips.
 */
class BuildNativeScriptTest {
    private static final boolean LINUX_X86_64 = System.getProperty("os.name").startsWith("Linux")
            && System.getProperty("os.arch").equals("amd64");

    record Result(int code, String output) {}

    private static Result run(Path out, String cc) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", "scripts/build-native.sh", out.toString()).redirectErrorStream(true);
        pb.environment().put("CC", cc);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), output);
        return new Result(p.exitValue(), output);
    }

    @Test
    void aCompilerThatFailsFailsTheBuildAndShowsItsError(@TempDir Path tmp) throws Exception {
        Path fake = tmp.resolve("broken-cc");
        Files.writeString(fake, "#!/bin/sh\necho 'broken-cc: fatal error: no such header' >&2\nexit 1\n");
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
        Result r = run(tmp.resolve("classes"), fake.toString());
        if (!LINUX_X86_64) {
            assertEquals(0, r.code(), r.output());
            assertTrue(r.output().contains("skipped on"), r.output());
            return;
        }
        assertNotEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("broken-cc: fatal error: no such header"), "the compiler's own error: " + r.output());
        assertTrue(r.output().contains("could not compile") && r.output().contains("CC="), r.output());
        assertFalse(Files.exists(tmp.resolve("classes/native/linux-x86_64/libnemoh_cpu.so")));
    }

    @Test
    void noCompilerSkipsWithTheReason(@TempDir Path tmp) throws Exception {
        Result r = run(tmp.resolve("classes"), "no-such-cc");
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains(LINUX_X86_64 ? "no C compiler 'no-such-cc' found, skipped" : "skipped on"), r.output());
    }
}
