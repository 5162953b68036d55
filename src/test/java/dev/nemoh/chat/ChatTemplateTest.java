package dev.nemoh.chat;

import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Python/Jinja2 behaviour that chat templates rely on, beyond the reference conversations. */
class ChatTemplateTest {
    static String render(String tpl) {
        return new ChatTemplate(tpl, Map.of("bos_token", "<s>")).render(List.of(), false);
    }

    @Test
    void pythonStringMethods() {
        assertEquals("a b", render("{{ '\\u00a0 a b\\x85 '.strip() }}"));
        assertEquals("['a', 'b', '']", render("{{ 'a</think>b</think>'.split('</think>') }}"));
        assertEquals("", render("{{ 'x</think>'.split('</think>')[1] }}"));
        assertEquals("['a', 'b']", render("{{ ' a  b '.split() }}"));
        assertEquals("True|False", render("{{ 'abc'.startswith(('x', 'a')) | string | capitalize }}|"
                + "{{ 'abc'.endswith('x') | string | capitalize }}"));
        assertEquals("xxc", render("{{ 'abc'.replace('a', 'x').replace('b', 'x') }}"));
        assertEquals("Hello World", render("{{ 'hello world'.title() }}"));
        assertEquals("a-b", render("{{ '-'.join(['a', 'b']) }}"));
        assertEquals("7", render("{{ 1 + 2 * 3 }}"));
    }

    @Test
    void stringLiteralsWithDelimitersAndEscapes() {
        assertEquals("{{x}} %} é\tz\n", render("{{- '{{x}} %} \\u00e9\\tz\\n' -}}"));
        assertEquals("{\"a\": 1}", render("{{ '{\"a\": ' + '1}' }}"));
    }

    @Test
    void trimAndLstripBlocksAsTransformersSetsThem() {
        assertEquals("  x\ny", render("  {% if true %}\n  x\n  {% endif %}\ny"));
        assertEquals("<s>", render("{{ bos_token }}\n"));
    }

    @Test
    void tojsonIsPythonsJsonDumps() {
        assertEquals("{\"a\": [1, 2.5, null, true, \"é\\n\"], \"b\": {}}",
                render("{{ {'a': [1, 2.5, none, true, 'é\\n'], 'b': {}} | tojson }}"));
        assertEquals("{\n  \"a\": 1\n}", render("{{ {'a': 1} | tojson(indent=2) }}"));
        assertEquals("1e-05", PyJson.floatRepr(1e-5));
        assertEquals("1e+16", PyJson.floatRepr(1e16));
        assertEquals("123.0", PyJson.floatRepr(123));
        assertEquals("0.1", PyJson.floatRepr(0.1));
    }

    @Test
    void raiseExceptionAndSyntaxErrorsBecomeChatTemplateExceptions() {
        var e = assertThrows(ChatTemplateException.class, () -> render("{{ raise_exception('no system role') }}"));
        assertEquals("no system role", e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> render("{% if %}x"));
        assertTrue(e.getMessage().startsWith("chat template error"), e.getMessage());
    }

    @Test
    void strftime() {
        var t = ZonedDateTime.of(2025, 8, 18, 14, 5, 9, 0, ZoneOffset.UTC);
        assertEquals("18 Aug 2025 14:05:09 Monday", ChatTemplate.strftime(t, "%d %b %Y %H:%M:%S %A"));
    }

    @Test
    void continueFinalMessageAndGenerationPromptExcludeEachOther() {
        ChatTemplate tpl = new ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}", Map.of());
        var opt = ChatTemplate.Options.generationPrompt(true).withContinueFinalMessage(true);
        assertThrows(ChatTemplateException.class, () -> tpl.render(ChatTemplate.messages("user", "x"), opt));
    }

    @Test
    void missingTemplateIsExplained() {
        Tokenizer tok = Tokenizer.load(Path.of("src/test/resources/tokenizer/variants/llama3.json"));
        var e = assertThrows(ChatTemplateException.class, () -> ChatTemplate.of(tok));
        assertTrue(e.getMessage().contains("comes without a chat template"), e.getMessage());
    }

    // ---- found by ChatTemplateFuzzTest (inputs in src/test/resources/dev/nemoh/chat/ChatTemplateFuzzTestInputs)

    @Test
    void fuzzBracketsNestedThousandsDeepAreRefusedBeforeJinjavaParsesThem() {
        // templateSource/brackets-5000-deep: jinjava's parser took minutes (2,000 deep: 11 s; 5,000: past 20 s)
        String src = "{{ " + "(".repeat(5000) + "1" + ")".repeat(5000) + " }}";
        long t0 = System.nanoTime();
        var e = assertThrows(ChatTemplateException.class, () -> new ChatTemplate(src, Map.of()));
        assertTrue(e.getMessage().contains("nests brackets more than 64 deep"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 1_000_000_000L);
        assertEquals("6", new ChatTemplate("{{ " + "(".repeat(60) + "6" + ")".repeat(60) + " }}", Map.of())
                .render(List.of(), false));
    }

    @Test
    void fuzzNestedLoopsEndAtTheTimeLimit() {
        // templateSource/nested-ranges: a billion empty iterations, no output, never ended
        var t = new ChatTemplate("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
                + "{% endfor %}{% endfor %}{% endfor %}x", Map.of());
        long t0 = System.nanoTime();
        var e = assertThrows(ChatTemplateException.class, () -> t.render(List.of(), false));
        assertTrue(e.getMessage().contains("time limit"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < ChatTemplate.timeLimit.toNanos() + 5_000_000_000L);
        assertEquals("x", new ChatTemplate("{% for a in range(3) %}{% endfor %}x", Map.of()).render(List.of(), false),
                "the limit is per rendering, not left over from the one that ran out");
    }

    @Test
    void fuzzIncludeCannotReadFilesAndHugeOutputIsBounded() {
        var e = assertThrows(ChatTemplateException.class, () -> render("{% include 'fixtures/README.md' %}"));
        assertTrue(e.getMessage().contains("cannot load other templates"), e.getMessage());
        // 1000^2 iterations of 100 characters: 100 M characters, past the 16 M bound
        e = assertThrows(ChatTemplateException.class, () -> render("{% for a in range(1000) %}{% for b in range(1000) %}"
                + "{{ 'x' * 100 }}{% endfor %}{% endfor %}"));
        assertTrue(e.getMessage().contains("chat template"), e.getMessage());
    }

    @Test
    void fuzzRawBlockFollowedByEmptyTagIsNotAStringIndexError() {
        // templateSource/raw-then-tag-without-space: "{%}" after a raw block made the search for endraw take "%}" from
        // inside "{%" (StringIndexOutOfBoundsException from the constructor: a stack trace, not exit 2)
        var e = assertThrows(ChatTemplateException.class, () -> render("{% raw %}a{%}b"));
        assertTrue(e.getMessage().contains("chat template"), e.getMessage());
        assertEquals("a{{ x }}", render("{% raw %}a{{ x }}{% endraw %}"));
    }
}
