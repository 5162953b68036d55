// Trains the `tokenizers` library (its Node.js binding, npm package "tokenizers") on text files with the
// pre-tokenizer of a nemoh tokenizer.json and writes the library's tokenizer.json. The binding exposes only the
// default BpeTrainer (vocab_size 30000, min_frequency 0, no special tokens, no initial alphabet), so on a small
// corpus it merges until no pair is left: nemoh trained with a vocabulary size above that must give the same merges,
// and the same vocabulary once the byte characters the corpus lacks are left out (BpeTrainerTest checks that).
//
//   npm install --prefix /tmp/hf tokenizers@0.23.2
//   NODE_PATH=/tmp/hf/node_modules node tools/reference/bpe_trainer_node.js NEMOH_TOKENIZER.json OUT.json FILE...
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

const [nemoh, out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: node bpe_trainer_node.js NEMOH_TOKENIZER.json OUT.json FILE...');
  process.exit(2);
}
const json = JSON.parse(fs.readFileSync(nemoh, 'utf8'));
json.added_tokens = [];
json.model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: {}, merges: [] };
const tokenizer = Tokenizer.fromString(JSON.stringify(json));
tokenizer.train(files);
tokenizer.save(out, true);
