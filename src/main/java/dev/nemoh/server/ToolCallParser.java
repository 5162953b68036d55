package dev.nemoh.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds tool calls in generated text, piece by piece as a stream shows it, in the two formats Nemotron models write:
 * Nano v2's {@code <TOOLCALL>[{"name": ..., "arguments": {...}}]</TOOLCALL>} and Nemotron 3 Nano's Qwen3-Coder XML
 * {@code <tool_call><function=NAME><parameter=P>value</parameter></function></tool_call>}. Text outside the tags
 * passes through as soon as it cannot be the start of a tag; a block that does not parse, or that calls a function
 * the request did not offer, passes through as text, tags included.
 */
final class ToolCallParser {
    /** What the parser hands on: text, or one complete call. */
    sealed interface Piece permits Text, Call {}

    record Text(String text) implements Piece {}

    /** @param arguments the call's arguments as a JSON object's text */
    record Call(String name, String arguments) implements Piece {}

    private enum Format {
        NANO_V2("<TOOLCALL>", "</TOOLCALL>"), QWEN3_CODER_XML("<tool_call>", "</tool_call>");

        final String open, close;

        Format(String open, String close) {
            this.open = open;
            this.close = close;
        }
    }

    private static final Pattern FUNCTION = Pattern.compile("<function=([^>\\n]+)>(.*?)</function>", Pattern.DOTALL);
    private static final Pattern PARAMETER = Pattern.compile("<parameter=([^>\\n]+)>(.*?)</parameter>", Pattern.DOTALL);

    /** One JSON value and nothing after it. */
    private static final ObjectReader STRICT = Json.MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** For each offered function, its parameters' JSON Schema types (absent when the schema gives none). */
    private final Map<String, Map<String, String>> functions = new HashMap<>();
    private final StringBuilder pending = new StringBuilder();
    /** The block being read, or null outside one. */
    private Format inside;

    /** @param tools the request's {@code tools}, already checked to be function tools with names */
    ToolCallParser(JsonNode tools) {
        for (JsonNode tool : tools) {
            JsonNode fn = tool.get("function");
            Map<String, String> types = new HashMap<>();
            fn.path("parameters").path("properties").properties()
                    .forEach(p -> types.put(p.getKey(), p.getValue().path("type").asText(null)));
            functions.put(fn.get("name").asText(), types);
        }
    }

    /** Text and calls in {@code text} as a whole. */
    List<Piece> parse(String text) {
        List<Piece> out = new ArrayList<>(push(text));
        for (Piece p : flush()) {
            if (p instanceof Text(String t)) text(out, t);
            else out.add(p);
        }
        return out;
    }

    /** What {@code piece} settles: text that cannot start a tag, and calls whose block closed. */
    List<Piece> push(String piece) {
        pending.append(piece);
        List<Piece> out = new ArrayList<>();
        while (true) {
            if (inside == null) {
                int at = -1;
                for (Format f : Format.values()) {
                    int i = pending.indexOf(f.open);
                    if (i >= 0 && (at < 0 || i < at)) {
                        at = i;
                        inside = f;
                    }
                }
                if (at < 0) {
                    int keep = partialOpening();
                    text(out, pending.substring(0, pending.length() - keep));
                    pending.delete(0, pending.length() - keep);
                    return out;
                }
                text(out, pending.substring(0, at));
                pending.delete(0, at + inside.open.length());
            }
            int close = pending.indexOf(inside.close);
            if (close < 0) return out;
            block(out, pending.substring(0, close), true);
            pending.delete(0, close + inside.close.length());
            inside = null;
        }
    }

    /**
     * The held-back rest at the end of the text: a block cut off before its closing tag still counts when what it
     * holds parses (the model may stop right before the tag), else it is text.
     */
    List<Piece> flush() {
        List<Piece> out = new ArrayList<>();
        if (inside != null) block(out, pending.toString(), false);
        else text(out, pending.toString());
        pending.setLength(0);
        inside = null;
        return out;
    }

    private void block(List<Piece> out, String body, boolean closed) {
        List<Call> calls = inside == Format.NANO_V2 ? nanoV2(body) : qwen3CoderXml(body);
        if (calls != null) out.addAll(calls);
        else text(out, inside.open + body + (closed ? inside.close : ""));
    }

    private static void text(List<Piece> out, String s) {
        if (s.isEmpty()) return;
        if (!out.isEmpty() && out.getLast() instanceof Text(String before)) out.set(out.size() - 1, new Text(before + s));
        else out.add(new Text(s));
    }

    /** Length of the longest tail of the pending text that is a proper prefix of an opening tag. */
    private int partialOpening() {
        int best = 0;
        for (Format f : Format.values()) {
            for (int n = Math.min(f.open.length() - 1, pending.length()); n > best; n--) {
                if (f.open.startsWith(pending.substring(pending.length() - n))) {
                    best = n;
                    break;
                }
            }
        }
        return best;
    }

    /** {@code [{"name": ..., "arguments": {...}}, ...]} (a lone object too); null if it is not that. */
    private List<Call> nanoV2(String body) {
        JsonNode list;
        try {
            list = STRICT.readTree(body);
        } catch (JsonProcessingException e) {
            return null;
        }
        if (list == null || list.isMissingNode()) return null;
        if (list.isObject()) list = Json.MAPPER.createArrayNode().add(list);
        if (!list.isArray() || list.isEmpty()) return null;
        List<Call> calls = new ArrayList<>();
        for (JsonNode c : list) {
            JsonNode name = c.get("name"), args = c.get("arguments");
            if (name == null || !name.isTextual() || !functions.containsKey(name.asText())) return null;
            if (args == null || args.isNull()) args = Json.object();
            if (args.isTextual()) {
                try {
                    args = STRICT.readTree(args.asText());
                } catch (JsonProcessingException e) {
                    return null;
                }
            }
            if (args == null || !args.isObject()) return null;
            calls.add(new Call(name.asText(), new String(Json.bytes(args), StandardCharsets.UTF_8)));
        }
        return calls;
    }

    /**
     * {@code <function=NAME><parameter=P>value</parameter>...</function>}; each value is read as its schema type says
     * (a string stays text; a number, boolean, object or array is parsed as JSON), and without a type as JSON when it
     * is JSON, else as text. Null if there is no function, or text outside the functions.
     */
    private List<Call> qwen3CoderXml(String body) {
        List<Call> calls = new ArrayList<>();
        Matcher fn = FUNCTION.matcher(body);
        int end = 0;
        while (fn.find()) {
            if (!body.substring(end, fn.start()).isBlank()) return null;
            end = fn.end();
            String name = fn.group(1).strip();
            Map<String, String> types = functions.get(name);
            if (types == null) return null;
            ObjectNode args = Json.object();
            Matcher p = PARAMETER.matcher(fn.group(2));
            int pend = 0;
            while (p.find()) {
                if (!fn.group(2).substring(pend, p.start()).isBlank()) return null;
                pend = p.end();
                String param = p.group(1).strip();
                args.set(param, value(stripNewline(p.group(2)), types.get(param)));
            }
            if (!fn.group(2).substring(pend).isBlank()) return null;
            calls.add(new Call(name, new String(Json.bytes(args), StandardCharsets.UTF_8)));
        }
        if (calls.isEmpty() || !body.substring(end).isBlank()) return null;
        return calls;
    }

    /** The template writes each value between newlines: one on either side is layout, not value. */
    private static String stripNewline(String v) {
        if (v.startsWith("\n")) v = v.substring(1);
        if (v.endsWith("\n")) v = v.substring(0, v.length() - 1);
        return v;
    }

    private static JsonNode value(String text, String type) {
        if ("string".equals(type)) return Json.MAPPER.getNodeFactory().textNode(text);
        try {
            JsonNode v = STRICT.readTree(text);
            if (v != null && !v.isMissingNode()) return v;
        } catch (JsonProcessingException e) {
            // not JSON: the text itself
        }
        return Json.MAPPER.getNodeFactory().textNode(text);
    }
}
