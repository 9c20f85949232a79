"""The one exception type for bad user input, and how validation problems become one line.

Anything a user can get wrong (a YAML file, a dataset root, a command-line value) raises
:class:`BnasError` with a one-line, located message. The CLI prints it as
``bnas: error: <message>`` and exits with :data:`USER_ERROR_EXIT_CODE`; library callers can
catch it like any other exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    Model = TypeVar("Model", bound=BaseModel)

USER_ERROR_EXIT_CODE = 2


class BnasError(Exception):
    """Bad input from the user: the message is one line and says where and what."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def describe_location(loc: tuple[str | int, ...]) -> str:
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


def first_validation_problem(error: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """The first problem of a pydantic ``ValidationError``: (location, one-line message)."""
    problem = error.errors(include_url=False)[0]
    loc = tuple(part for part in problem["loc"] if _is_user_key(part))
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "unknown key"
    if problem["type"] not in ("missing", "extra_forbidden", "value_error") and "input" in problem:
        message += f", got {problem['input']!r}"
    return loc, message


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
        loc, message = first_validation_problem(error)
        where = f"{describe_location(loc)}: " if loc else ""
        raise BnasError(f"{source}: {where}{message}") from None
