package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

/** Small helpers to read tokenizer.json fields with errors that name the file and the field. */
final class Json {
    private Json() {
    }

    static String type(JsonNode node, String where) {
        JsonNode t = node.get("type");
        if (t == null || !t.isTextual()) throw new TokenizerException(where + " has no \"type\" field: " + shorten(node));
        return t.asText();
    }

    static boolean bool(JsonNode node, String field, boolean dflt) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? dflt : v.asBoolean();
    }

    static int integer(JsonNode node, String field, int dflt) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? dflt : v.asInt();
    }

    /** A string field, or null when absent or null. */
    static String str(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    static String requireStr(JsonNode node, String field, String where) {
        String s = str(node, field);
        if (s == null) throw new TokenizerException(where + " needs a \"" + field + "\" field: " + shorten(node));
        return s;
    }

    static JsonNode require(JsonNode node, String field, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) throw new TokenizerException(where + " needs a \"" + field + "\" field: " + shorten(node));
        return v;
    }

    /** Ids beyond this are no real vocabulary's (the largest have about 2^18 tokens); arrays are sized by the largest id. */
    static final int MAX_ID = (1 << 24) - 1;

    /** A token id: an integer from 0 to {@link #MAX_ID}. */
    static int id(JsonNode v, String where) {
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0 || v.intValue() > MAX_ID) {
            throw new TokenizerException(where + ": " + (v == null ? "nothing" : shorten(v))
                    + " is not a token id (an integer from 0 to " + MAX_ID + ")");
        }
        return v.intValue();
    }

    static String shorten(JsonNode node) {
        String s = node.toString();
        return s.length() > 200 ? s.substring(0, 197) + "..." : s;
    }

    static TokenizerException unsupported(String what, String type, String where, String supported) {
        return new TokenizerException(where + ": " + what + " type \"" + type + "\" is not supported by nemoh (supported: "
                + supported + ")");
    }
}
