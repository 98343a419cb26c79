#!/usr/bin/env node
// Reference GPT-2 token ids from npm gpt-3-encoder 1.1.4 (OpenAI's encoder in JavaScript),
// for tests/engine/tokenizer_test.cc.
// Usage:
//   node make_reference.js TEXT_FILE OUT_JSON   ids of the file's text (read as UTF-8), as a
//                                               JSON array, 20 ids per line
//   node make_reference.js --text STRING ...    one line "JSON(string) -> [ids]" per string
//   node make_reference.js --json < FILE        the same for a JSON array of strings on stdin
//                                               (how the literals in the unit tests were made)
// The package is found through require('gpt-3-encoder') or the env var GPT3_ENCODER_DIR
// (e.g. /tmp/npmref/node_modules/gpt-3-encoder).
'use strict';
const fs = require('fs');
const encoder = require(process.env.GPT3_ENCODER_DIR || 'gpt-3-encoder');

function main(args) {
  if (args[0] === '--text' || args[0] === '--json') {
    const strings = args[0] === '--text' ? args.slice(1) : JSON.parse(fs.readFileSync(0, 'utf8'));
    for (const s of strings) {
      console.log(`${JSON.stringify(s)} -> ${JSON.stringify(encoder.encode(s))}`);
    }
    return 0;
  }
  if (args.length !== 2) {
    console.error('usage: make_reference.js TEXT_FILE OUT_JSON | --text STRING...');
    return 2;
  }
  const text = fs.readFileSync(args[0], 'utf8');
  const ids = encoder.encode(text);
  if (encoder.decode(ids) !== text) throw new Error('reference round trip failed');
  const lines = [];
  for (let i = 0; i < ids.length; i += 20) lines.push(ids.slice(i, i + 20).join(','));
  fs.writeFileSync(args[1], `[\n${lines.join(',\n')}\n]\n`);
  console.error(`${args[0]}: ${Buffer.byteLength(text)} bytes -> ${ids.length} ids`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
