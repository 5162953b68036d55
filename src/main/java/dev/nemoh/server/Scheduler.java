package dev.nemoh.server;

import dev.nemoh.generate.BatchDecoder;
import dev.nemoh.generate.Generation;
import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.PrefixCache;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Continuous batching: one thread runs every active sequence forward in one batched decode step, again and again.
 * Between steps, waiting requests join (prefilled one by one, then decoded with the others) and finished, cancelled
 * or timed-out ones leave, so a request never waits for another to finish before it starts. The host's work on a
 * step's tokens (text, stop strings, events) is done while the model computes the next step ({@link #step()}). New
 * requests are prefilled whole in {@link #start}, between steps: where chunked prefill would mix prompt pieces into
 * decode steps. Two bounds keep the
 * server within its means: at most {@code maxBatch} sequences at once, whose caches (at their full length, prompt +
 * max tokens) fit in {@code maxCacheBytes}; and at most {@code maxQueue} requests waiting, beyond which
 * {@link #submit} refuses with 429 (with {@code maxQueue} 0 a request is taken only if it can start at once).
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
    /** Where prompts resume from a prefix prefilled before, or null. */
    private final PrefixCache prefixCache;
    private final Object lock = new Object();
    // guarded by lock: the queue, and what the admitted sequences (starting or active) hold
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private long waitingBytes;
    private int admittedCount;
    private long reserved;
    private boolean closing;
    // scheduler thread only
    private final List<Job> active = new ArrayList<>();
    private final List<Job> starting = new ArrayList<>(); // admitted, not yet prefilled
    /** Tokens chosen at the last step whose text is worked out during the next. */
    private final List<Chosen> chosen = new ArrayList<>();
    private final BatchDecoder decoder;
    private final Thread thread;
    /** Completes with the fatal error that stopped the scheduler thread; never completes otherwise. */
    private final CompletableFuture<Throwable> failure = new CompletableFuture<>();
    private volatile Throwable failed;

    Scheduler(LanguageModel model, Tokenizer tokenizer, Limits limits, Metrics metrics, PrefixCache prefixCache) {
        this.model = model;
        this.decoder = BatchDecoder.of(model);
        this.prefixCache = prefixCache;
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

    /** Whether the scheduler takes no new requests: it is shutting down, or it failed. */
    boolean closing() {
        synchronized (lock) {
            return closing;
        }
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

    /**
     * Queues a job; its events arrive on {@link Job#events}. Throws 429 when the queue is full (with a max queue of
     * 0: when the job cannot start at once), 503 when stopping or failed.
     */
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
            // it starts at the next step if it fits beside the running sequences and those already waiting (all of
            // whom then fit too): such a request never waits for a place, so the queue bound does not apply to it
            boolean startsNow = admittedCount + waiting.size() < limits.maxBatch()
                    && reserved + waitingBytes + job.cacheBytes <= limits.maxCacheBytes();
            if (!startsNow && waiting.size() >= limits.maxQueue()) {
                metrics.rejected.increment();
                throw new ApiException(429, "rate_limit_error", null, "queue_full", limits.maxQueue() == 0
                        ? "The server is busy: every place in the batch (--max-batch " + limits.maxBatch()
                                + ") or the cache memory is taken and --max-queue 0 lets no request wait; retry later"
                        : "The server is busy: " + admittedCount + " sequences are running and " + waiting.size()
                                + " requests are waiting (the bound); retry later");
            }
            job.queuedOn(this);
            waiting.addLast(job);
            waitingBytes += job.cacheBytes;
            metrics.queueDepth.set(waiting.size());
            lock.notifyAll();
        }
    }

    /**
     * Takes a cancelled or timed-out job out of the queue at once, if it is still there (a running one leaves the
     * batch at the next step).
     */
    void withdraw(Job job) {
        synchronized (lock) {
            if (!waiting.remove(job)) return;
            waitingBytes -= job.cacheBytes;
            metrics.queueDepth.set(waiting.size());
            countStop(job);
            lock.notifyAll();
        }
    }

    private void countStop(Job j) {
        if (j.stop() == Job.Stop.TIMED_OUT) metrics.timedOut.increment();
        else metrics.cancelled.increment();
    }

    private void run() {
        try {
            loop();
        } catch (Throwable t) {
            // InterruptedException included: nothing interrupts this thread, and if something does, ending as a
            // failure leaves no request waiting
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
                waitingBytes = 0;
                admittedCount = 0;
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
            synchronized (lock) {
                while (active.isEmpty() && waiting.isEmpty() && !closing) lock.wait();
                if (closing && active.isEmpty() && waiting.isEmpty()) return;
                while (!waiting.isEmpty() && admittedCount < limits.maxBatch()
                        && reserved + waiting.peekFirst().cacheBytes <= limits.maxCacheBytes()) {
                    Job j = waiting.removeFirst();
                    waitingBytes -= j.cacheBytes;
                    admittedCount++;
                    reserved += j.cacheBytes;
                    starting.add(j);
                }
                metrics.queueDepth.set(waiting.size());
            }
            for (Job j : starting) start(j);
            starting.clear();
            step();
        }
    }

    /** Prefills the prompt; the job decodes with the others from the next step on. */
    private void start(Job j) {
        if (j.stop() != null) {
            countStop(j);
            release(j);
            return;
        }
        try {
            j.generation = new Generation(model, j.prompt, j.params, prefixCache, j.adapter, j.mask);
            j.sequence = new TextSequence(j.generation, tokenizer, j.stops, j.steering);
            metrics.promptTokens.add(j.prompt.length);
            if (prefixCache != null) metrics.prefixCache(j.generation.cachedTokens(), prefixCache.bytes());
            active.add(j);
        } catch (RuntimeException e) {
            j.events.add(new Job.Failed("prefill failed: " + e.getMessage()));
            release(j);
        }
        publish();
    }

    /** A token chosen at one step whose text the host works out while the next step runs. */
    private record Chosen(Job job, int token, Sampler.Logprobs logprobs) {}

    /**
     * One step, with the host's work on the previous step's tokens overlapped with the model's work on this one:
     * queues the batched decode of every sequence's last token (whose next token the model may pick itself, see
     * {@link BatchDecoder}), then detokenizes the tokens chosen at the previous step, checks their stop strings and
     * sends their events, then waits for the step and chooses each sequence's next token. A sequence that a stop
     * string ended was decoded once more in vain: its row is dropped. Sequences just prefilled only choose.
     */
    private void step() {
        long begin = System.nanoTime();
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            if (j.stop() == null && j.pastDeadline(begin)) j.cancel(Job.Stop.TIMED_OUT); // its responder is late
            if (j.stop() != null) {
                countStop(j);
                leave(it, j);
            }
        }
        chosen.removeIf(c -> c.job().generation == null);
        List<Job> feeding = new ArrayList<>();
        for (Job j : active) if (j.generation.pendingToken() >= 0 && !j.generation.done()) feeding.add(j);
        BatchDecoder.Step queued = null;
        if (!feeding.isEmpty()) {
            int[] tokens = new int[feeding.size()];
            LanguageModel.SequenceState[] states = new LanguageModel.SequenceState[feeding.size()];
            Sampler[] samplers = new Sampler[feeding.size()];
            for (int i = 0; i < tokens.length; i++) {
                Generation g = feeding.get(i).generation;
                tokens[i] = g.pendingToken();
                states[i] = g.state();
                samplers[i] = g.sampler();
            }
            try {
                queued = decoder.start(tokens, states, samplers);
            } catch (RuntimeException e) {
                failBatch(feeding, e);
                feeding.clear();
            }
        }
        long hostStart = System.nanoTime();
        List<Job> ended = emit();
        long hostNanos = System.nanoTime() - hostStart;
        BatchDecoder.Picks picks = null;
        if (queued != null) {
            try {
                picks = queued.finish();
            } catch (RuntimeException e) {
                failBatch(feeding, e);
                feeding.clear();
            }
        }
        for (Job j : ended) {
            if (j.generation == null) continue; // its batch failed
            active.remove(j);
            release(j);
        }
        long sampleStart = System.nanoTime();
        for (int i = 0; i < feeding.size(); i++) {
            Job j = feeding.get(i);
            if (j.generation == null) continue; // ended by a stop string while this step ran
            if (picks.tokens()[i] >= 0) j.generation.acceptPicked(picks.tokens()[i]);
            else j.generation.acceptLogits(picks.logits()[i]);
        }
        int produced = 0;
        for (Iterator<Job> it = active.iterator(); it.hasNext(); ) {
            Job j = it.next();
            if (j.generation.pendingToken() >= 0 || j.generation.done()) continue;
            try {
                int token = j.generation.choose();
                produced++;
                // a stop token ends the text; OpenAI reports no logprob for it
                chosen.add(new Chosen(j, token, j.generation.stoppedAtStopToken() ? null : j.generation.lastLogprobs()));
            } catch (RuntimeException e) {
                j.events.add(new Job.Failed("generation failed: " + e.getMessage()));
                chosen.removeIf(c -> c.job() == j);
                leave(it, j);
            }
        }
        long sampleNanos = System.nanoTime() - sampleStart;
        metrics.step(feeding.size(), produced);
        if (picks != null) {
            metrics.stepTimes(picks.decodeNanos(), picks.sampleNanos(), picks.copyNanos(), sampleNanos, hostNanos,
                    System.nanoTime() - begin);
        }
        publish();
    }

    /**
     * The host's part of a step: each token chosen at the previous step becomes text (held back while it may be the
     * start of a stop string) and an event; returns the jobs whose text ended, which leave once the step in flight
     * is done with their state.
     */
    private List<Job> emit() {
        List<Job> ended = new ArrayList<>();
        for (Chosen c : chosen) {
            Job j = c.job();
            if (j.sequence.finished()) continue;
            try {
                String text = j.sequence.accept(c.token());
                j.events.add(new Job.Token(c.token(), text, c.logprobs()));
                if (!j.started) {
                    j.started = true;
                    metrics.firstToken(System.nanoTime() - j.created);
                }
                if (j.sequence.finished()) {
                    j.events.add(new Job.Finished(j.sequence.finish(), j.prompt.length,
                            j.generation.cachedTokens(), j.generation.generated()));
                    ended.add(j);
                }
            } catch (RuntimeException e) {
                j.events.add(new Job.Failed("generation failed: " + e.getMessage()));
                ended.add(j);
            }
        }
        chosen.clear();
        return ended;
    }

    /** The states of a step's batch may be half advanced when it fails: none of its sequences can go on. */
    private void failBatch(List<Job> feeding, RuntimeException e) {
        for (Job j : feeding) {
            if (!j.sequence.finished()) j.events.add(new Job.Failed("decode step failed: " + e.getMessage()));
        }
        active.removeAll(feeding);
        chosen.removeIf(c -> feeding.contains(c.job()));
        for (Job j : feeding) release(j);
    }

    private void leave(Iterator<Job> it, Job j) {
        it.remove();
        release(j);
    }

    /** Gives back the place and the cache reservation of an admitted job; its state goes with it. */
    private void release(Job j) {
        if (j.generation != null) j.generation.state().release(); // a GPU state's memory now, not at the next GC
        j.generation = null;
        j.sequence = null;
        synchronized (lock) {
            admittedCount--;
            reserved -= j.cacheBytes;
        }
    }

    private void publish() {
        metrics.activeSequences.set(active.size());
        synchronized (lock) {
            metrics.reservedCacheBytes.set(reserved);
        }
    }

    /**
     * Stops taking requests (503), fails those still waiting, lets the running ones finish (they are bounded by their
     * max tokens and the request timeout) and waits for the scheduler thread.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closing = true;
            for (Job j : waiting) j.events.add(new Job.Failed("the server shut down before this request started"));
            waiting.clear();
            waitingBytes = 0;
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
