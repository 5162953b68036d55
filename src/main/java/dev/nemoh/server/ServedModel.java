package dev.nemoh.server;

import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.ChatTemplateException;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.tokenizer.Tokenizer;

import java.util.List;

/**
 * The model a server serves, as clients name it ({@code id}, the model directory's name), with its tokenizer, its
 * chat template (null when the model has none: chat completions are then refused) and the token ids that end a
 * generation (config.json's and generation_config.json's eos_token_id).
 */
public record ServedModel(String id, LanguageModel model, Tokenizer tokenizer, ChatTemplate template,
                          List<Integer> stopTokens) {
    public static ServedModel of(String id, LanguageModel model, Tokenizer tokenizer, List<Integer> stopTokens) {
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
        return new ServedModel(id, model, tokenizer, template, List.copyOf(stopTokens));
    }
}
