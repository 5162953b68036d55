package dev.nemoh.server;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextSequence;
import dev.nemoh.generate.TokenMask;
import dev.nemoh.model.LoraAdapter;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One request's generation as the {@link Scheduler} runs it: what to generate, and the events it sends back to the
 * HTTP thread that waits for them. The HTTP side cancels it when the client goes away.
 */
final class Job {
    /** What the scheduler reports, in order: tokens, then exactly one {@link Finished} or {@link Failed}. */
    sealed interface Event permits Token, Finished, Failed, TimedOut {}

    /** A chosen token and the text that may be shown with it (often "" while text is held back). */
    record Token(int id, String text, Sampler.Logprobs logprobs) implements Event {}

    /** @param cachedTokens prompt tokens that came from the prefix cache */
    record Finished(TextSequence.Finish finish, int promptTokens, int cachedTokens, int completionTokens) implements Event {}

    record Failed(String message) implements Event {}

    /** The request's deadline passed (the responder's own event: the scheduler only drops the sequence). */
    record TimedOut() implements Event {}

    /** What the sequence's tokens run through; null: the base model. */
    final LoraAdapter adapter;
    final int[] prompt;
    final SamplingParams params;
    final List<String> stops;
    /** Created per request: steering keeps per-sequence state. May be null. */
    final TextSequence.Steering steering;
    /** Created per request: the structured-output constraint, with its grammar state. May be null. */
    final TokenMask mask;
    /** KV cache bytes this sequence can grow to (prompt + max tokens), reserved while it runs. */
    final long cacheBytes;
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();

    /** Why a job stopped before its end: its client went away, or it ran past the request timeout. */
    enum Stop { CLIENT_GONE, TIMED_OUT }

    private volatile Stop stop;
    /** {@link System#nanoTime()} by which the request must be answered; far away unless {@link #deadline} sets it. */
    private volatile long deadline = System.nanoTime() + (1L << 62);
    private volatile Scheduler scheduler;

    /** {@link System#nanoTime()} when the job was made, as its request arrived: where time to first token starts. */
    final long created = System.nanoTime();

    // owned by the scheduler thread
    Generation generation;
    TextSequence sequence;
    /** Whether the first token's event was sent. */
    boolean started;

    Job(LoraAdapter adapter, int[] prompt, SamplingParams params, List<String> stops, TextSequence.Steering steering,
        TokenMask mask, long cacheBytes) {
        this.adapter = adapter;
        this.prompt = prompt;
        this.params = params;
        this.stops = stops;
        this.steering = steering;
        this.mask = mask;
        this.cacheBytes = cacheBytes;
    }

    /** Sets the time ({@link System#nanoTime()}) by which the request must be answered. */
    void deadline(long nanoTime) {
        this.deadline = nanoTime;
    }

    /** Nanoseconds left before the deadline (negative past it). */
    long timeLeft(long now) {
        return deadline - now;
    }

    boolean pastDeadline(long now) {
        return deadline - now <= 0;
    }

    void queuedOn(Scheduler s) {
        this.scheduler = s;
    }

    /**
     * Stops this job: out of the queue at once if it waits there, out of the batch at the next step if it runs. The
     * first reason given is the one that counts.
     */
    void cancel(Stop why) {
        synchronized (this) {
            if (stop != null) return;
            stop = why;
        }
        Scheduler s = scheduler;
        if (s != null) s.withdraw(this);
    }

    /** Why the job was stopped, or null. */
    Stop stop() {
        return stop;
    }
}
