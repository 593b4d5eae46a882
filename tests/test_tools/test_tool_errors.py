"""Bad input to the tools fails with an error naming the file, key or type at fault."""
import pytest
from tool_helpers import TINY_CFG, data_options, run_tool, train_cmd


def _last_line(output: str) -> str:
    """The exception line the user sees at the end of the traceback."""
    return output.strip().splitlines()[-1]


def _derived_config(path, base_text_edit=None, extra=''):
    """Write a config at ``path``: TINY_CFG's text, edited, plus ``extra`` lines."""
    text = TINY_CFG.read_text()
    if base_text_edit is not None:
        text = base_text_edit(text)
    path.write_text(text + '\n' + extra)
    return path


def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / 'no_such_dir' / 'missing_config.py'
    proc = run_tool(
        train_cmd(tmp_path / 'work', config=missing), cwd=tmp_path, expect_ok=False)
    assert proc.returncode != 0
    last = _last_line(proc.stdout)
    assert last.startswith('FileNotFoundError') and str(missing) in last, last
    assert not (tmp_path / 'work').exists()


@pytest.mark.parametrize(
    'where,type_name',
    [
        ("model['backbone']", 'NoSuchBackbone'),  # built with the runner
        ("train_dataloader['dataset']", 'NoSuchDataset'),  # built in runner.train()
    ])
def test_unknown_type_names_type_and_config(tmp_path, image_root, where, type_name):
    cfg = _derived_config(
        tmp_path / f'unknown_{type_name}.py', extra=f"{where}['type'] = '{type_name}'")
    proc = run_tool(
        train_cmd(tmp_path / 'work', *data_options(image_root), config=cfg),
        cwd=tmp_path,
        expect_ok=False)
    assert proc.returncode != 0
    last = _last_line(proc.stdout)
    assert last.startswith('KeyError'), last
    assert repr(type_name) in last and str(cfg) in last, last
    assert 'custom_imports' in last  # the hint for a colorssl type


def test_colorssl_type_without_custom_imports(tmp_path, image_root):
    from colorssl.utils.config_checks import colorssl_type_names
    names = sorted(colorssl_type_names())
    # A registration that silently stopped working must fail here, not skip.
    assert {'Colorization', 'HNCLinearClsHead', 'HNCLoss',
            'ColorizationPretrained'} <= set(names), names
    imports_line = ("custom_imports = dict(imports=['colorssl'], "
                    'allow_failed_imports=False)\n')

    def drop_imports(text):
        assert imports_line in text
        return text.replace(imports_line, '')

    # Where the type sits does not matter: the check runs on the loaded config,
    # before anything is built.
    cfg = _derived_config(tmp_path / 'no_imports.py', drop_imports,
                          f"custom_hooks = [dict(type='{names[0]}')]\n")
    proc = run_tool(
        train_cmd(tmp_path / 'work', *data_options(image_root), config=cfg),
        cwd=tmp_path,
        expect_ok=False)
    assert proc.returncode != 0
    output = proc.stdout
    assert 'ValueError' in output, output[-3000:]
    message = output[output.rindex('ValueError'):]
    assert str(cfg) in message and repr(names[0]) in message
    assert imports_line.strip() in message
