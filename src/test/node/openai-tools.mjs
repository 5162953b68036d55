// Drives a nemoh server whose model is scripted to call a tool (OpenAiNodeClientTest) with OpenAI's official Node
// client: one chat completion with tools whole, and one streamed through the client's stream helper, which puts the
// tool_calls deltas back together as it does for OpenAI; then one streamed with tool_choice naming the function.
// Prints what came back as one JSON line.
// Usage: NEMOH_BASE_URL=http://127.0.0.1:PORT/v1 NEMOH_MODEL=nemoh-tiny node openai-tools.mjs
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.NEMOH_BASE_URL, apiKey: 'not-needed', maxRetries: 0 });
const request = {
  model: process.env.NEMOH_MODEL,
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  tools: [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }],
  tool_choice: 'auto',
  max_tokens: 256,
  temperature: 0,
};

const whole = await client.chat.completions.create(request);
const stream = client.chat.completions.stream(request);
let deltas = 0;
stream.on('chunk', (chunk) => { deltas += chunk.choices[0]?.delta?.tool_calls?.length ?? 0; });
const streamed = await stream.finalChatCompletion();

// tool_choice naming the function: the answer is constrained to a call of it
const forced = await client.chat.completions
  .stream({ ...request, tool_choice: { type: 'function', function: { name: 'get_weather' } } })
  .finalChatCompletion();

const shape = (c) => ({
  finishReason: c.choices[0].finish_reason,
  content: c.choices[0].message.content,
  toolCalls: c.choices[0].message.tool_calls,
});
console.log(JSON.stringify({ whole: shape(whole), streamed: { ...shape(streamed), deltas }, forced: shape(forced) }));
