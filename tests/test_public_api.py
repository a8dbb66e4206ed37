import labelleak


def test_every_exported_name_resolves():
    exported = set(labelleak.__all__) - {"LabelleakError", "__version__"}
    assert exported == set(labelleak._API)
    for name in sorted(exported):
        assert getattr(labelleak, name) is not None, name


def test_unknown_attribute_is_an_attribute_error():
    try:
        labelleak.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("labelleak.no_such_name resolved")
