"""goldfish.plain: records behave as the dataclasses they replaced, and the built-ins' hook
marker marks functions exactly as pluggy's does."""

from __future__ import annotations

import itertools
import pickle

import pluggy
import pytest
from goldfish.builtins.mark import hookimpl
from goldfish.plain import FrozenInstanceError, field, record


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    label: str = field(default="p")


@record(frozen=True)
class Frozen:
    name: str
    inner: Point | None = None
    items: tuple[int, ...] = ()


def test_constructor_takes_positional_keyword_and_defaults() -> None:
    assert Point(1).__dict__ == {"x": 1, "y": 0, "tags": [], "label": "p"}
    assert Point(1, 2, ["a"], "q") == Point(x=1, y=2, tags=["a"], label="q")
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=3)  # type: ignore[call-arg]


def test_init_is_compiled_by_the_first_instance() -> None:
    @record
    class Late:
        a: int
        b: str = "x"

    assert not Late.__init__.__qualname__.endswith("Late.__init__")  # nothing compiled yet
    assert Late(1).b == "x" and Late(a=2, b="y").__dict__ == {"a": 2, "b": "y"}
    assert Late.__init__.__qualname__.endswith("Late.__init__")  # the compiled one, from now on
    with pytest.raises(TypeError):
        Late(1, "y", 3)  # type: ignore[call-arg]


def test_a_default_factory_makes_a_new_value_per_instance() -> None:
    a, b = Point(1), Point(1)
    a.tags.append("t")
    assert b.tags == [] and not hasattr(Point, "tags")
    assert Point.y == 0 and Point.label == "p"  # plain defaults stay class attributes


def test_repr_equality_and_hash_are_a_dataclasses() -> None:
    assert repr(Point(1, tags=["a"])) == "Point(x=1, y=0, tags=['a'], label='p')"
    assert Point(1) != Point(2) and Point(1) != (1, 0, [], "p")
    with pytest.raises(TypeError):
        hash(Point(1))  # mutable: unhashable, as a dataclass with eq
    assert hash(Frozen("a", items=(1,))) == hash(Frozen("a", items=(1,)))
    assert len({Frozen("a"), Frozen("a"), Frozen("b")}) == 2


def test_a_frozen_record_refuses_assignment_and_deletion() -> None:
    f = Frozen("a")
    with pytest.raises(FrozenInstanceError, match="'name'"):
        f.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):  # FrozenInstanceError is one, as in dataclasses
        del f.name
    assert f.name == "a"


def test_a_record_pickles() -> None:
    f = Frozen("a", inner=Point(1, tags=["t"]), items=(1, 2))
    assert Frozen.__record_fields__ == ("name", "inner", "items")  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(f)) == f


def test_a_field_without_a_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="'b'"):
        @record
        class Bad:
            a: int = 0
            b: int


def test_a_mutable_default_is_refused_as_a_dataclass_refuses_it() -> None:
    for default in ([], {}, set(), field(default=[])):
        with pytest.raises(ValueError, match=r"'tags'.*default_factory"):
            @record
            class Shared:
                tags: list[str] = default  # type: ignore[assignment]


def test_a_field_named_like_the_generated_codes_locals_is_kept() -> None:
    @record
    class Odd:
        d: int
        self_: int = 0
        _MISSING: int = 1

    assert Odd(5).__dict__ == {"d": 5, "self_": 0, "_MISSING": 1}


def test_the_builtins_marker_marks_as_pluggys_for_every_option() -> None:
    real = pluggy.HookimplMarker("goldfish")
    options = ["hookwrapper", "optionalhook", "tryfirst", "trylast", "wrapper"]
    for flags in itertools.product([False, True], repeat=len(options)):
        for specname in (None, "other"):
            kwargs = dict(zip(options, flags, strict=True), specname=specname)

            def mine() -> None: ...

            def theirs() -> None: ...

            hookimpl(**kwargs)(mine)  # type: ignore[arg-type]
            real(**kwargs)(theirs)  # type: ignore[call-overload]
            assert mine.goldfish_impl == theirs.goldfish_impl  # type: ignore[attr-defined]

    def bare() -> None: ...

    def real_bare() -> None: ...

    assert hookimpl(bare) is bare
    real(real_bare)
    assert bare.goldfish_impl == real_bare.goldfish_impl  # type: ignore[attr-defined]


def test_a_plugin_marked_by_the_builtins_marker_is_called_by_pluggy() -> None:
    from goldfish.events import Event
    from goldfish.plugins import build

    seen: list[str] = []

    class Store:
        @hookimpl(tryfirst=True)
        def record_event(self, event: Event) -> None:
            seen.append(event.kind)

    plugins = build(load_entry_points=False, builtins=False, extra=[("store", Store())])
    assert not plugins.load_errors
    plugins.pm.hook.record_event(event=Event("x.y"), project=None)
    assert seen == ["x.y"]
