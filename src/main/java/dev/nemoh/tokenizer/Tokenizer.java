package dev.nemoh.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.io.GgufFile;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer that encodes and decodes exactly as the `tokenizers` library does,
 * for the byte-level BPE of Nemotron-H / Nemotron Nano v2 (a Split regex, then ByteLevel without its own regex;
 * ByteLevel decoder; hundreds of added special tokens) and the other BPE layouts listed in the README.
 *
 * <p>Encoding: added tokens are cut out first (normalized=false ones on the raw text, the others after the
 * normalizer), the remaining pieces are normalized, pre-tokenized into words, each word is merged by the BPE model,
 * and the post-processor adds BOS (or other template tokens) when {@code addSpecialTokens} is true. Decoding maps ids
 * to token strings (dropping unknown ids, and special tokens on request) and runs the decoder chain.
 *
 * <p>An optional {@code tokenizer_config.json} beside it supplies bos_token, eos_token, pad_token, unk_token and
 * chat_template ({@code chat_template.jinja}, as transformers 5 saves it, takes precedence).
 *
 * <p>Instances are immutable and safe to share between threads.
 */
public final class Tokenizer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final Bpe model;
    private final PostProcessor postProcessor;
    private final Decoder decoder;
    /** Whether the decoder maps byte-level characters back to bytes (GPT-2's ByteLevel, alone or in a Sequence). */
    private final boolean byteLevelDecoder;
    private final AddedVocabulary added = new AddedVocabulary();
    private final Set<String> specialContents = new HashSet<>();
    /** The string an added token decodes to: its content, normalized when the token is normalized. */
    private final Map<Integer, String> addedStrings = new java.util.HashMap<>();
    private final int vocabSize;
    private final Map<String, String> specialTokens = new LinkedHashMap<>();
    private final String chatTemplate;

    private Tokenizer(JsonNode root, JsonNode config, String chatTemplateFile, String source) {
        this.source = source;
        JsonNode modelNode = root.get("model");
        if (modelNode == null || !modelNode.isObject()) {
            throw new TokenizerException(source + " has no \"model\" section: it is not a Hugging Face tokenizer.json"
                    + " (expected the file that transformers' save_pretrained writes as tokenizer.json)");
        }
        model = new Bpe(modelNode, source);
        normalizer = Normalizer.parse(root.get("normalizer"), source + " normalizer");
        preTokenizer = PreTokenizer.parse(root.get("pre_tokenizer"), source + " pre_tokenizer");
        postProcessor = PostProcessor.parse(root.get("post_processor"), source + " post_processor");
        decoder = Decoder.parse(root.get("decoder"), source + " decoder");
        byteLevelDecoder = root.path("decoder").path("type").asText("").equals("ByteLevel")
                || root.path("decoder").path("decoders").findValuesAsText("type").contains("ByteLevel");

        int max = model.vocabR.length - 1;
        JsonNode at = root.get("added_tokens");
        if (at != null && at.isArray()) {
            for (JsonNode t : at) {
                String w = source + " added_tokens";
                int id = Json.id(Json.require(t, "id", w), w);
                String content = Json.requireStr(t, "content", w);
                boolean special = Json.bool(t, "special", false);
                AddedVocabulary.Token tok = new AddedVocabulary.Token(id, content, special,
                        Json.bool(t, "normalized", !special), Json.bool(t, "lstrip", false),
                        Json.bool(t, "rstrip", false), Json.bool(t, "single_word", false));
                added.add(tok);
                addedStrings.put(id, tok.normalized() && normalizer != null ? normalizer.normalize(content) : content);
                if (special) specialContents.add(content);
                max = Math.max(max, id);
            }
        }
        added.build(normalizer);
        // the ids the post-processor adds (BOS...) are ids the model's embeddings must cover too
        if (postProcessor != null) for (int id : postProcessor.process(new int[0], true)) max = Math.max(max, id);
        vocabSize = max + 1;

        if (config != null) {
            for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
                String v = tokenString(config.get(key));
                if (v != null) specialTokens.put(key, v);
            }
        } else {
            if (id("<s>") >= 0) specialTokens.put("bos_token", "<s>");
            if (id("</s>") >= 0) specialTokens.put("eos_token", "</s>");
        }
        String tpl = chatTemplateFile;
        if (tpl == null && config != null) tpl = chatTemplate(config.get("chat_template"), source);
        chatTemplate = tpl;
    }

    /** A special-token entry of tokenizer_config.json: a string or {"content": ...}. */
    private static String tokenString(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.has("content")) return n.get("content").asText();
        return null;
    }

    /** chat_template: a string, or a list of {name, template} of which "default" is taken. */
    private static String chatTemplate(JsonNode n, String source) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isArray()) {
            for (JsonNode t : n) {
                if ("default".equals(Json.str(t, "name"))) return Json.str(t, "template");
            }
            if (!n.isEmpty()) return Json.str(n.get(0), "template");
        }
        throw new TokenizerException(source + ": chat_template must be a string or a list of {name, template}");
    }

    // ------------------------------------------------------------------ loading

    /**
     * Loads a tokenizer from a model directory (tokenizer.json, optional tokenizer_config.json and
     * chat_template.jinja), from a tokenizer.json file (its directory's config files are read too), or from a GGUF
     * file's metadata ({@link GgufTokenizer}).
     */
    public static Tokenizer load(Path path) {
        Objects.requireNonNull(path, "path");
        if (!Files.exists(path) && path.toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf")) {
            throw new TokenizerException("no such file: " + path);
        }
        if (!Files.exists(path)) {
            throw new TokenizerException(path + " does not exist: give a Hugging Face model directory that holds"
                    + " tokenizer.json, or the tokenizer.json file itself");
        }
        if (path.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf") && Files.isRegularFile(path)) {
            try (GgufFile g = GgufFile.open(path)) {
                return GgufTokenizer.read(g);
            }
        }
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        Path dir = file.toAbsolutePath().getParent();
        if (!Files.isRegularFile(file)) {
            String hint = Files.exists(path.resolve("tokenizer.model"))
                    ? " (it has tokenizer.model, a SentencePiece file, which nemoh does not read: convert it with"
                    + " transformers' AutoTokenizer.from_pretrained(dir).save_pretrained(dir) to get tokenizer.json)"
                    : " (copy tokenizer.json from the model's Hugging Face repository into it)";
            throw new TokenizerException("no tokenizer.json in " + path + hint);
        }
        JsonNode root = readJson(file);
        JsonNode config = null;
        Path cfg = dir == null ? null : dir.resolve("tokenizer_config.json");
        if (cfg != null && Files.isRegularFile(cfg)) config = readJson(cfg);
        String tpl = null;
        Path jinja = dir == null ? null : dir.resolve("chat_template.jinja");
        if (jinja != null && Files.isRegularFile(jinja)) {
            try {
                tpl = Files.readString(jinja, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new TokenizerException("cannot read " + jinja + ": " + e.getMessage(), e);
            }
        }
        return new Tokenizer(root, config, tpl, file.toString());
    }

    /** Builds a tokenizer from the text of a tokenizer.json (and optionally of a tokenizer_config.json). */
    public static Tokenizer fromJson(String tokenizerJson, String tokenizerConfigJson, String sourceName) {
        JsonNode root = parse(tokenizerJson, sourceName);
        JsonNode config = tokenizerConfigJson == null ? null : parse(tokenizerConfigJson, sourceName + " (config)");
        return new Tokenizer(root, config, null, sourceName);
    }

    private static JsonNode readJson(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new TokenizerException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    private static JsonNode parse(String text, String source) {
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject()) {
                throw new TokenizerException(source + " is not a JSON object; re-download it from the model's repository");
            }
            return n;
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw new TokenizerException(source + " is not valid JSON" + where + ": " + e.getOriginalMessage()
                    + "; re-download it from the model's repository", e);
        }
    }

    // ------------------------------------------------------------------ encoding

    /** The ids of {@code text}; with {@code addSpecialTokens} the post-processor's tokens (BOS) are added. */
    public int[] encode(String text, boolean addSpecialTokens) {
        Objects.requireNonNull(text, "text");
        List<Piece> pieces = added.extract(text, normalizer);
        IntList ids = new IntList(text.length() / 3 + 4);
        List<Piece> one = new ArrayList<>(1);
        for (Piece p : pieces) {
            if (p.addedId() >= 0) {
                ids.add(p.addedId());
                continue;
            }
            if (preTokenizer == null) {
                model.tokenize(p.text(), ids);
                continue;
            }
            one.clear();
            one.add(p);
            for (Piece w : preTokenizer.apply(one)) model.tokenize(w.text(), ids);
        }
        int[] out = ids.toArray();
        return postProcessor == null ? out : postProcessor.process(out, addSpecialTokens);
    }

    /** The words the model sees for {@code text} (after added-token extraction, normalization, pre-tokenization). */
    List<String> preTokenize(String text) {
        List<String> out = new ArrayList<>();
        for (Piece p : added.extract(text, normalizer)) {
            if (p.addedId() >= 0) {
                out.add(p.text());
            } else if (preTokenizer == null) {
                out.add(p.text());
            } else {
                for (Piece w : preTokenizer.apply(List.of(p))) out.add(w.text());
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ decoding

    /** The text of {@code ids}; ids outside the vocabulary are dropped, special tokens too on request. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            String t = token(ids[i]);
            if (t == null) continue;
            if (skipSpecialTokens && specialContents.contains(t)) continue;
            tokens.add(t);
        }
        if (decoder == null) return String.join(" ", tokens);
        return String.join("", decoder.decodeChain(tokens));
    }

    /** A decoder for a stream of generated ids that never emits a broken UTF-8 sequence. */
    public StreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(skipSpecialTokens);
    }

    /**
     * Incremental decoding, as the `tokenizers` library's DecodeStream: each {@link #push} decodes the ids since the
     * last emitted text (plus the token before, for context) and returns the new text, or "" while the text ends in
     * an incomplete UTF-8 sequence (U+FFFD). The concatenation of every push and a final {@link #flush} equals
     * {@link #decode} of all ids for byte-level tokenizers.
     */
    public final class StreamDecoder {
        private static final int MAX_PENDING = 16;

        private final boolean skip;
        private int[] ids = new int[16];
        private int n;
        private String prefix = "";
        private int prefixIndex;

        private StreamDecoder(boolean skip) {
            this.skip = skip;
        }

        /** Adds {@code id}; returns the text it completes, possibly "". */
        public String push(int id) {
            if (n == ids.length) ids = java.util.Arrays.copyOf(ids, n * 2);
            ids[n++] = id;
            String s = decode(ids, 0, n, skip);
            if (s.length() > prefix.length() && !s.endsWith("\uFFFD") && s.startsWith(prefix)) return emit(n, s);
            if (n - prefixIndex > MAX_PENDING) {
                // Still ending in U+FFFD after this many tokens, the text holds a real one (a replacement character in
                // it, an invalid byte), not only a character in progress. Let out the longest head that ends on a
                // character boundary, or each push would decode an ever longer window. At a boundary the head's text
                // and the rest's, decoded apart, make the window's; inside a character they make U+FFFDs instead.
                for (int m = n - 1; m > prefixIndex; m--) {
                    String head = decode(ids, 0, m, skip);
                    if (head.length() > prefix.length() && head.startsWith(prefix)
                            && s.length() >= head.length() && s.startsWith(head)
                            && s.substring(head.length()).equals(decode(ids, m, n, skip))) {
                        return emit(m, head);
                    }
                }
                return flush(); // the decoder rewrites the window's start: give up on the context
            }
            return "";
        }

        /** Emits the text of the ids before {@code m}, which decode to {@code s}; they become the next context. */
        private String emit(int m, String s) {
            String text = s.substring(prefix.length());
            int newPrefixIndex = m - prefixIndex;
            System.arraycopy(ids, prefixIndex, ids, 0, n - prefixIndex);
            n -= prefixIndex;
            prefix = decode(ids, 0, newPrefixIndex, skip);
            prefixIndex = newPrefixIndex;
            return text;
        }

        /** The text held back so far (an incomplete UTF-8 sequence decodes to U+FFFD); resets the stream. */
        public String flush() {
            String s = decode(ids, 0, n, skip);
            String text = s.startsWith(prefix) ? s.substring(prefix.length()) : "";
            n = 0;
            prefix = "";
            prefixIndex = 0;
            return text;
        }
    }

    // ------------------------------------------------------------------ vocabulary

    /** The token string of {@code id}, or null when no token has that id. */
    public String token(int id) {
        String t = addedStrings.get(id);
        return t != null ? t : model.idToToken(id);
    }

    /**
     * The bytes token {@code id} adds to decoded text, which may be part of a UTF-8 character (a byte-level token);
     * null when no token has that id, or when it decodes to a broken character under a decoder that is not
     * byte-level.
     */
    public byte[] tokenBytes(int id) {
        String t = token(id);
        if (t == null) return null;
        if (byteLevelDecoder && !isAdded(id)) {
            ByteLevel.ByteSink sink = new ByteLevel.ByteSink();
            ByteLevel.appendBytes(t, sink);
            return java.util.Arrays.copyOf(sink.buf, sink.len);
        }
        String text = decode(new int[] {id}, false);
        return text.contains("\uFFFD") ? null : text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The id of token string {@code token}, or -1. */
    public int id(String token) {
        AddedVocabulary.Token t = added.byContent.get(token);
        if (t != null) return t.id();
        Integer id = model.vocab.get(token);
        return id == null ? -1 : id;
    }

    /** One more than the largest id (the model's embedding rows must cover it). */
    public int vocabSize() {
        return vocabSize;
    }

    /** Whether {@code id} is an added token marked special (skipped by decode with skipSpecialTokens). */
    public boolean isSpecial(int id) {
        AddedVocabulary.Token t = added.byId.get(id);
        return t != null && t.special();
    }

    /** Whether {@code id} is an added token (special or not), such as {@code <think>}. */
    public boolean isAdded(int id) {
        return added.byId.containsKey(id);
    }

    public String bosToken() {
        return specialTokens.get("bos_token");
    }

    public String eosToken() {
        return specialTokens.get("eos_token");
    }

    /** The id of the BOS token, or -1 when none is configured. */
    public int bosId() {
        String t = bosToken();
        return t == null ? -1 : id(t);
    }

    /** The id of the EOS token, or -1 when none is configured. */
    public int eosId() {
        String t = eosToken();
        return t == null ? -1 : id(t);
    }

    /** bos_token, eos_token, unk_token and pad_token as configured (the chat template sees them by these names). */
    public Map<String, String> specialTokens() {
        return java.util.Collections.unmodifiableMap(specialTokens);
    }

    /** The Jinja chat template of tokenizer_config.json / chat_template.jinja, or null. */
    public String chatTemplate() {
        return chatTemplate;
    }

    /** The file this tokenizer was read from. */
    public String source() {
        return source;
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + vocabSize + " tokens, " + added.byContent.size() + " added]";
    }
}
