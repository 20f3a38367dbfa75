"""The Citus lint: SQL that a Citus cluster refuses, found on plain PostgreSQL (docs/scale-out.md).

It walks every migration and the string literals of the product's code (not tests, not
docstrings) for the patterns a Citus 13 cluster was seen to refuse:

- a RunSQL element holding several statements (Citus forwards a statement's text to the workers
  as it is, and refuses several commands in one);
- ``SET STATISTICS`` outside ``traf3li/core/citus.py``, the one helper that sends it to the
  shards when the table is distributed;
- a STABLE or VOLATILE function, ``AT TIME ZONE`` or timestamp arithmetic with an interval
  applied to columns in an UPDATE's SET list, and a VOLATILE function in its WHERE;
- a setting made with ``set_config()``, which stays on the coordinator, where ``SET LOCAL``
  reaches the worker.

Each check is also run on a known-bad snippet, so that a check that finds nothing can't pass.
"""

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunSQL

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ["traf3li", "timeline", "audit", "billing", "messaging", "scripts"]
STATISTICS_HELPER = Path("traf3li/core/citus.py")

# --- reading SQL ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
  | (?P<string>'(?:[^']|'')*')
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<line>--[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<semi>;)
    """,
    re.S | re.X,
)


def statements(sql: str) -> list[str]:
    """``sql`` split at top-level semicolons (not inside strings, dollar quotes or comments)."""
    found, start = [], 0
    for match in _TOKEN.finditer(sql):
        if match.group("semi"):
            found.append(sql[start : match.start()])
            start = match.end()
    found.append(sql[start:])
    return [part for part in found if _code(part).strip()]


def _code(sql: str) -> str:
    """``sql`` with its strings, quoted names and comments blanked (placeholders for names)."""

    def blank(match):
        if match.group("string") or match.group("dollar"):
            return "''"
        if match.group("ident"):
            return "x"
        if match.group("semi"):
            return ";"
        return " "

    return _TOKEN.sub(blank, sql)


@cache
def changing_functions() -> dict[str, str]:
    """Built-in function names that aren't IMMUTABLE in every overload: name -> 's' or 'v'."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT proname, max(provolatile) FROM pg_proc
             WHERE pronamespace = 'pg_catalog'::regnamespace AND provolatile <> 'i' AND prokind = 'f'
             GROUP BY proname
            """
        )
        return dict(cursor.fetchall())  # 'v' > 's': a name with a VOLATILE overload counts as volatile


KEYWORDS = {
    "and", "or", "not", "null", "true", "false", "case", "when", "then", "else", "end", "is", "in",
    "distinct", "from", "as", "cast", "interval", "excluded", "text", "varchar", "bigint", "int",
    "integer", "timestamptz", "jsonb", "date", "numeric", "boolean", "x",
}  # fmt: skip


def _calls(expression: str):
    """(name, arguments) of each function call in ``expression``, nested ones too."""
    for match in re.finditer(r"\b([a-z_][a-z0-9_]*)\s*\(", expression, re.I):
        depth, end = 1, match.end()
        while end < len(expression) and depth:
            depth += {"(": 1, ")": -1}.get(expression[end], 0)
            end += 1
        yield match.group(1).lower(), expression[match.end() : end - 1]


def _has_column(arguments: str) -> bool:
    words = re.findall(r"(?<![%:.\w])([a-z_][a-z0-9_]*)(?:\.[a-z_][a-z0-9_]*)?\b(?!\s*\()", arguments, re.I)
    return any(word.lower() not in KEYWORDS for word in words)


def _update_parts(sql: str):
    """(SET list, WHERE clause) of each UPDATE in ``sql`` (ON CONFLICT … DO UPDATE too)."""
    code = _code(sql)
    table = r"(?:ONLY\s+)?(?!SET\b)\S+(?:\s+(?:AS\s+)?(?!SET\b)\w+)?\s+"  # a table and its alias; none after DO
    for match in re.finditer(rf"\bUPDATE\s+(?:{table})?SET\b", code, re.I):
        rest = code[match.end() :]
        depth, end = 0, 0
        while end < len(rest):
            char = rest[end]
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            elif char == ";" and depth == 0:
                break
            end += 1
        body = rest[:end]
        split = re.split(r"\b(FROM|WHERE|RETURNING)\b", body, maxsplit=1, flags=re.I)
        set_list = split[0]
        where = ""
        if len(split) > 1:
            tail = "".join(split[1:])
            found = re.search(r"\bWHERE\b(.*?)(?:\bRETURNING\b|$)", tail, re.I | re.S)
            where = found.group(1) if found else ""
        yield set_list, where


def update_problems(sql: str) -> list[str]:
    problems = []
    changing = changing_functions()
    for set_list, where in _update_parts(sql):
        for name, arguments in _calls(set_list):
            if name in changing and _has_column(arguments):
                problems.append(f"{name}() on a column in an UPDATE's SET")
        if re.search(r"\bAT\s+TIME\s+ZONE\b", set_list, re.I):
            problems.append("AT TIME ZONE in an UPDATE's SET")
        if re.search(r"[-+]\s*(?:interval\b|'[^']*'\s*::\s*interval)", set_list, re.I):
            problems.append("timestamp arithmetic with an interval in an UPDATE's SET")
        for name, _ in _calls(where):
            if changing.get(name) == "v":
                problems.append(f"VOLATILE {name}() in an UPDATE's WHERE")
    return problems


def sql_problems(sql: str, where: Path) -> list[str]:
    problems = update_problems(sql)
    code = _code(sql)
    if re.search(r"\bSET\s+STATISTICS\b", code, re.I) and where != STATISTICS_HELPER:
        problems.append("SET STATISTICS (use traf3li.core.citus.set_column_statistics)")
    if re.search(r"\bset_config\s*\(", code, re.I):
        problems.append("set_config() (use SET LOCAL: Citus propagates it to the workers)")
    return problems


# --- what is linted ------------------------------------------------------------------------------


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def literals(path: Path):
    """(line, text) of each string literal in the file; an f-string's fields become ``x``."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    inner = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inner.update(id(value) for value in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            yield node.lineno, text
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip and id(node) not in inner:
                yield node.lineno, node.value


def product_files() -> list[Path]:
    files = []
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts:
                continue
            files.append(relative)
    return files


def _runsql_elements(sql) -> list[str]:
    if sql is RunSQL.noop or not sql:
        return []
    if isinstance(sql, str):
        return [sql]
    return [element[0] if isinstance(element, list | tuple) else element for element in sql]


# --- the lint ------------------------------------------------------------------------------------


def test_every_runsql_element_is_one_statement_citus_accepts(db):
    loader = MigrationLoader(None, ignore_no_migrations=True)
    found = []
    for _key, migration in sorted(loader.disk_migrations.items()):
        where = Path(type(migration).__module__.replace(".", "/") + ".py")
        for operation in migration.operations:
            if not isinstance(operation, RunSQL):
                continue
            for sql in _runsql_elements(operation.sql) + _runsql_elements(operation.reverse_sql):
                count = len(statements(sql))
                if count > 1:
                    found.append(f"{where}: a RunSQL element with {count} statements")
                found.extend(f"{where}: {problem}" for problem in sql_problems(sql, where))
    assert found == []


def test_the_products_sql_has_nothing_citus_refuses(db):
    found = []
    for path in product_files():
        for line, text in literals(ROOT / path):
            if not re.search(r"\b(UPDATE|SET|set_config)\b", text, re.I):
                continue
            found.extend(f"{path}:{line}: {problem}" for problem in sql_problems(text, path))
    assert found == []


# --- the checks find what they look for ----------------------------------------------------------

BAD = [
    # audit's old chain-head move: STABLE convert_to and to_char … AT TIME ZONE on columns
    (
        "UPDATE audit_auditchainhead h SET hash = encode(sha256(convert_to(h.prev_hash || '|' || "
        "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY'), 'UTF8')), 'hex') FROM e WHERE h.id = 1",
        ["convert_to() on a column", "to_char() on a column", "AT TIME ZONE"],
    ),
    ("UPDATE audit_auditevent SET occurred_at = occurred_at - interval '1 day' WHERE id = %s", ["interval"]),
    ("WITH m AS (SELECT 1) UPDATE t SET a = 1 WHERE random() < 0.5", ["VOLATILE random()"]),
    (
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = to_char(t.at, 'HH24') RETURNING 1",
        ["to_char() on a column"],
    ),
    ("SELECT set_config('traf3li.audit_bypass', 'purge', true)", ["set_config()"]),
    ("ALTER TABLE timeline_entry ALTER COLUMN search SET STATISTICS 1000", ["SET STATISTICS"]),
]

GOOD = [
    "UPDATE h SET seq = m.seq, hash = m.hash, occurred_at = m.occurred_at FROM m WHERE h.id = 1",
    "UPDATE r SET state = 'pending', next_attempt_at = %(due)s, bucket = CASE WHEN deadline < %(today)s "
    "THEN 'overdue' ELSE 'later' END WHERE id IN (SELECT id FROM r)",
    "UPDATE e SET erased_at = now(), payload_salt = '' WHERE id = %s",  # STABLE, but on no column
    "UPDATE e SET changes = jsonb_set(changes, '{after,name}', '\"x\"') WHERE id = %s",  # IMMUTABLE
    "SET LOCAL traf3li.audit_bypass = 'purge'",
]


@pytest.mark.parametrize(("sql", "expected"), BAD)
def test_each_check_finds_its_pattern(db, sql, expected):
    problems = " / ".join(sql_problems(sql, Path("somewhere.py")))
    for fragment in expected:
        assert fragment in problems, problems


@pytest.mark.parametrize("sql", GOOD)
def test_what_citus_accepts_passes(db, sql):
    assert sql_problems(sql, Path("somewhere.py")) == []


def test_the_statement_splitter_knows_quotes_dollars_and_comments():
    function = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$"
    assert len(statements(function)) == 1
    assert len(statements(function + ";\nCREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW EXECUTE FUNCTION f();")) == 2
    assert len(statements("SELECT ';' -- a comment; with a semicolon\n;")) == 1
    assert len(statements('SELECT 1 AS "a;b"; /* ; */')) == 1
