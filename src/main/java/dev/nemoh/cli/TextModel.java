package dev.nemoh.cli;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.tokenizer.Tokenizer;

import java.nio.file.Path;

/** A model and its tokenizer, loaded together for the text commands, with a one-line report of the load. */
record TextModel(LanguageModel model, Tokenizer tokenizer, java.util.List<Integer> stopTokens, LoraAdapter adapter)
        implements AutoCloseable {
    static TextModel open(ModelOption option) {
        return open(option, new AdapterOption());
    }

    /** With {@code --adapter}, the adapter every generation runs through (null without). */
    static TextModel open(ModelOption option, AdapterOption adapter) {
        AdapterOption.checkDevice(option.device, adapter.dir != null, "--adapter");
        Path dir = option.resolve();
        long t0 = System.nanoTime();
        Tokenizer tokenizer = Tokenizer.load(dir);
        LanguageModel model = option.openOnDevice();
        System.err.printf(java.util.Locale.ROOT, "loaded %s (%,d parameters, %d layers) in %.1f s%n", dir,
                model.config().paramCount(), model.config().numLayers(), (System.nanoTime() - t0) / 1e9);
        try {
            return new TextModel(model, tokenizer, stopTokens(dir, model.config().eosTokenIds), adapter.load(model));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * config.json's eos_token_id plus generation_config.json's, which chat models use for their end-of-turn token
     * (it may be one id or a list).
     */
    static java.util.List<Integer> stopTokens(Path dir, java.util.List<Integer> configEos) {
        java.util.Set<Integer> ids = new java.util.LinkedHashSet<>(configEos);
        Path gen = dir.resolve("generation_config.json");
        if (java.nio.file.Files.exists(gen)) {
            try {
                var eos = new com.fasterxml.jackson.databind.ObjectMapper().readTree(gen.toFile()).get("eos_token_id");
                if (eos != null && eos.isInt()) ids.add(eos.intValue());
                if (eos != null && eos.isArray()) eos.forEach(e -> ids.add(e.intValue()));
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException(gen + " is not valid JSON: " + e.getMessage());
            }
        }
        return java.util.List.copyOf(ids);
    }

    @Override
    public void close() {
        model.close();
    }
}
