package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.io.GgufFile;

import java.util.List;

/**
 * The tokenizer of a GGUF file, as llama.cpp reads it: GGML's byte-level BPE ({@code tokenizer.ggml.model} "gpt2")
 * with its tokens, token types, merges, BOS/EOS ids, whether BOS is added, and the chat template. Turned into the
 * tokenizer.json and tokenizer_config.json that say the same, so that one tokenizer implementation serves both:
 * CONTROL tokens become special added tokens, USER_DEFINED ones plain added tokens; the pre-tokenizer is named by
 * {@code tokenizer.ggml.pre} ("tekken": Nemotron-H's split regex, whose whole-word vocabulary hits skip the merges
 * as llama.cpp's ignore_merges does; "gpt-2" or "default": GPT-2's).
 */
final class GgufTokenizer {
    private GgufTokenizer() {}

    /** llama.cpp's token types (llama_token_type). */
    private static final int CONTROL = 3, USER_DEFINED = 4;

    static Tokenizer read(GgufFile g) {
        String source = g.path().toString();
        Object model = g.get("tokenizer.ggml.model");
        if (!"gpt2".equals(model)) {
            throw new TokenizerException(source + ": tokenizer.ggml.model is " + (model == null ? "missing" : "\"" + model + "\"")
                    + "; nemoh reads GGML's byte-level BPE (\"gpt2\") tokenizers from GGUF files");
        }
        Object pre = g.get("tokenizer.ggml.pre");
        BpeTrainer.PreTokenization split = switch (pre == null ? "default" : pre.toString()) {
            case "tekken" -> BpeTrainer.PreTokenization.NEMOTRON;
            case "gpt-2", "default" -> BpeTrainer.PreTokenization.GPT2;
            default -> throw new TokenizerException(source + ": tokenizer.ggml.pre \"" + pre + "\" is not a pre-tokenizer nemoh"
                    + " reads (tekken, gpt-2)");
        };
        List<?> tokens = list(g, "tokenizer.ggml.tokens");
        List<?> types = g.get("tokenizer.ggml.token_type") == null ? null : list(g, "tokenizer.ggml.token_type");
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        ObjectNode bpe = root.putObject("model").put("type", "BPE").put("byte_fallback", false)
                .put("ignore_merges", split == BpeTrainer.PreTokenization.NEMOTRON);
        ObjectNode vocab = bpe.putObject("vocab");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < tokens.size(); id++) {
            String t = tokens.get(id).toString();
            int type = types == null ? 1 : ((Long) types.get(id)).intValue();
            if (type == CONTROL || type == USER_DEFINED) {
                added.addObject().put("id", id).put("content", t).put("special", type == CONTROL).put("normalized", false);
            }
            if (!vocab.has(t)) vocab.put(t, id);
        }
        ArrayNode merges = bpe.putArray("merges");
        if (g.get("tokenizer.ggml.merges") != null) for (Object m : list(g, "tokenizer.ggml.merges")) merges.add(m.toString());
        root.set("pre_tokenizer", split.json(false));
        root.putObject("decoder").put("type", "ByteLevel");
        ObjectNode config = f.objectNode();
        String bos = token(g, tokens, "tokenizer.ggml.bos_token_id"), eos = token(g, tokens, "tokenizer.ggml.eos_token_id");
        if (bos != null) config.put("bos_token", bos);
        if (eos != null) config.put("eos_token", eos);
        boolean addBos = g.get("tokenizer.ggml.add_bos_token") instanceof Boolean b ? b : split == BpeTrainer.PreTokenization.NEMOTRON;
        if (addBos && bos != null) {
            ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
            post.putArray("single").add(special(f, bos)).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            post.putArray("pair").add(special(f, bos)).add(f.objectNode().set("Sequence", f.objectNode().put("id", "A").put("type_id", 0)))
                    .add(f.objectNode().set("Sequence", f.objectNode().put("id", "B").put("type_id", 1)));
            ObjectNode entry = post.putObject("special_tokens").putObject(bos).put("id", bos);
            entry.putArray("ids").add(((Long) g.get("tokenizer.ggml.bos_token_id")).intValue());
            entry.putArray("tokens").add(bos);
        }
        if (g.get("tokenizer.chat_template") instanceof String tpl) config.put("chat_template", tpl);
        return Tokenizer.fromJson(root.toString(), config.toString(), source);
    }

    private static ObjectNode special(JsonNodeFactory f, String token) {
        ObjectNode n = f.objectNode();
        n.putObject("SpecialToken").put("id", token).put("type_id", 0);
        return n;
    }

    private static List<?> list(GgufFile g, String key) {
        return g.require(key, List.class);
    }

    /** The token string of an id key, or null when the key is absent. */
    private static String token(GgufFile g, List<?> tokens, String key) {
        Object id = g.get(key);
        if (!(id instanceof Long l)) return null;
        if (l < 0 || l >= tokens.size()) throw new TokenizerException(g.path() + ": " + key + " " + l + " is outside the vocabulary");
        return tokens.get(l.intValue()).toString();
    }
}
