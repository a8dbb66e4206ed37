import pytest

from labelleak.registry import Registry, UnknownNameError
from labelleak.validation import ParameterError


def _registry():
    registry = Registry("widget", item="widget")

    @registry.register("plain")
    class Plain:
        def __init__(self, *, size: int = 1, colour: str = "red") -> None:
            self.size, self.colour = size, colour

    @registry.register("open")
    class Open:
        def __init__(self, *, size: int = 1, **extra) -> None:
            self.size, self.extra = size, extra

    return registry


def test_build_passes_options_and_options_lists_them():
    registry = _registry()
    built = registry.build("plain", size=3)
    assert (built.size, built.colour) == (3, "red")
    assert registry.options("plain") == ["size", "colour"]
    assert not registry.open_ended("plain") and registry.open_ended("open")
    assert registry.build("open", size=2, shade="dark").extra == {"shade": "dark"}


def test_build_refuses_an_unknown_option_naming_the_valid_ones():
    with pytest.raises(ParameterError, match="unknown parameter 'colur' for widget 'plain'; valid: size, colour"):
        _registry().build("plain", colur="blue")


def test_unknown_names_and_duplicates_are_refused():
    registry = _registry()
    with pytest.raises(UnknownNameError, match="unknown widget 'missing'; choose one of: open, plain"):
        registry.build("missing")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("plain")(object)
