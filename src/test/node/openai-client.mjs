// Drives a nemoh server with OpenAI's official Node client: lists the models, then runs one chat completion whole,
// one streamed, and one with a json_schema response_format. Prints what came back as one JSON line; the JUnit test (OpenAiNodeClientTest) checks it.
// Usage: NEMOH_BASE_URL=http://127.0.0.1:PORT/v1 NEMOH_MODEL=nemoh-tiny node openai-client.mjs
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.NEMOH_BASE_URL, apiKey: 'not-needed', maxRetries: 0 });
const model = process.env.NEMOH_MODEL;

const models = [];
for await (const m of client.models.list()) models.push(m.id);

const whole = await client.chat.completions.create({
  model,
  messages: [{ role: 'system', content: '/no_think' }, { role: 'user', content: 'Say something.' }],
  max_tokens: 16,
  temperature: 0,
});

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Think, then say something.' }],
  max_tokens: 16,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
let content = '';
let reasoning = '';
let finishReason = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    content += choice.delta?.content ?? '';
    reasoning += choice.delta?.reasoning_content ?? '';
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
}

const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, count: { type: 'integer' }, tags: { type: 'array', items: { enum: ['a', 'b'] } } },
  required: ['name', 'count', 'tags'],
  additionalProperties: false,
};
const structured = await client.chat.completions.create({
  model,
  messages: [{ role: 'system', content: '/no_think' }, { role: 'user', content: 'Describe it in JSON.' }],
  max_tokens: 48,
  temperature: 0.8,
  seed: 1,
  response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } },
});

console.log(JSON.stringify({
  structured: {
    schema,
    content: structured.choices[0].message.content,
    finishReason: structured.choices[0].finish_reason,
  },
  models,
  whole: {
    content: whole.choices[0].message.content,
    reasoning: whole.choices[0].message.reasoning_content ?? null,
    finishReason: whole.choices[0].finish_reason,
    usage: whole.usage,
  },
  stream: { content, reasoning, finishReason, usage, chunks },
}));
