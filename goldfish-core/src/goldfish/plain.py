"""Plain data classes for the modules every short command imports.

``@record`` (and ``@record(frozen=True)``) reads like ``@dataclass`` and gives the same
constructor (positional or keyword, defaults, ``field(default_factory=...)``), ``repr``,
equality, hashing of frozen records and refusal to assign to them. It exists for start-up
time: on Python 3.11 ``@dataclass`` compiles four to six generated methods per class (~0.8 ms
each class), and importing :mod:`dataclasses` imports :mod:`inspect` (~8 ms). ``goldfish save``
imports some twenty-five record classes, which as dataclasses were a fifth of its run time.
Here one ``__init__`` is compiled per class, when its first instance is made, and ``repr``, ``==``, ``hash`` and the frozen
guard are shared functions reading the class's field names.

What it leaves out, on purpose: ``dataclasses.fields``/``asdict``/``replace`` (the field
names are ``__record_fields__``), ordering, ``__post_init__``, ``ClassVar``, ``InitVar``,
keyword-only fields, slots and inheritance between records. A class needing
those is a ``dataclass``. Type checkers treat records as dataclasses (:pep:`681`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["FrozenInstanceError", "field", "record"]

T = TypeVar("T")
_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record."""


class _Field:
    __slots__ = ("default", "factory")

    def __init__(self, default: Any, factory: Callable[[], Any] | None) -> None:
        self.default = default
        self.factory = factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """A field's default (``default``) or how to make one per instance (``default_factory``)."""
    if default is not _MISSING and default_factory is not None:
        raise ValueError("field() takes default or default_factory, not both")
    return _Field(default, default_factory)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__record_fields__)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _build(cls: type[T], frozen: bool) -> type[T]:
    # the class's own annotations (inspect.get_annotations would import inspect)
    names = list(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
    params, body = [], []
    scope: dict[str, Any] = {"_MISSING": _MISSING}
    for name in names:
        default = cls.__dict__.get(name, _MISSING)
        if isinstance(default, _Field):
            if default.factory is not None:
                scope[f"_f_{name}"] = default.factory
                params.append(f"{name}=_MISSING")
                body.append(f"__d[{name!r}] = _f_{name}() if {name} is _MISSING else {name}")
                delattr(cls, name)
                continue
            default = default.default
            if default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, default)
        if default is not _MISSING:
            if type(default).__hash__ is None:  # a list, dict, set...: shared by every instance
                raise ValueError(f"{cls.__qualname__}: mutable default {type(default)} for "
                                 f"field {name!r} is not allowed: use default_factory")
            scope[f"_d_{name}"] = default
            params.append(f"{name}=_d_{name}")
        elif any("=" in p for p in params):
            raise TypeError(f"{cls.__qualname__}: field {name!r} without a default follows "
                            "one with a default")
        else:
            params.append(name)
        body.append(f"__d[{name!r}] = {name}")
    source = (f"def __init__(self, {', '.join(params)}):\n"
              "    __d = self.__dict__\n" + "".join(f"    {line}\n" for line in body or ["pass"]))

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        # compiled on the first instance, not at import: a command imports many record classes
        # and makes few of them (one small exec per class is what @dataclass does, times five)
        exec(source, scope)
        scope["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
        type.__setattr__(cls, "__init__", scope["__init__"])
        scope["__init__"](self, *args, **kwargs)

    methods: dict[str, Any] = {"__init__": init, "__record_fields__": tuple(names),
                               "__repr__": _repr, "__eq__": _eq,
                               "__hash__": None}  # mutable, compared by value: unhashable
    if frozen:
        methods.update(__hash__=_hash, __setattr__=_frozen_setattr,
                       __delattr__=_frozen_delattr)
    for name, value in methods.items():
        setattr(cls, name, value)
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *,
           frozen: bool = False) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a plain data class: ``@record`` or ``@record(frozen=True)``."""
    if cls is not None:
        return _build(cls, frozen)
    return lambda c: _build(c, frozen)
