"""The one exception type for bad user input, and the one way validation problems become a line.

Anything a user can get wrong (a YAML file, a dataset root, a command-line value) raises
:class:`BnasError` with a one-line, located message. The CLI prints it as
``bnas: error: <message>`` and exits with :data:`USER_ERROR_EXIT_CODE`; library callers can
catch it like any other exception.

Every pydantic model of bnas (search spaces, architectures, training configs, run records)
reports its first problem through :func:`explain`, so the same mistake reads the same in every
file: ``rd_ratio: 0 is not a positive integer``, ``unknown key 'lr_max'; valid: epochs, ...``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_origin

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    Model = TypeVar("Model", bound=BaseModel)

USER_ERROR_EXIT_CODE = 2

Loc = tuple[str | int, ...]


class BnasError(Exception):
    """Bad input from the user: the message is one line and says where and what."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class LocatedError(BnasError):
    """A problem at a path of a document, e.g. ``("search", "objectives")``.

    Raised by checks that span several fields; the reader of the document (which knows the
    file and its line numbers) turns the path into ``file.yaml:LINE path: detail``.
    """

    def __init__(self, loc: Loc, detail: str) -> None:
        self.loc = tuple(loc)
        self.detail = " ".join(str(detail).split())
        super().__init__(f"{describe_location(self.loc)}: {self.detail}")


def describe_location(loc: Loc) -> str:
    """``("blocks", 3, "conv1x1")`` → ``blocks[3].conv1x1``: the path a user sees in YAML."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<top>"


# Names pydantic puts into a location for the branch of a union or a validator it tried;
# a user never wrote them, so they are dropped from the path we show.
_BRANCH_NAMES = {"str", "int", "float", "bool", "list", "dict", "tuple", "literal", "none"}


def _is_user_key(part: str | int) -> bool:
    if isinstance(part, int):
        return True
    return not (
        part in _BRANCH_NAMES
        or part[:1].isupper()
        or part.startswith(("function-", "literal[", "tagged-union", "constrained-"))
    )


_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def problem_message(problem: dict[str, Any], valid_keys: list[str] | None = None) -> str:
    """One pydantic problem (an entry of ``error.errors()``) as a short sentence about the
    value a user wrote."""
    kind = problem["type"]
    value = problem.get("input")
    ctx = problem.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        key = problem["loc"][-1] if problem["loc"] else value
        listing = f"; valid: {', '.join(valid_keys)}" if valid_keys else ""
        return f"unknown key {key!r}{listing}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {value!r}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        noun = "number" if isinstance(ctx["gt"], float) else "integer"
        return f"{value!r} is not a positive {noun}"
    if kind in _BOUNDS:
        limit = next(iter(ctx.values()))
        return f"{value!r} is not {_BOUNDS[kind]} {limit}"
    if kind == "literal_error":
        valid = ", ".join(part.strip("'") for part in re.split(r", | or ", ctx["expected"]))
        return f"unknown value {value!r}; valid: {valid}"
    if kind == "too_short":
        return "empty: give at least one" + (" choice" if isinstance(value, list) else " entry")
    if kind == "string_too_long":
        return f"{len(value)} characters; at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must match {ctx.get('pattern')}"
    if kind in ("value_error", "assertion_error"):
        return problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{problem['msg']}, got {value!r}"


def valid_keys_at(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """Field names of the model found at ``loc`` below ``model`` (for "unknown key; valid")."""
    from pydantic import BaseModel

    cls: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        cls, skip = _inner_model(field.annotation)
        del parts[:skip]
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return None


def _inner_model(annotation: Any) -> tuple[Any, int]:
    """The model class inside ``annotation`` and how many list/dict levels lead to it."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, dict, tuple):
        # tuple[X, ...] holds X; list[X], dict[K, X] and tuple[..., X] hold their last argument
        item = args[0] if args[-1:] == (Ellipsis,) else (args[-1] if args else None)
        inner, skip = _inner_model(item)
        return inner, skip + 1
    for arg in args:  # Optional / Union / Annotated
        inner, skip = _inner_model(arg)
        if inner is not None:
            return inner, skip
    return None, 0


def explain(error: ValidationError, model: type[BaseModel] | None = None) -> tuple[Loc, str]:
    """The first problem of a validation error: (path a user wrote, one-line message).

    ``model`` (the validated class) lets an unknown key list the valid ones.
    """
    problem = error.errors(include_url=False)[0]
    loc = tuple(part for part in problem["loc"] if _is_user_key(part))
    valid = None
    if problem["type"] == "extra_forbidden" and model is not None:
        valid = valid_keys_at(model, loc[:-1])
    return loc, problem_message(problem, valid)


def validate_as(model: type[Model], data: Any, source: str, expected: str) -> Model:
    """``model.model_validate(data)``, every problem as one ``BnasError`` line.

    The line reads ``SOURCE: PATH: MESSAGE``; ``expected`` says what a non-mapping should
    have been (e.g. "a mapping of training settings").
    """
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise BnasError(f"{source}: expected {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        loc, message = explain(error, model)
        where = f"{describe_location(loc)}: " if loc else ""
        raise BnasError(f"{source}: {where}{message}") from None
    except LocatedError as error:
        raise BnasError(f"{source}: {error}") from None
