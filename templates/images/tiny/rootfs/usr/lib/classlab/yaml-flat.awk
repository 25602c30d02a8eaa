# yaml-flat.awk - flatten the YAML subset found in NoCloud seeds (meta-data,
# #cloud-config user-data) into one line per scalar:
#
#     PATH <TAB> TYPE <TAB> VALUE
#
# PATH   mapping keys and sequence indexes joined with "." (users.0.name,
#        users.0.ssh_authorized_keys.1, ssh_keys.ed25519_private, runcmd.2)
# TYPE   d double-quoted, s single-quoted, p plain, b block scalar (| or >),
#        f flow collection ([...] or {...}, raw text, not parsed), n empty/null
# VALUE  with "\" written as "\\", newline as "\n" and tab as "\t", so that
#        `printf '%b' "$VALUE"` gives the scalar back.
#
# Handles: block mappings and sequences in both indentation styles
# ("key:\n- x" and "key:\n  - x"), "- key: v" items, double-quoted scalars with
# every YAML 1.1/1.2 escape (\0 \a \b \t \<TAB> \n \v \f \r \e \<SPACE> \" \/ \\
# \N \_ \L \P \xNN \uNNNN \UNNNNNNNN: all that libyaml's emitter writes; \0 is
# dropped with a warning, as no shell string can hold NUL), single-quoted
# scalars (''), plain scalars with " #" comments, and block scalars (|, |-,
# |+, >, with an optional indentation indicator). Anchors, aliases, tags,
# multi-line flow collections and multi-line quoted scalars are not YAML this
# seed needs; such lines are reported on stderr ("yaml: line N: ...") and
# skipped, never fatal. Written for busybox awk; also runs on mawk and gawk.
#
# With -v json=1 the input is JSON instead (an OpenStack config drive's
# meta_data.json), flattened to the same PATH/TYPE/VALUE lines (objects and
# arrays as above, strings d, numbers/true/false p, null n, an empty object or
# array f). It is parsed whole, by recursive descent over the text: any
# syntax error prints nothing at all (and one "json: ..." line on stderr), so a
# damaged file is never half applied. Keys holding "." are not escaped (no
# field the guest reads has one); a tab or newline in a key becomes "_".

BEGIN {
	depth = 0; ind[0] = 0; typ[0] = "map"; pth[0] = ""; cnt[0] = -1
	pend = 0; blk = 0
}

function warn(msg) { printf "yaml: line %d: %s\n", NR, msg > "/dev/stderr" }

function enc(s,    out, i, c, n) {
	out = ""; n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\\") out = out "\\\\"
		else if (c == "\n") out = out "\\n"
		else if (c == "\t") out = out "\\t"
		else out = out c
	}
	return out
}

function emit(p, t, v) { print p "\t" t "\t" enc(v) }

function push(t, n, p) { depth++; typ[depth] = t; ind[depth] = n; pth[depth] = p; cnt[depth] = -1 }

function isdash(c) { return c == "-" || substr(c, 1, 2) == "- " }

function iskey(c) {
	if (c ~ /^"([^"\\]|\\.)*"[ ]*:( |$)/) return 1
	if (c ~ /^'([^']|'')*'[ ]*:( |$)/) return 1
	return c ~ /^[^] #"'[{}|>!&*%@`,?-][^:]*:( |$)/ || c ~ /^-[^ :][^:]*:( |$)/
}

function hexval(h,    i, v, d) {
	v = 0; h = tolower(h)
	for (i = 1; i <= length(h); i++) {
		d = index("0123456789abcdef", substr(h, i, 1))
		if (d == 0) return -1
		v = v * 16 + d - 1
	}
	return v
}

# UTF-8 encoding of a code point (bytes written with %c, as busybox awk does)
function utf8(cp) {
	if (cp <= 0) return ""
	if (cp < 128) return sprintf("%c", cp)
	if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
	if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
	return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}

# Double-quoted scalar starting at s's first character. Sets QEND to the index
# just past the closing quote (0 when unterminated).
function dq(s,    out, i, n, c, d, w, v) {
	out = ""; n = length(s); QEND = 0
	for (i = 2; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\"") { QEND = i + 1; return out }
		if (c != "\\") { out = out c; continue }
		i++; d = substr(s, i, 1)
		if (d == "n") out = out "\n"
		else if (d == "t" || d == "\t") out = out "\t"
		else if (d == "r") out = out "\r"
		else if (d == "\"" || d == "\\" || d == "/" || d == " ") out = out d
		else if (d == "0") warn("\\0 (NUL) cannot be passed on; dropped")
		else if (d == "a") out = out "\007"
		else if (d == "b") out = out "\010"
		else if (d == "v") out = out "\013"
		else if (d == "f") out = out "\014"
		else if (d == "e") out = out "\033"
		else if (d == "N") out = out utf8(133)
		else if (d == "_") out = out utf8(160)
		else if (d == "L") out = out utf8(8232)
		else if (d == "P") out = out utf8(8233)
		else if (d == "x" || d == "u" || d == "U") {
			w = (d == "x") ? 2 : (d == "u") ? 4 : 8
			v = hexval(substr(s, i + 1, w))
			if (v < 0 || i + w > n) { out = out "\\" d; continue }
			out = out utf8(v); i += w
		} else out = out "\\" d
	}
	return out
}

function sq(s,    out, i, n, c) {
	out = ""; n = length(s); QEND = 0
	for (i = 2; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "'") {
			if (substr(s, i + 1, 1) == "'") { out = out "'"; i++; continue }
			QEND = i + 1; return out
		}
		out = out c
	}
	return out
}

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# Returns 0 (and warns) for an unterminated quoted scalar, which is dropped.
function after_quote(s, what) {
	if (QEND == 0) {
		warn("unterminated " what " scalar skipped (multi-line quoted scalars are not supported)")
		return 0
	}
	s = trim(substr(s, QEND))
	if (s != "" && s !~ /^#/) warn("text after " what " scalar ignored")
	return 1
}

function block_start(p, parent, hdr,    d) {
	blk = 1; bpath = p; bpar = parent; bind = -1; bn = 0; bblank = 0
	bfold = (substr(hdr, 1, 1) == ">")
	bchomp = (hdr ~ /-/) ? "strip" : (hdr ~ /\+/) ? "keep" : "clip"
	if (match(hdr, /[1-9]/)) { d = substr(hdr, RSTART, 1) + 0; bind = (parent < 0 ? 0 : parent) + d }
}

# Returns 1 when the line belongs to the block scalar.
function block_line(line,    m) {
	if (line ~ /^[ ]*$/) { if (bn > 0) bblank++; return 1 }
	match(line, /^ */); m = RLENGTH
	if (bind < 0) { if (m <= bpar) { block_end(); return 0 } bind = m }
	if (m < bind) { block_end(); return 0 }
	while (bblank > 0) { bl[++bn] = ""; bblank-- }
	bl[++bn] = substr(line, bind + 1)
	return 1
}

function block_end(    v, i) {
	blk = 0; v = ""
	for (i = 1; i <= bn; i++) {
		if (i == 1) v = bl[i]
		else if (bfold && bl[i] != "" && bl[i - 1] != "" && bl[i] !~ /^[ \t]/) v = v " " bl[i]
		else v = v "\n" bl[i]
	}
	if (bn > 0 && bchomp != "strip") v = v "\n"
	if (bchomp == "keep") for (i = 0; i < bblank; i++) v = v "\n"
	emit(bpath, "b", v)
}

# The value part of "key: VALUE" or "- VALUE"; n is the parent's indentation.
function value(p, n, rest,    c, v) {
	rest = trim(rest)
	if (rest == "" || rest ~ /^#/) { pend = 1; pind = n; ppath = p; return }
	c = substr(rest, 1, 1)
	if (c == "\"") { v = dq(rest); if (after_quote(rest, "double-quoted")) emit(p, "d", v); return }
	if (c == "'") { v = sq(rest); if (after_quote(rest, "single-quoted")) emit(p, "s", v); return }
	if (c == "|" || c == ">") {
		v = rest; sub(/[ \t]+#.*$/, "", v)
		if (v !~ /^[|>]([-+]?[1-9]?|[1-9][-+])$/) { warn("bad block scalar header: " v); emit(p, "n", ""); return }
		block_start(p, n, v); return
	}
	if (c == "[" || c == "{") {
		v = rest; sub(/[ \t]+#[^]}]*$/, "", v)
		if (v !~ /[]}]$/) warn("multi-line flow collections are not supported")
		emit(p, "f", v); return
	}
	if (c == "&" || c == "*" || c == "!") warn("anchors, aliases and tags are not supported; taken as plain text")
	v = rest; sub(/[ \t]+#.*$/, "", v)
	emit(p, "p", trim(v))
}

function handle(n, c,    p, rest, key, col, k) {
	if (pend) {
		pend = 0
		if (isdash(c) && n >= pind) push("seq", n, ppath)
		else if (n > pind && iskey(c)) push("map", n, ppath)
		else emit(ppath, "n", "")
	}
	while (depth > 0 && (ind[depth] > n || (ind[depth] == n && typ[depth] == "seq" && !isdash(c))))
		depth--
	if (isdash(c)) {
		if (typ[depth] != "seq" || ind[depth] != n) { warn("unexpected sequence item; skipped"); return }
		p = pth[depth] "." (++cnt[depth])
		rest = substr(c, 2); match(rest, /^ */); col = n + 1 + RLENGTH; rest = substr(rest, RLENGTH + 1)
		if (isdash(rest)) { push("seq", col, p); handle(col, rest); return }
		if (iskey(rest)) { push("map", col, p); handle(col, rest); return }
		value(p, n, rest)
		return
	}
	if (iskey(c)) {
		if (typ[depth] != "map" || ind[depth] != n) { warn("unexpected indentation; skipped"); return }
		k = substr(c, 1, 1)
		if (k == "\"") { key = dq(c); rest = substr(c, QEND) }
		else if (k == "'") { key = sq(c); rest = substr(c, QEND) }
		else { match(c, /:( |$)/); key = substr(c, 1, RSTART - 1); rest = substr(c, RSTART) }
		key = trim(key); sub(/^[ ]*:/, "", rest)
		p = (pth[depth] == "") ? key : pth[depth] "." key
		value(p, n, rest)
		return
	}
	warn("not a mapping entry or sequence item; skipped")
}

json { jtext = jtext $0 "\n"; next }

{
	sub(/\r$/, "")
	line = $0
	if (blk && block_line(line)) next
	if (line ~ /^[ ]*(#.*)?$/) next
	if (line ~ /^(---|\.\.\.)([ ]|$)/) next
	match(line, /^ */); n = RLENGTH; c = substr(line, n + 1)
	if (substr(c, 1, 1) == "\t") { warn("tab indentation is not allowed in YAML; skipped"); next }
	handle(n, c)
}

# --- JSON -----------------------------------------------------------------------
# JS the text, JP the next character's index, JN its length, JERR set on the
# first error; the lines are kept in jout[1..jn] until the whole text parsed.
function jerr(msg) { if (!JERR) printf "json: at character %d: %s\n", JP, msg > "/dev/stderr"; JERR = 1 }
function jws() { while (JP <= JN && index(" \t\r\n", substr(JS, JP, 1))) JP++ }
function jemit(p, t, v) { jout[++jn] = p "\t" t "\t" enc(v) }

function jstr(    out, c, d, v, w) {
	out = ""; JP++
	while (JP <= JN) {
		c = substr(JS, JP, 1)
		if (c == "\"") { JP++; return out }
		if (c != "\\") {
			if (c == "\n") { jerr("newline in a string"); return out }
			out = out c; JP++; continue
		}
		d = substr(JS, JP + 1, 1); JP += 2
		if (d == "\"" || d == "\\" || d == "/") out = out d
		else if (d == "n") out = out "\n"
		else if (d == "t") out = out "\t"
		else if (d == "r") out = out "\r"
		else if (d == "b") out = out "\010"
		else if (d == "f") out = out "\014"
		else if (d == "u") {
			v = hexval(substr(JS, JP, 4))
			if (v < 0 || JP + 3 > JN) { jerr("bad \\u escape"); return out }
			JP += 4
			# A UTF-16 surrogate pair is one code point.
			if (v >= 55296 && v < 56320 && substr(JS, JP, 2) == "\\u") {
				w = hexval(substr(JS, JP + 2, 4))
				if (w >= 56320 && w < 57344) { v = 65536 + (v - 55296) * 1024 + (w - 56320); JP += 6 }
			}
			if (v == 0) printf "json: \\u0000 (NUL) cannot be passed on; dropped\n" > "/dev/stderr"
			out = out utf8(v)
		} else { jerr("bad escape \\" d); return out }
	}
	jerr("unterminated string")
	return out
}

function jvalue(p, depth,    c, k, i, t) {
	jws()
	if (depth > 32) { jerr("nested more than 32 deep"); return }
	c = substr(JS, JP, 1)
	if (c == "{" || c == "[") {
		JP++; jws()
		if (substr(JS, JP, 1) == (c == "{" ? "}" : "]")) { JP++; jemit(p, "f", c == "{" ? "{}" : "[]"); return }
		for (i = 0; ; i++) {
			if (c == "{") {
				jws()
				if (substr(JS, JP, 1) != "\"") { jerr("expected a string key"); return }
				k = jstr(); if (JERR) return
				gsub(/[\t\n]/, "_", k)
				jws()
				if (substr(JS, JP, 1) != ":") { jerr("expected ':'"); return }
				JP++
			} else k = i
			jvalue(p == "" ? k : p "." k, depth + 1)
			if (JERR) return
			jws(); t = substr(JS, JP, 1); JP++
			if (t == (c == "{" ? "}" : "]")) return
			if (t != ",") { JP--; jerr("expected ',' or the end of the " (c == "{" ? "object" : "array")); return }
		}
	}
	if (c == "\"") { k = jstr(); if (!JERR) jemit(p, "d", k); return }
	if (match(substr(JS, JP, 64), /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
		jemit(p, "p", substr(JS, JP, RLENGTH)); JP += RLENGTH; return
	}
	if (substr(JS, JP, 4) == "true") { jemit(p, "p", "true"); JP += 4; return }
	if (substr(JS, JP, 5) == "false") { jemit(p, "p", "false"); JP += 5; return }
	if (substr(JS, JP, 4) == "null") { jemit(p, "n", ""); JP += 4; return }
	jerr(JP > JN ? "unexpected end of the text" : "unexpected character '" c "'")
}

function json_flat(    i) {
	JS = jtext; JN = length(JS); JP = 1; JERR = 0; jn = 0
	jws()
	if (substr(JS, JP, 1) != "{") jerr("the text is not a JSON object")
	else jvalue("", 0)
	jws()
	if (!JERR && JP <= JN) jerr("text after the object")
	if (!JERR) for (i = 1; i <= jn; i++) print jout[i]
}

END {
	if (json) { json_flat(); exit }
	if (blk) block_end()
	if (pend) emit(ppath, "n", "")
}
