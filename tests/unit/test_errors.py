"""The error hierarchy: the documented tree matches the classes; clone() copies every field."""

from __future__ import annotations

import inspect

import reactor_sync.errors as errors
from reactor_sync.errors import RateLimitedError, ReactorError


def _error_classes() -> list[type[ReactorError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, ReactorError) and c.__module__ == errors.__name__]


def test_the_module_docstring_tree_names_every_error_with_its_code() -> None:
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert f"{cls.__name__} " in doc, f"{cls.__name__} missing from the tree in errors.py"
        assert f"[{cls.default_code}]" in doc, f"{cls.__name__}'s code missing from the tree"


def test_clone_is_a_new_object_with_the_same_type_and_fields() -> None:
    original = RateLimitedError("POST /sessions answered 429", retry_after=2.5, status_code=429)
    try:
        raise original
    except RateLimitedError:
        pass
    copy = original.clone()
    assert copy is not original and type(copy) is RateLimitedError
    assert copy.__traceback__ is None
    for field in ("message", "code", "component", "recoverable", "retry_after", "status_code"):
        assert getattr(copy, field) == getattr(original, field), field
