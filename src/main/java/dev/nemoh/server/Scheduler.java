package dev.nemoh.server;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Continuous batching: one thread runs every active sequence forward in one batched decode step, again and again.
 * Between steps, waiting requests join (prefilled one by one, then decoded with the others) and finished or
 * cancelled ones leave, so a request never waits for another to finish before it starts. Two bounds keep the server
 * within its means: at most {@code maxBatch} sequences at once, whose caches (at their full length, prompt + max
 * tokens) fit in {@code maxCacheBytes}; and at most {@code maxQueue} requests waiting, beyond which
 * {@link #submit} refuses with 429.
 *
 * <p>A {@link RuntimeException} while a sequence is prefilled or decoded fails that sequence (or that step's batch)
 * alone. Anything else that escapes, an {@link Error} above all (out of heap, out of stack), is fatal: every running
 * and waiting request fails with a 500, new ones get 503, and {@link #failure()} completes so that whoever runs the
 * server can stop it (the {@code serve} command exits non-zero; see README's Server section).
 */
final class Scheduler implements AutoCloseable {
    /** Checked by {@link OpenAiServer.Options}. */
    record Limits(int maxBatch, int maxQueue, long maxCacheBytes) {}

    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final Limits limits;
    private final Metrics metrics;
    private final Object lock = new Object();
    private final ArrayDeque<Job> waiting = new ArrayDeque<>(); // guarded by lock
    private boolean closing; // guarded by lock
    private final List<Job> active = new ArrayList<>(); // scheduler thread only
    private final List<Job> starting = new ArrayList<>(); // scheduler thread only: admitted, not yet prefilled
    private long reserved; // scheduler thread only
    private final Thread thread;
    /** Completes with the fatal error that stopped the scheduler thread; never completes otherwise. */
    private final CompletableFuture<Throwable> failure = new CompletableFuture<>();
    private volatile Throwable failed;

    Scheduler(LanguageModel model, Tokenizer tokenizer, Limits limits, Metrics metrics) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.limits = limits;
        this.metrics = metrics;
        this.thread = Thread.ofPlatform().name("nemoh-scheduler").daemon().start(this::run);
    }

    Limits limits() {
        return limits;
    }

    /** Completes with the error that stopped the scheduler for good (see the class comment). */
    CompletableFuture<Throwable> failure() {
        return failure;
    }

    /** The fatal error, or null while the scheduler runs. */
    Throwable failed() {
        return failed;
    }

    /** What a request that the fatal error {@code t} ended is told. */
    static String failureMessage(Throwable t) {
        return "the server failed (" + t + ") and stops; every running and waiting request was ended."
                + " Retry once it has been restarted" + (t instanceof OutOfMemoryError
                ? "; if it ran out of heap, lower --max-cache-memory or --max-batch, or raise the heap (-Xmx in JAVA_OPTS)" : "");
    }

    /** Queues a job; its events arrive on {@link Job#events}. Throws 429 when the queue is full, 503 when stopping. */
    void submit(Job job) {
        synchronized (lock) {
            if (failed != null) {
                metrics.rejected.increment();
                throw new ApiException(503, "server_error", null, "server_failed", failureMessage(failed));
            }
            if (closing) {
                metrics.rejected.increment();
                throw new ApiException(503, "service_unavailable", null, "shutting_down",
                        "The server is shutting down and takes no new requests; retry later");
            }
            if (waiting.size() >= limits.maxQueue()) {
                metrics.rejected.increment();
                throw new ApiException(429, "rate_limit_error", null, "queue_full",
                        "The server is busy: " + limits.maxBatch() + " sequences are running and " + waiting.size()
                                + " requests are waiting (the bound); retry later");
            }
            waiting.addLast(job);
            metrics.queueDepth.set(waiting.size());
            lock.notifyAll();
        }
    }

    private void run() {
        try {
            loop();
        } catch (InterruptedException e) {
            // nothing interrupts this thread; if something does, end as a failure rather than leave requests waiting
            fail(e);
        } catch (Throwable t) {
            fail(t);
        }
    }

    /**
     * Ends every request the scheduler holds with a 500 naming {@code t}, refuses new ones and lets the server know.
     * The sequences' states are dropped first, which frees their caches' memory if {@code t} was an OutOfMemoryError.
     */
    private void fail(Throwable t) {
        failed = t;
        List<Job> doomed = new ArrayList<>();
        try {
            for (Job j : active) {
                j.generation = null;
                j.sequence = null;
            }
            doomed.addAll(active);
            doomed.addAll(starting);
            active.clear();
            starting.clear();
            synchronized (lock) {
                closing = true;
                doomed.addAll(waiting);
                waiting.clear();
                reserved = 0;
            }
            Job.Failed event = new Job.Failed(failureMessage(t));
            for (Job j : doomed) j.events.add(event);
        } catch (Throwable again) {
            t.addSuppressed(again); // responders see failed() on their next poll and report it themselves
        } finally {
            metrics.queueDepth.set(0);
            publish();
            failure.complete(t);
        }
    }

    private void loop() throws InterruptedException {
        while (true) {
            List<Job> admitted = starting;
            synchronized (lock) {
                while (active.isEmpty() && waiting.isEmpty() && !closing) lock.wait();
                if (closing && active.isEmpty() && waiting.isEmpty()) return;
                long budget = reserved;
                while (!waiting.isEmpty() && active.size() + admitted.size() < limits.maxBatch()
                        && budget + waiting.peekFirst().cacheBytes <= limits.maxCacheBytes()) {
                    Job j = waiting.removeFirst();
                    if (j.cancelled()) {
                        metrics.cancelled.increment();
                        continue;
                    }
                    budget += j.cacheBytes;
                    admitted.add(j);
                }
                metrics.queueDepth.set(waiting.size());
            }
            for (Job j : admitted) start(j);
            admitted.clear();
            step();
        }
    }

    /** Prefills the prompt; the job decodes with the others from the next step on. */
    private void start(Job j) {
        try {
            j.generation = new Generation(model, j.prompt, j.params);
            j.sequence = new TextSequence(j.generation, tokenizer, j.stops, j.steering);
            metrics.promptTokens.add(j.prompt.length);
            active.add(j);
            reserved += j.cacheBytes;
        } catch (RuntimeException e) {
            j.events.add(new Job.Failed("prefill failed: " + e.getMessage()));
        }
        metrics.activeSequences.set(active.size());
        metrics.reservedCacheBytes.set(reserved);
    }

    /**
     * Feeds every sequence's last token through the model in one batched call, then lets each choose its next token.
     * Sequences just prefilled have their logits already and only choose.
     */
    private void step() {
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            if (j.cancelled()) {
                metrics.cancelled.increment();
                leave(it, j);
            }
        }
        List<Job> feeding = new ArrayList<>();
        for (Job j : active) if (j.generation.pendingToken() >= 0) feeding.add(j);
        if (!feeding.isEmpty()) {
            int[] tokens = new int[feeding.size()];
            LanguageModel.SequenceState[] states = new LanguageModel.SequenceState[feeding.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = feeding.get(i).generation.pendingToken();
                states[i] = feeding.get(i).generation.state();
            }
            float[] logits;
            try {
                logits = model.decodeBatch(tokens, states);
            } catch (RuntimeException e) {
                // the states of this batch may be half advanced: none of its sequences can go on
                for (Job j : feeding) j.events.add(new Job.Failed("decode step failed: " + e.getMessage()));
                active.removeAll(feeding);
                for (Job j : feeding) reserved -= j.cacheBytes;
                publish();
                return;
            }
            int v = model.config().vocabSize;
            for (int i = 0; i < tokens.length; i++) {
                feeding.get(i).generation.acceptLogits(Arrays.copyOfRange(logits, i * v, (i + 1) * v));
            }
        }
        int produced = 0;
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            try {
                int token = j.generation.choose();
                produced++;
                String text = j.sequence.accept(token);
                // a stop token ends the text; OpenAI reports no logprob for it
                Sampler.Logprobs lp = j.generation.stoppedAtStopToken() ? null : j.generation.lastLogprobs();
                j.events.add(new Job.Token(token, text, lp));
                if (j.sequence.finished()) {
                    j.events.add(new Job.Finished(j.sequence.finish(), j.prompt.length, j.generation.generated()));
                    leave(it, j);
                }
            } catch (RuntimeException e) {
                j.events.add(new Job.Failed("generation failed: " + e.getMessage()));
                leave(it, j);
            }
        }
        metrics.step(feeding.size(), produced);
        publish();
    }

    private void leave(Iterator<Job> it, Job j) {
        it.remove();
        reserved -= j.cacheBytes;
    }

    private void publish() {
        metrics.activeSequences.set(active.size());
        metrics.reservedCacheBytes.set(reserved);
    }

    /**
     * Stops taking requests (503), fails those still waiting, lets the running ones finish (they are bounded by their
     * max tokens) and waits for the scheduler thread.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closing = true;
            for (Job j : waiting) j.events.add(new Job.Failed("the server shut down before this request started"));
            waiting.clear();
            metrics.queueDepth.set(0);
            lock.notifyAll();
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
