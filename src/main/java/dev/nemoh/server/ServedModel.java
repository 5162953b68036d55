package dev.nemoh.server;

import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.ChatTemplateException;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model a server serves, as clients name it ({@code id}, the model directory's name), with its tokenizer, its
 * chat template (null when the model has none: chat completions are then refused), the token ids that end a
 * generation (config.json's and generation_config.json's eos_token_id), and its adapters: {@code adapter} is what
 * {@code id} runs through (null: the base model), {@code loras} the adapters requests choose by name, as vLLM's
 * {@code --lora-modules} serves them.
 */
public record ServedModel(String id, LanguageModel model, Tokenizer tokenizer, ChatTemplate template,
                          List<Integer> stopTokens, LoraAdapter adapter, Map<String, LoraAdapter> loras) {
    public static ServedModel of(String id, LanguageModel model, Tokenizer tokenizer, List<Integer> stopTokens) {
        return of(id, model, tokenizer, stopTokens, null, List.of());
    }

    public static ServedModel of(String id, LanguageModel model, Tokenizer tokenizer, List<Integer> stopTokens,
                                 LoraAdapter adapter, List<LoraAdapter> loras) {
        Map<String, LoraAdapter> byName = new LinkedHashMap<>();
        for (LoraAdapter a : loras) {
            if (a.name.equals(id) || byName.put(a.name, a) != null) {
                throw new IllegalArgumentException("the adapter name '" + a.name + "' is used twice (the base model is '"
                        + id + "'); give each --lora a name of its own");
            }
        }
        if (tokenizer.vocabSize() > model.config().vocabSize) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + model.config().vocabSize + "; they do not belong together");
        }
        ChatTemplate template;
        try {
            template = ChatTemplate.of(tokenizer);
        } catch (ChatTemplateException e) {
            template = null;
        }
        return new ServedModel(id, model, tokenizer, template, List.copyOf(stopTokens), adapter,
                java.util.Collections.unmodifiableMap(byName));
    }

    /** The adapter a request's {@code model} selects (null: the base model); an unknown name is a 404. */
    LoraAdapter adapterFor(String name) {
        if (name == null || name.equals(id)) return adapter;
        LoraAdapter a = loras.get(name);
        if (a == null) throw ApiException.modelNotFound(name, ids());
        return a;
    }

    /** The model ids clients may ask for: the base's, then each adapter's. */
    List<String> ids() {
        List<String> ids = new java.util.ArrayList<>(List.of(id));
        ids.addAll(loras.keySet());
        return ids;
    }
}
