# tests/e2e/sql_bound.awk - does every SQL statement in a C file of the store
# (store/*.c; store/store_int.h alone includes sqlite3.h) take its values
# as bound parameters? Run on the file with its comments stripped (gcc
# -fpreprocessed -dD -E -P), after store/store_int.h (its macros and
# prototypes). Prints one line per statement it cannot prove safe,
# "FILE: function: why", and exits 1 if there is any.
#
# A statement is the SQL argument (the second) of a call to sqlite3_exec,
# sqlite3_prepare*, or the store's own helpers that pass theirs on
# (exec_sql, query_int, prepare_read, prepare_rows). It is safe when it is:
#   - string literals and macros defined as string literals only, or a
#     conditional (c ? A : B) of two such;
#   - an element of a constant table (static/extern const char *const
#     NAME[]), such as the prepared writers or the schema's migrations;
#   - in a helper's body, the helper's own const char * parameter (each
#     call of the helper is checked in turn);
#   - a local char array that only snprintf writes, with a literal format
#     whose conversions are all integers (%d %u %zu %lld %x ...): a number
#     cannot close a quote. A PRAGMA takes no bound parameter: that is
#     what this is for;
#   - the text of a struct sql_text (ID.text, ID->text) declared in the
#     function, or its parameter. SQL text made from the tables'
#     descriptions (store/store_row.c) is written only through
#     sql_text__lit, whose argument must be safe as above (a literal),
#     sql_text__name (an identifier, checked character by character when
#     it runs) and sql_text__num (a number), or passed to a builder (a
#     function whose first parameter is a struct sql_text *): in every
#     function but those sql_text__ primitives, a struct sql_text may
#     appear only as the first argument of such a call, for its bad flag,
#     or as the SQL argument of a call above; any other sql_text__ call
#     is reported.
# Anything else, a %s in such a format, a buffer some other call writes,
# sqlite3_mprintf and its kin anywhere, is reported.

function fail(fn, why) {
	printf "%s: %s: %s\n", FILENAME_, fn, why
	bad++
}

# The index just past the string literal that starts at i.
function skip_str(s, i,    n, c) {
	n = length(s)
	for (i++; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\\")
			i++
		else if (c == "\"")
			return i + 1
	}
	return i
}

# Split the argument list that starts after the "(" at i into ARGS[1..];
# returns the index of the closing ")".
function split_args(s, i,    depth, start, n, c) {
	delete ARGS
	NARGS = 0
	depth = 0
	start = i + 1
	n = length(s)
	for (i = i + 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\"") {
			i = skip_str(s, i) - 1
		} else if (c == "(" || c == "[" || c == "{") {
			depth++
		} else if (c == ")" || c == "]" || c == "}") {
			if (depth == 0) {
				ARGS[++NARGS] = substr(s, start, i - start)
				return i
			}
			depth--
		} else if (c == "," && depth == 0) {
			ARGS[++NARGS] = substr(s, start, i - start)
			start = i + 1
		}
	}
	return n
}

function trim(s) {
	gsub(/^[ \t]+|[ \t]+$/, "", s)
	return s
}

# True when s is only string literals, literal macros, and literal
# function-like macros given literals.
function all_literal(s,    t) {
	t = s
	gsub(/"([^"\\]|\\.)*"/, " L ", t)
	return lit_tokens(t)
}

# all_literal of a text whose literals are already the word L.
function lit_tokens(t,    w, n, k, name, inner) {
	while (match(t, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\([^()]*\)/)) {
		name = inner = substr(t, RSTART, RLENGTH)
		sub(/[ \t]*\(.*/, "", name)
		sub(/^[^(]*\(/, "", inner)
		sub(/\)$/, "", inner)
		if (!(name in LITFMACRO) || inner !~ /^[ \t,L]*$/)
			return 0
		t = substr(t, 1, RSTART - 1) " L " substr(t, RSTART + RLENGTH)
	}
	n = split(t, w, /[ \t]+/)
	for (k = 1; k <= n; k++)
		if (w[k] != "" && w[k] != "L" && !(w[k] in LITMACRO))
			return 0
	return 1
}

# t with each whole word w replaced by L.
function word_to_l(t, w,    out, c0, c1) {
	out = ""
	while (match(t, w)) {
		c0 = RSTART > 1 ? substr(t, RSTART - 1, 1) : " "
		c1 = substr(t, RSTART + RLENGTH, 1)
		if (c0 ~ /[A-Za-z0-9_]/ || c1 ~ /[A-Za-z0-9_]/) {
			out = out substr(t, 1, RSTART + RLENGTH - 1)
		} else {
			out = out substr(t, 1, RSTART - 1) " L "
		}
		t = substr(t, RSTART + RLENGTH)
	}
	return out t
}

# The top-level "?" and ":" of a conditional in s, in QPOS and CPOS.
function find_cond(s,    i, n, c, depth) {
	QPOS = CPOS = 0
	depth = 0
	n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\"")
			i = skip_str(s, i) - 1
		else if (c == "(")
			depth++
		else if (c == ")")
			depth--
		else if (c == "?" && depth == 0 && !QPOS)
			QPOS = i
		else if (c == ":" && depth == 0 && QPOS && !CPOS)
			CPOS = i
	}
	return QPOS && CPOS
}

# Every snprintf into the local array id within body writes integers only,
# and nothing else writes it.
function int_only_buffer(body, id,    rest, p, fmt, t, writes, fn) {
	writes = 0
	rest = body
	while (match(rest, "[a-z_]+\\(" id "[,)]")) {
		fn = substr(rest, RSTART, RLENGTH)
		sub(/\(.*/, "", fn)
		p = RSTART + RLENGTH
		if (fn == "snprintf") {
			split_args(rest, RSTART + length(fn))
			fmt = trim(ARGS[3])
			if (!all_literal(fmt))
				return "its format is not a literal: " fmt
			t = fmt
			gsub(/%%/, "", t)
			gsub(/%[-+ #0]*[0-9]*(\.[0-9]+)?(hh|h|ll|l|z|j|t)?[diuxX]/, "", t)
			if (t ~ /%/)
				return "snprintf puts a non-integer into it: " fmt
			writes++
		} else if (fn !~ /^(exec_sql|query_int|prepare_read|sqlite3_exec|sqlite3_prepare(_v[23])?|sizeof)$/) {
			return fn " writes it"
		}
		rest = substr(rest, p)
	}
	return writes ? "" : "nothing fills it"
}

# Why the SQL argument sql of a call in function fn (parameters params,
# body body) is not proven safe, or "".
function unsafe_sql(fn, params, body, sql,    id, why, a, b) {
	sql = trim(sql)
	if (all_literal(sql) || (sql in CONSTSTR))
		return ""
	if (find_cond(sql)) {
		a = substr(sql, QPOS + 1, CPOS - QPOS - 1)
		b = substr(sql, CPOS + 1)
		why = unsafe_sql(fn, params, body, a)
		return why != "" ? why : unsafe_sql(fn, params, body, b)
	}
	if (match(sql, /^[A-Za-z_][A-Za-z0-9_]*\[.*\]$/)) {
		id = sql
		sub(/\[.*/, "", id)
		return (id in TABLE) ? "" : id "[] is not a table of literals"
	}
	if (match(sql, /^[A-Za-z_][A-Za-z0-9_]*(\.|->)text$/)) {
		id = sql
		sub(/(\.|->)text$/, "", id)
		if (body ~ ("struct sql_text " id "[ \t]*[;=]") ||
		    params ~ ("struct sql_text \\*" id ","))
			return ""
		return "'" id "' is no struct sql_text of this function"
	}
	if (sql !~ /^[A-Za-z_][A-Za-z0-9_]*$/)
		return "an expression: " sql
	if ((fn in SINK) && params ~ ("const char \\*" sql ","))
		return ""
	if (body ~ ("char " sql "\\[")) {
		why = int_only_buffer(body, sql)
		return why == "" ? "" : "buffer '" sql "': " why
	}
	return "'" sql "' is neither a literal, a table, nor a checked buffer"
}

function check_sql(fn, params, body, sql,    why) {
	why = unsafe_sql(fn, params, body, sql)
	if (why != "")
		fail(fn, why)
}

BEGIN {
	SINK["exec_sql"]
	SINK["query_int"]
	SINK["prepare_read"]
	SINK["prepare_rows"]
	SQLCALL = "sqlite3_exec|sqlite3_prepare(_v[23])?|exec_sql|query_int|prepare_read|prepare_rows"
}

# Lines continued with a backslash are one line (macros).
/\\$/ {
	sub(/\\$/, "")
	PENDING = PENDING $0 " "
	next
}

{
	line = PENDING $0
	PENDING = ""
	# Macros whose whole body is string literals.
	# Function-like macros whose body is literals, their parameters and
	# such macros.
	if (line ~ /^#define [A-Za-z_][A-Za-z0-9_]*\([^()]*\)/) {
		name = args = body = line
		sub(/^#define /, "", name)
		sub(/\(.*/, "", name)
		sub(/^#define [^(]*\(/, "", args)
		sub(/\).*/, "", args)
		sub(/^#define [^)]*\)/, "", body)
		gsub(/"([^"\\]|\\.)*"/, " L ", body)
		na = split(args, a, /[ \t]*,[ \t]*/)
		for (j = 1; j <= na; j++)
			body = word_to_l(body, a[j])
		if (body ~ /L/ && lit_tokens(body))
			LITFMACRO[name]
	}
	# Object-like macros whose body is literals and such macros.
	if (line ~ /^#define [A-Za-z_][A-Za-z0-9_]*[ \t]/) {
		split(line, w, /[ \t]+/)
		body = line
		sub(/^#define [A-Za-z_][A-Za-z0-9_]*[ \t]+/, "", body)
		gsub(/"([^"\\]|\\.)*"/, " L ", body)
		if (body ~ /L/ && lit_tokens(body))
			LITMACRO[w[2]]
	}
	if (line !~ /^#/)
		SRC = SRC " " line
}

END {
	FILENAME_ = FILENAME
	# Tables of literals: every element of the initializer a literal
	# (designators allowed). An extern one is the schema's migrations,
	# generated from schema/*.sql (schema/embed.sh).
	t = SRC
	while (match(t, /(static|extern) const char \*const [A-Za-z_][A-Za-z0-9_]*\[[^]]*\]/)) {
		d = substr(t, RSTART, RLENGTH)
		ext = d ~ /^extern/
		sub(/\[.*/, "", d)
		sub(/.* /, "", d)
		t = substr(t, RSTART + RLENGTH)
		if (ext) {
			TABLE[d]
			continue
		}
		if (!match(t, /^[ \t]*=[ \t]*\{/))
			continue
		split_args(t, RLENGTH)
		ok = 1
		for (k = 1; k <= NARGS; k++) {
			e = ARGS[k]
			sub(/^[ \t]*\[[A-Za-z0-9_]+\][ \t]*=/, "", e)
			ok = ok && (trim(e) == "" || all_literal(e))
		}
		if (ok)
			TABLE[d]
		else
			fail("(file)", d "[] holds something other than literals")
	}
	# Constant strings: static const char NAME[] = "..." ...;
	t = SRC
	while (match(t, /static const char [A-Za-z_][A-Za-z0-9_]*\[\][ \t]*=[^;]*;/)) {
		d = e = substr(t, RSTART, RLENGTH)
		t = substr(t, RSTART + RLENGTH)
		sub(/\[.*/, "", d)
		sub(/.* /, "", d)
		sub(/^[^=]*=/, "", e)
		sub(/;$/, "", e)
		if (all_literal(e))
			CONSTSTR[d]
	}
	# Builders: functions (declared or defined) whose first parameter
	# is a struct sql_text *.
	t = SRC
	while (match(t, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\([ \t]*(const[ \t]+)?struct sql_text[ \t]*\*/)) {
		d = substr(t, RSTART, RLENGTH)
		sub(/[ \t]*\(.*/, "", d)
		if (d !~ /^sql_text__/)
			BUILDER[d]
		t = substr(t, RSTART + RLENGTH)
	}
	if (SRC ~ /sqlite3_v?(m|s|vs)n?printf|sqlite3_str_/)
		fail("(file)", "builds SQL text with sqlite3_*printf")
	# Walk function definitions at brace depth 0: NAME(PARAMS) { BODY }.
	n = length(SRC)
	depth = 0
	for (i = 1; i <= n; i++) {
		c = substr(SRC, i, 1)
		if (c == "\"") {
			i = skip_str(SRC, i) - 1
			continue
		}
		if (c == "{") {
			if (depth == 0) {
				head = substr(SRC, last_end + 1, i - last_end - 1)
				fstart = i
			}
			depth++
		} else if (c == "}") {
			depth--
			if (depth == 0) {
				body = substr(SRC, fstart, i - fstart + 1)
				# NAME(PARAMS), PARAMS maybe with function
				# pointers; an initializer has no "(".
				fn = params = ""
				if (match(head, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
					fn = substr(head, RSTART, RLENGTH - 1)
					sub(/[ \t]+$/, "", fn)
					split_args(head, RSTART + RLENGTH - 1)
					for (k = 1; k <= NARGS; k++)
						params = params ARGS[k] ","
				}
				scan(fn, params, body)
				last_end = i
			}
		} else if (c == ";" && depth == 0) {
			last_end = i
		}
	}
	if (!calls && !texts)
		fail("(file)", "no SQL call found: is this the store?")
	printf "%d SQL calls, %d SQL text writes in %d functions checked\n", calls, texts, nfn > "/dev/stderr"
	exit bad > 0
}

function scan(fn, params, body,    rest, name, p) {
	nfn++
	rest = body
	while (match(rest, "(" SQLCALL ")\\(")) {
		name = substr(rest, RSTART, RLENGTH - 1)
		p = RSTART + RLENGTH - 1
		split_args(rest, p)
		calls++
		check_sql(fn, params, body, ARGS[2])
		rest = substr(rest, p + 1)
	}
	# The primitives are the trusted base, as snprintf is.
	if (fn ~ /^sql_text__/)
		return
	rest = body
	while (match(rest, /sql_text__[A-Za-z0-9_]*\(/)) {
		name = substr(rest, RSTART, RLENGTH - 1)
		p = RSTART + RLENGTH - 1
		split_args(rest, p)
		texts++
		if (name == "sql_text__lit")
			check_sql(fn, params, body, ARGS[2])
		else if (name != "sql_text__name" && name != "sql_text__num")
			fail(fn, name " writes SQL text")
		rest = substr(rest, p + 1)
	}
	check_texts(fn, params, body)
}

# Every struct sql_text of the function (declared in its body, or its
# parameter) is used only as the primitives and builders take it.
function check_texts(fn, params, body,    t, id, all, ok, pre, post, k) {
	t = params " " body
	while (match(t, /struct sql_text[ \t]*\*?[ \t]*[A-Za-z_][A-Za-z0-9_]*/)) {
		id = substr(t, RSTART, RLENGTH)
		sub(/.*[ \t*]/, "", id)
		t = substr(t, RSTART + RLENGTH)
		if (id in SEEN_TEXT)
			continue
		SEEN_TEXT[id]
		all = count_word(params " " body, id)
		ok = count_re(params " " body, "struct sql_text[ \t]*\\*?[ \t]*" id "[^A-Za-z0-9_]")
		ok += count_re(body, id "(\\.|->)bad[^A-Za-z0-9_]")
		ok += count_re(body, "(sql_text__(lit|name|num)|" builder_re() ")\\([ \t]*&?" id "[ \t]*[,)]")
		ok += count_re(body, "(" SQLCALL ")\\([^,()]*,[ \t]*" id "(\\.|->)text[ \t]*[,)]")
		if (all != ok)
			fail(fn, "struct sql_text " id " is used other than through sql_text__ calls and builders")
	}
	delete SEEN_TEXT
}

function builder_re(    b, r) {
	r = "sql_text__none"
	for (b in BUILDER)
		r = r "|" b
	return r
}

# How many times re matches in s (matches do not overlap).
function count_re(s, re,    n) {
	n = 0
	while (match(s, re)) {
		n++
		s = substr(s, RSTART + RLENGTH)
	}
	return n
}

# How many times the word w stands alone in s.
function count_word(s, w,    n, c0, c1) {
	n = 0
	while (match(s, w)) {
		c0 = RSTART > 1 ? substr(s, RSTART - 1, 1) : " "
		c1 = substr(s, RSTART + RLENGTH, 1)
		if (c0 !~ /[A-Za-z0-9_]/ && c1 !~ /[A-Za-z0-9_]/)
			n++
		s = substr(s, RSTART + RLENGTH)
	}
	return n
}
