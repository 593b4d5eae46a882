"""README.md is a user's page: short, and every link points inside the repository."""
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r'\]\(([^)\s]+)\)')


def markdown_pages():
    pages = [REPO_ROOT / 'README.md']
    pages += sorted((REPO_ROOT / 'docs').glob('*.md'))
    pages += sorted((REPO_ROOT / 'configs').glob('*/README.md'))
    return pages


def test_readme_is_short_and_self_contained():
    text = (REPO_ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(text) <= 10500, \
        f'README.md has {len(text)} characters (about 10,000 at most)'
    # The test data beside the repository is a development detail (docs/development.md).
    assert '../shared' not in text


def test_links_stay_inside_the_repository():
    problems = []
    for page in markdown_pages():
        for target in LINK.findall(page.read_text(encoding='utf-8')):
            if re.match(r'[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto: ...
                problems.append(
                    f'{page.relative_to(REPO_ROOT)}: external link {target}')
                continue
            path = target.split('#', 1)[0]
            if path and not (page.parent / path).exists():
                problems.append(f'{page.relative_to(REPO_ROOT)}: broken link {target}')
    assert not problems, '\n'.join(problems)
