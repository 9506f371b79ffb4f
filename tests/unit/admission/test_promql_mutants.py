"""The local PromQL check on comments, quotes, escapes and newlines, answer by answer.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests did not pin how comments end,
which quotes escape and which a newline ends, nor exact error positions after a comment.
"""

from __future__ import annotations

import pytest

from mlaiops.admission.promql import local_error

CASES = [
    # comments run to the end of their line, and only that line
    ("rate(x[5m]) # a (comment\n", None),
    ("# only a comment", None),
    ("x # ) comment\n+ y", None),
    ("a\n# x\n(b)", None),
    ("# c\n)", "unexpected ')' at position 5"),
    ("# c\n)\n", "unexpected ')' at position 5"),
    ("(a)#c\n(b", "unclosed left parenthesis at position 7"),
    # double quotes: a backslash escapes the next character, a newline ends the string unclosed
    ('x{a=""}', None),
    ('x{a="b\\"c"}', None),
    ('x{a="\\""}', None),
    ('x{a="b\\"}', "unterminated quoted string at position 5"),
    ('x{a="b\nc"}', "unterminated quoted string at position 5"),
    ('x{a="b\\\\"}(', "unclosed left parenthesis at position 11"),
    # backticks: raw, no escapes, may span lines
    ("x{a=`b\\`}", None),
    ("x{a=`b\nc`}", None),
    # brackets inside strings do not count; letters are never brackets or quotes
    ('sum(x{a="("})', None),
    ("rate(X[5m])", None),
    ('"', "unterminated quoted string at position 1"),
    ("(x", "unclosed left parenthesis at position 1"),
    ("x)", "unexpected ')' at position 2"),
]


@pytest.mark.parametrize(("query", "error"), CASES)
def test_local_error_answers_exactly(query: str, error: str | None) -> None:
    """Each query gets exactly this answer: None when it may be valid, else the first problem and its position."""
    assert local_error(query) == error
