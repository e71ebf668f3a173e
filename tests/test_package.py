import pytest

import boltir


def test_every_lazy_export_resolves():
    for name in boltir.__all__:
        assert getattr(boltir, name) is not None, name


@pytest.mark.slow
def test_any_first_import_registers_every_model_type():
    """Whichever module a program imports first, all boltir types end up registered (no import cycle)."""
    import subprocess
    import sys

    for first in [
        "boltir.models.bi_encoders.dpr",
        "boltir.models.cross_encoders.mono",
        "boltir.models.cross_encoders.sparse",
        "boltir.models.cross_encoders.set_encoder",
        "boltir.models.base",
        "boltir.models.bi_encoders.base",
        "boltir.training",
        "transformers",
    ]:
        code = (
            f"import boltir, {first}\n"
            "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
            "types = ['boltir-dpr', 'boltir-mono', 'boltir-sparse-ce', 'boltir-set-encoder']\n"
            "assert all(t in CONFIG_MAPPING for t in types), [t for t in types if t not in CONFIG_MAPPING]"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, (first, out.stderr[-500:])
