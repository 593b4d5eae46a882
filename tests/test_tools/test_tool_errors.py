"""Bad input to the tools fails with an error naming the file at fault."""
from tool_helpers import run_tool, train_cmd


def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / 'no_such_dir' / 'missing_config.py'
    proc = run_tool(
        train_cmd(tmp_path / 'work', config=missing), cwd=tmp_path, expect_ok=False)
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('FileNotFoundError') and str(missing) in last, last
    assert not (tmp_path / 'work').exists()
