package dev.nemoh.chat;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Prepares Jinja2 source for jinjava. jinjava's scanner ends a tag at the first "}}" or "%}" even inside a quoted
 * string, and its string literals know only the escapes \\ \' \"; Jinja2 reads string literals with Python's
 * escapes (\n, \t, \u00e9, ...) and lets them hold delimiters (Nano v2's template has '{{"name": ...}}' in one).
 * So each string literal inside a tag that holds a backslash or a delimiter is replaced by a variable bound to the
 * value Jinja2 would read, and the closing braces of nested dict literals are kept apart ("} }"), as Jinja2's lexer
 * balances braces where jinjava's does not. Everything else is left as it is.
 */
final class TemplateSource {
    private TemplateSource() {
    }

    static final String PREFIX = "__nemoh_lit_";
    /** Real templates nest brackets a few deep; jinjava's parser slows down steeply past a few hundred. */
    static final int MAX_NESTING = 64;

    record Rewritten(String source, Map<String, Object> literals) {
    }

    static Rewritten rewrite(String src) {
        StringBuilder out = new StringBuilder(src.length());
        Map<String, Object> lits = new LinkedHashMap<>();
        int n = src.length();
        int i = 0;
        while (i < n) {
            int open = nextOpen(src, i);
            if (open < 0) {
                out.append(src, i, n);
                break;
            }
            out.append(src, i, open);
            char kind = src.charAt(open + 1);
            if (kind == '#') {
                int close = src.indexOf("#}", open + 2);
                int end = close < 0 ? n : close + 2;
                out.append(src, open, end);
                i = end;
                continue;
            }
            // a tag: copy it, rewriting string literals, until its closing delimiter outside strings
            String closeDelim = kind == '{' ? "}}" : "%}";
            int j = open + 2;
            StringBuilder tag = new StringBuilder();
            tag.append(src, open, j);
            boolean closed = false;
            int depth = 0; // braces of dict literals inside the tag
            int nesting = 0; // brackets of all kinds inside the tag
            while (j < n) {
                char c = src.charAt(j);
                if (c == '\'' || c == '"') {
                    int k = j + 1;
                    while (k < n && src.charAt(k) != c) {
                        if (src.charAt(k) == '\\') k++;
                        k++;
                    }
                    if (k >= n) {
                        tag.append(src, j, n);
                        j = n;
                        break;
                    }
                    String raw = src.substring(j + 1, k);
                    if (needsRewrite(raw)) {
                        String name = PREFIX + lits.size();
                        lits.put(name, unescape(raw));
                        tag.append(' ').append(name).append(' ');
                    } else {
                        tag.append(src, j, k + 1);
                    }
                    j = k + 1;
                    continue;
                }
                if (depth == 0 && src.startsWith(closeDelim, j)) {
                    tag.append(closeDelim);
                    j += 2;
                    closed = true;
                    break;
                }
                if (c == '(' || c == '[' || c == '{') {
                    if (++nesting > MAX_NESTING) {
                        throw new ChatTemplateException("the chat template nests brackets more than " + MAX_NESTING
                                + " deep in one expression (near character " + j + "); jinjava's parser takes time"
                                + " that grows steeply with the depth");
                    }
                } else if ((c == ')' || c == ']' || c == '}') && nesting > 0) {
                    nesting--;
                }
                if (c == '{') {
                    depth++;
                } else if (c == '}' && depth > 0) {
                    // a dict literal's closing brace: keep "}}" from reading as the end of the tag
                    depth--;
                    if (tag.charAt(tag.length() - 1) == '}') tag.append(' ');
                }
                tag.append(c);
                j++;
            }
            out.append(tag);
            i = j;
            if (closed && kind == '%' && isTag(tag, "raw")) {
                // copy a raw block verbatim up to its endraw tag
                int end = findEndRaw(src, i);
                out.append(src, i, end);
                i = end;
            }
        }
        return new Rewritten(out.toString(), lits);
    }

    private static int nextOpen(String s, int from) {
        for (int i = from; i + 1 < s.length(); i++) {
            if (s.charAt(i) == '{') {
                char d = s.charAt(i + 1);
                if (d == '{' || d == '%' || d == '#') return i;
            }
        }
        return -1;
    }

    private static boolean isTag(CharSequence tag, String name) {
        String t = tag.toString();
        t = t.substring(2, t.length() - 2).replace("-", "").replace("+", "").trim();
        return t.equals(name);
    }

    private static int findEndRaw(String s, int from) {
        int i = from;
        while (true) {
            int open = s.indexOf("{%", i);
            if (open < 0) return s.length();
            int close = s.indexOf("%}", open + 2);
            if (close < 0) return s.length();
            String inner = s.substring(open + 2, close).replace("-", "").replace("+", "").trim();
            if (inner.equals("endraw")) return open;
            i = close + 2;
        }
    }

    private static boolean needsRewrite(String raw) {
        return raw.indexOf('\\') >= 0 || raw.contains("{{") || raw.contains("}}") || raw.contains("{%")
                || raw.contains("%}") || raw.contains("{#") || raw.contains("#}");
    }

    /** Python's unicode-escape decoding, as Jinja2 reads string literals. */
    static String unescape(String raw) {
        raw = raw.replace("\r\n", "\n");
        StringBuilder sb = new StringBuilder(raw.length());
        int n = raw.length();
        for (int i = 0; i < n; i++) {
            char c = raw.charAt(i);
            if (c != '\\' || i + 1 >= n) {
                sb.append(c);
                continue;
            }
            char d = raw.charAt(++i);
            switch (d) {
                case '\n' -> {
                }
                case '\\' -> sb.append('\\');
                case '\'' -> sb.append('\'');
                case '"' -> sb.append('"');
                case 'a' -> sb.append('\u0007');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'v' -> sb.append('\u000B');
                case 'x', 'u', 'U' -> {
                    int len = d == 'x' ? 2 : d == 'u' ? 4 : 8;
                    if (hex(raw, i + 1, len)) {
                        sb.appendCodePoint(Integer.parseInt(raw.substring(i + 1, i + 1 + len), 16));
                        i += len;
                    } else {
                        sb.append('\\').append(d);
                    }
                }
                default -> {
                    if (d >= '0' && d <= '7') {
                        int v = d - '0';
                        int k = 1;
                        while (k < 3 && i + 1 < n && raw.charAt(i + 1) >= '0' && raw.charAt(i + 1) <= '7') {
                            v = v * 8 + (raw.charAt(++i) - '0');
                            k++;
                        }
                        sb.append((char) v);
                    } else {
                        sb.append('\\').append(d);
                    }
                }
            }
        }
        return sb.toString();
    }

    private static boolean hex(String s, int from, int len) {
        if (from + len > s.length()) return false;
        for (int i = from; i < from + len; i++) if (Character.digit(s.charAt(i), 16) < 0) return false;
        return true;
    }
}
