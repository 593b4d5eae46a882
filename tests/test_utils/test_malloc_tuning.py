"""glibc malloc tuning used by tools/train.py and tools/test.py."""
import platform

import pytest

from colorssl.utils.malloc_tuning import ENV_VAR, tune_malloc


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, '0')
    assert tune_malloc() is False


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')
def test_applied_on_glibc(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert tune_malloc() is True
