package dev.nemoh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** npm packages for the tests that check nemoh against Node.js libraries (see {@link Requirements#assumeNode}). */
public final class NodePackages {
    private NodePackages() {
    }

    /** A finished command: its exit code (-1 when it timed out) and its output, stdout and stderr together. */
    public record Result(int code, String output) {}

    /** Installs {@code pkg} ("name@version") into {@code dir} from the npm registry, unless it is already there. */
    public static void install(Path dir, String pkg) throws IOException, InterruptedException {
        String name = pkg.substring(0, pkg.lastIndexOf('@'));
        if (Files.isDirectory(dir.resolve("node_modules").resolve(name))) return;
        Files.createDirectories(dir);
        ProcessBuilder pb = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--prefix", ".", pkg)
                .directory(dir.toFile());
        Result r = run(pb, 300);
        assertEquals(0, r.code(), "npm install " + pkg + " failed:\n" + r.output());
    }

    /** Runs {@code pb} to its end or for {@code timeoutSeconds} at most. */
    public static Result run(ProcessBuilder pb, long timeoutSeconds) throws IOException, InterruptedException {
        Path log = Files.createTempFile("nemoh-node", ".log");
        try {
            Process p = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after " + timeoutSeconds + " s:\n" + Files.readString(log));
            }
            return new Result(p.exitValue(), Files.readString(log));
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
