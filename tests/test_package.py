import boltir


def test_every_lazy_export_resolves():
    for name in boltir.__all__:
        assert getattr(boltir, name) is not None, name
