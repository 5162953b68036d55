package dev.nemoh.cli;

import dev.nemoh.generate.SamplingParams;
import picocli.CommandLine.Option;

import java.util.Collection;

/** Sampling flags shared by the generating commands; every value is checked by {@link SamplingParams}. */
final class SamplingOptions {
    @Option(names = "--max-tokens", defaultValue = "16", paramLabel = "N", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--greedy", description = "Pick the most likely token (the default; same as --temperature 0).")
    boolean greedy;

    @Option(names = "--temperature", defaultValue = "0", description = "Sampling temperature; 0 = greedy (default).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass; 1 = off.")
    double topP;

    @Option(names = "--min-p", defaultValue = "0", description = "Drop tokens below min-p × the top probability; 0 = off.")
    double minP;

    @Option(names = "--repetition-penalty", defaultValue = "1", description = "HF repetition penalty over prompt and output; 1 = off.")
    double repetitionPenalty;

    @Option(names = "--presence-penalty", defaultValue = "0", description = "OpenAI presence penalty; 0 = off.")
    double presencePenalty;

    @Option(names = "--frequency-penalty", defaultValue = "0", description = "OpenAI frequency penalty; 0 = off.")
    double frequencyPenalty;

    @Option(names = "--seed", description = "Random seed for reproducible sampling (default: random, printed at the end).")
    Long seed;

    SamplingParams params(Collection<Integer> stopTokens) {
        return params(stopTokens, -1);
    }

    /** With {@code logprobs} ≥ 0: each token's log-probability and that many alternatives (generate --logprobs). */
    SamplingParams params(Collection<Integer> stopTokens, int logprobs) {
        if (greedy && temperature > 0) throw new IllegalArgumentException("--greedy contradicts --temperature " + temperature);
        return SamplingParams.builder()
                .maxTokens(maxTokens)
                .temperature(greedy ? 0 : temperature)
                .topK(topK).topP(topP).minP(minP)
                .repetitionPenalty(repetitionPenalty).presencePenalty(presencePenalty).frequencyPenalty(frequencyPenalty)
                .seed(seed)
                .logprobs(logprobs)
                .stopTokenIds(stopTokens)
                .build();
    }
}
