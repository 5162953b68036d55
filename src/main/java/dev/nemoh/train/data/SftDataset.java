package dev.nemoh.train.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.ChatTemplateException;
import dev.nemoh.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Supervised fine-tuning examples from a JSONL file, one JSON object a line, in either of two forms:
 * <ul>
 *   <li>{@code {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}}:
 *   rendered with the model's chat template, loss on the assistant messages only (see {@link AssistantMask});</li>
 *   <li>{@code {"input": "...", "output": "..."}}: the input tokenized with the tokenizer's special tokens (BOS),
 *   the output after it without, then EOS; loss on the output and EOS only. The two parts are tokenized apart, so
 *   the boundary is exact.</li>
 * </ul>
 * Examples longer than {@code maxLength} tokens are cut to it; one left with nothing to learn is dropped.
 */
public final class SftDataset {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The examples in file order, and how many were cut or dropped on the way. */
    public record Loaded(List<SftExample> examples, int truncated, int dropped) {}

    private final Path file;
    private final Tokenizer tokenizer;
    private final List<Integer> endOfTurnIds;
    private final int maxLength;
    private AssistantMask chat;

    private SftDataset(Path file, Tokenizer tokenizer, List<Integer> endOfTurnIds, int maxLength) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.endOfTurnIds = endOfTurnIds;
        this.maxLength = maxLength;
    }

    /**
     * Reads {@code file}. {@code endOfTurnIds} are the tokens that close an assistant turn (the model's EOS ids);
     * the tokenizer's EOS (or, without one, the first of them) ends input/output examples.
     */
    public static Loaded read(Path file, Tokenizer tokenizer, List<Integer> endOfTurnIds, int maxLength) {
        if (maxLength < 2) throw new IllegalArgumentException("--max-len must be at least 2, got " + maxLength);
        return new SftDataset(file, tokenizer, endOfTurnIds, maxLength).read();
    }

    private Loaded read() {
        List<SftExample> out = new ArrayList<>();
        int truncated = 0, dropped = 0, lineNo = 0;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                SftExample e = parse(line, lineNo);
                if (e.length() > maxLength) {
                    truncated++;
                    e = e.truncate(maxLength);
                }
                if (e.targets() == 0) {
                    dropped++;
                    continue;
                }
                out.add(e);
            }
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("training data " + file + " does not exist: pass a JSONL file");
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalArgumentException(file + ":" + (lineNo + 1) + ": not UTF-8 text: save the data as UTF-8");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no usable example (" + lineNo + " lines, " + dropped
                    + " with nothing to learn within --max-len " + maxLength + ")");
        }
        return new Loaded(List.copyOf(out), truncated, dropped);
    }

    private SftExample parse(String line, int lineNo) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw error(lineNo, "not valid JSON (" + e.getOriginalMessage() + "): each line must be one JSON object");
        }
        if (node == null || !node.isObject()) {
            throw error(lineNo, "expected a JSON object with \"messages\" or \"input\" and \"output\"");
        }
        boolean chatForm = node.has("messages");
        boolean pairForm = node.has("input") || node.has("output");
        if (chatForm && pairForm) {
            throw error(lineNo, "has both \"messages\" and \"input\"/\"output\": use one form per line");
        }
        if (chatForm) return messages(node.get("messages"), lineNo);
        if (pairForm) return inputOutput(node, lineNo);
        throw error(lineNo, "has neither \"messages\" nor \"input\" and \"output\" (keys: "
                + String.join(", ", (Iterable<String>) node::fieldNames) + ")");
    }

    private SftExample messages(JsonNode messages, int lineNo) {
        if (!messages.isArray() || messages.isEmpty()) {
            throw error(lineNo, "\"messages\" must be a non-empty array of {\"role\", \"content\"} objects");
        }
        boolean anyAssistant = false;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            if (!m.isObject() || !m.path("role").isTextual()) {
                throw error(lineNo, "message " + i + " needs a string \"role\" (system, user, assistant or tool)");
            }
            if (!m.path("content").isTextual() && !m.has("tool_calls")) {
                throw error(lineNo, "message " + i + " (" + m.get("role").asText() + ") needs a string \"content\"");
            }
            anyAssistant |= m.get("role").asText().equals("assistant");
        }
        if (!anyAssistant) throw error(lineNo, "no assistant message: there is nothing to learn from this line");
        List<Map<String, Object>> list = JSON.convertValue(messages, new TypeReference<>() {});
        try {
            if (chat == null) chat = new AssistantMask(ChatTemplate.of(tokenizer), tokenizer, endOfTurnIds);
            return chat.tokenize(list);
        } catch (ChatTemplateException e) {
            throw error(lineNo, "the chat template refused this conversation: " + e.getMessage());
        }
    }

    private SftExample inputOutput(JsonNode node, int lineNo) {
        if (!node.path("input").isTextual() || !node.path("output").isTextual()) {
            throw error(lineNo, "\"input\" and \"output\" must both be strings");
        }
        if (node.get("output").asText().isEmpty()) throw error(lineNo, "\"output\" is empty: nothing to learn");
        int eos = tokenizer.eosId() >= 0 || endOfTurnIds.isEmpty() ? tokenizer.eosId() : endOfTurnIds.getFirst();
        if (eos < 0) {
            throw new IllegalArgumentException(tokenizer.source() + " names no EOS token to end outputs with: set"
                    + " eos_token in tokenizer_config.json");
        }
        int[] input = tokenizer.encode(node.get("input").asText(), true);
        int[] output = tokenizer.encode(node.get("output").asText(), false);
        int[] ids = Arrays.copyOf(input, input.length + output.length + 1);
        System.arraycopy(output, 0, ids, input.length, output.length);
        ids[ids.length - 1] = eos;
        int[] labels = ids.clone();
        Arrays.fill(labels, 0, input.length, SftExample.IGNORE);
        return new SftExample(ids, labels);
    }

    private IllegalArgumentException error(int lineNo, String message) {
        return new IllegalArgumentException(file + ":" + lineNo + ": " + message);
    }
}
