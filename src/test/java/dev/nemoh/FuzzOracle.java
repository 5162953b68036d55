package dev.nemoh;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * The oracle of the fuzz tests ({@code *FuzzTest}): one input of a parser that reads untrusted data must end, within
 * a time and an allocation bound, either normally or in one of the parser's own exceptions with a message that names
 * the problem (the CLI prints it as one line and exits 2; the server answers it as a 4xx). Anything else fails: a
 * hang, an {@link OutOfMemoryError}, a {@link StackOverflowError}, an exception of another type (a
 * NullPointerException, a ClassCastException...), a blank message, or an allocation past the bound (what would be an
 * OutOfMemoryError on a larger input or a smaller heap).
 *
 * <p>The input runs on a worker thread with the JVM's default stack size (-Xss4m, as the {@code nemoh} launcher and
 * surefire set it) so that a hang can be reported; Jazzer's coverage is global, so it still guides the fuzzer.
 */
public final class FuzzOracle {
    /** A real run takes milliseconds; seconds mean a loop the input controls (a loaded 2-core CI is slow, so be generous). */
    public static final Duration TIME_LIMIT = Duration.ofSeconds(20);

    /** The work of one input that may throw. */
    @FunctionalInterface
    public interface Body {
        void run() throws Exception;
    }

    private final String target;
    private final Predicate<Throwable> allowed;
    private final long maxAllocatedBytes;
    private final Duration timeLimit;

    private FuzzOracle(String target, Predicate<Throwable> allowed, long maxAllocatedBytes, Duration timeLimit) {
        this.target = target;
        this.allowed = allowed;
        this.maxAllocatedBytes = maxAllocatedBytes;
        this.timeLimit = timeLimit;
    }

    /**
     * @param target  what is fuzzed, for failure messages
     * @param allowed which exceptions are clear errors (checked on the exception itself, not its causes)
     * @param maxMiB  heap one input may allocate
     */
    public static FuzzOracle of(String target, Predicate<Throwable> allowed, long maxMiB) {
        return new FuzzOracle(target, allowed, maxMiB << 20, TIME_LIMIT);
    }

    /** Exceptions of exactly these types (or subtypes). */
    @SafeVarargs
    public static Predicate<Throwable> types(Class<? extends Throwable>... types) {
        return t -> {
            for (Class<? extends Throwable> c : types) if (c.isInstance(t)) return true;
            return false;
        };
    }

    private static ExecutorService worker = newWorker();

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-target");
            t.setDaemon(true);
            return t;
        });
    }

    private record Outcome(Throwable thrown, long allocated) {}

    /** Runs {@code body} and fails unless it returns or throws an allowed exception with a message. */
    public void check(Body body) {
        Future<Outcome> f = worker.submit(() -> {
            var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = mx.getCurrentThreadAllocatedBytes();
            Throwable thrown = null;
            try {
                body.run();
            } catch (Throwable t) {
                thrown = t;
            }
            return new Outcome(thrown, mx.getCurrentThreadAllocatedBytes() - before);
        });
        Outcome o;
        try {
            o = f.get(timeLimit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            worker.shutdownNow();
            worker = newWorker(); // the old thread may never come back
            throw new AssertionError(target + ": no result after " + timeLimit.toSeconds() + " s (a hang, or work the"
                    + " input makes unbounded)");
        } catch (ExecutionException e) {
            throw new AssertionError(target + ": the worker failed", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(target + ": interrupted", e);
        }
        if (o.allocated > maxAllocatedBytes) {
            throw new AssertionError(target + ": one input allocated " + (o.allocated >> 20) + " MiB, more than the bound of "
                    + (maxAllocatedBytes >> 20) + " MiB (what a larger input or a smaller heap turns into an"
                    + " OutOfMemoryError)", o.thrown);
        }
        Throwable t = o.thrown;
        if (t == null) return;
        if (!allowed.test(t)) {
            throw new AssertionError(target + ": " + t.getClass().getName() + " is not one of the errors this parser may"
                    + " raise: " + t, t);
        }
        String m = t.getMessage();
        if (m == null || m.isBlank()) throw new AssertionError(target + ": " + t.getClass().getName() + " without a message", t);
    }
}
