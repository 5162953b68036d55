package dev.nemoh.server;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Hand-written model outputs in both formats, whole and split at every boundary as a stream could split them. */
class ToolCallParserTest {
    private static final String TOOLS = """
            [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer"}}}}},
             {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
                "query": {"type": "string"}, "filters": {"type": "object"}}}}}]""";

    private static ToolCallParser parser() {
        return new ToolCallParser(Json.parse(TOOLS.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    private static ToolCallParser.Text text(String s) {
        return new ToolCallParser.Text(s);
    }

    private static ToolCallParser.Call call(String name, String args) {
        return new ToolCallParser.Call(name, args);
    }

    /** Parses whole, then at every split into two pieces and one character at a time: all must agree. */
    private static void check(String output, List<ToolCallParser.Piece> expected) {
        assertEquals(expected, parser().parse(output), "whole");
        for (int i = 0; i <= output.length(); i++) {
            ToolCallParser p = parser();
            List<ToolCallParser.Piece> got = new ArrayList<>(p.push(output.substring(0, i)));
            got.addAll(p.push(output.substring(i)));
            got.addAll(p.flush());
            assertEquals(expected, merged(got), "split at " + i);
        }
        ToolCallParser p = parser();
        List<ToolCallParser.Piece> got = new ArrayList<>();
        for (char c : output.toCharArray()) got.addAll(p.push(String.valueOf(c)));
        got.addAll(p.flush());
        assertEquals(expected, merged(got), "one character at a time");
    }

    /** Adjacent text pieces joined: a stream may send one text in several deltas. */
    private static List<ToolCallParser.Piece> merged(List<ToolCallParser.Piece> pieces) {
        List<ToolCallParser.Piece> out = new ArrayList<>();
        for (ToolCallParser.Piece p : pieces) {
            if (p instanceof ToolCallParser.Text(String t) && !out.isEmpty() && out.getLast() instanceof ToolCallParser.Text(String before)) {
                out.set(out.size() - 1, text(before + t));
            } else {
                out.add(p);
            }
        }
        return out;
    }

    @Test
    void nanoV2CallsAfterText() {
        check("Let me look.\n<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}, "
                        + "{\"name\": \"search\", \"arguments\": {\"query\": \"a <b> c\"}}]</TOOLCALL>",
                List.of(text("Let me look.\n"), call("get_weather", "{\"city\":\"Paris\",\"days\":3}"),
                        call("search", "{\"query\":\"a <b> c\"}")));
    }

    @Test
    void nanoV2ArgumentsAsAStringAndTextAfter() {
        check("<TOOLCALL>[{\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"x\\\"}\"}]</TOOLCALL> done",
                List.of(call("search", "{\"query\":\"x\"}"), text(" done")));
    }

    @Test
    void qwen3CoderXmlCallsWithTypedValues() {
        check("""
                        I will check.
                        <tool_call>
                        <function=get_weather>
                        <parameter=city>
                        123
                        </parameter>
                        <parameter=days>
                        3
                        </parameter>
                        </function>
                        </tool_call>
                        <tool_call>
                        <function=search>
                        <parameter=query>
                        two
                        lines
                        </parameter>
                        <parameter=filters>
                        {"year": 2024}
                        </parameter>
                        </function>
                        </tool_call>""",
                List.of(text("I will check.\n"), call("get_weather", "{\"city\":\"123\",\"days\":3}"), text("\n"),
                        call("search", "{\"query\":\"two\\nlines\",\"filters\":{\"year\":2024}}")));
    }

    @Test
    void malformedBlocksComeBackAsText() {
        String badJson = "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": }]</TOOLCALL> after";
        check(badJson, List.of(text(badJson)));
        String unknown = "<TOOLCALL>[{\"name\": \"rm_rf\", \"arguments\": {}}]</TOOLCALL>";
        check(unknown, List.of(text(unknown)));
        String trailing = "<TOOLCALL>[{\"name\": \"search\", \"arguments\": {}}] junk</TOOLCALL>";
        check(trailing, List.of(text(trailing)));
        String xmlJunk = "<tool_call>\n<function=search>\nnot a parameter\n</function>\n</tool_call>";
        check(xmlJunk, List.of(text(xmlJunk)));
        String noFunction = "<tool_call>hello</tool_call>";
        check(noFunction, List.of(text(noFunction)));
    }

    @Test
    void unclosedBlockCountsOnlyWhenItParses() {
        check("<TOOLCALL>[{\"name\": \"search\", \"arguments\": {\"query\": \"q\"}}]",
                List.of(call("search", "{\"query\":\"q\"}")));
        check("<TOOLCALL>[{\"name\": \"search\", \"argum", List.of(text("<TOOLCALL>[{\"name\": \"search\", \"argum")));
        check("<tool_call>\n<function=search>\n<parameter=query>\nq\n</parameter>\n</function>\n",
                List.of(call("search", "{\"query\":\"q\"}")));
    }

    @Test
    void textThatOnlyLooksLikeATagPassesThrough() {
        check("a < b and <TOOL> and <tool_ and <TOOLCALL", List.of(text("a < b and <TOOL> and <tool_ and <TOOLCALL")));
        check("", List.of());
    }
}
