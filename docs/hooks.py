"""MkDocs hooks (mkdocs.yml `hooks:`): the repository files the docs link to join the site.

A page of docs/ may link to a file elsewhere in the repository (`../README.md`, a benchmark
result, a plot). Such a link works on GitHub; here each such file joins the site under
`repo/` (`repo/README.md`, `repo/benchmarks/results/latest.md`, ...), so it works on the site
too and `mkdocs build --strict` can keep failing on every link that points at nothing. The
Markdown files so added are scanned in turn, and their links rewritten the same way: a link
from the README into docs/ leads to that page of the site.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

REPO = "repo"  # the site folder holding the repository files outside docs/

# An inline link or image: `](target)` or `](target#anchor)`.
_LINK = re.compile(r"(?P<open>\]\()(?P<target>[^)\s#]+)(?P<close>(?:#[^)\s]*)?\))")


def repo_path(src_uri: str, docs: str) -> str:
    """The repository path of the site file `src_uri`, given docs/'s repository path."""
    if src_uri.startswith(f"{REPO}/"):
        return src_uri.removeprefix(f"{REPO}/")
    return posixpath.join(docs, src_uri)


def site_path(path: str, docs: str) -> str | None:
    """The site path of the repository file `path`; None when `path` leaves the repository."""
    if path == ".." or path.startswith("../"):
        return None
    if path.startswith(f"{docs}/"):
        return path.removeprefix(f"{docs}/")
    return f"{REPO}/{path}"


def linked(markdown: str, src_uri: str, docs: str) -> list[str]:
    """The repository paths of the files a page links to (web addresses left out)."""
    here = posixpath.dirname(repo_path(src_uri, docs))
    return [
        posixpath.normpath(posixpath.join(here, match["target"]))
        for match in _LINK.finditer(markdown)
        if ":" not in match["target"] and not match["target"].startswith("/")
    ]


def rewrite(markdown: str, src_uri: str, docs: str) -> str:
    """The page with each relative link pointing at its target's place on the site."""
    here = posixpath.dirname(repo_path(src_uri, docs))
    page_dir = posixpath.dirname(src_uri) or "."

    def relink(match: re.Match[str]) -> str:
        target = match["target"]
        if ":" in target or target.startswith("/"):
            return match[0]
        site = site_path(posixpath.normpath(posixpath.join(here, target)), docs)
        if site is None:  # mkdocs reports it as a link to nothing
            return match[0]
        return f"{match['open']}{posixpath.relpath(site, page_dir)}{match['close']}"

    return _LINK.sub(relink, markdown)


def _docs(config: MkDocsConfig) -> tuple[Path, str]:
    root = Path(config.config_file_path).parent
    return root, Path(config.docs_dir).relative_to(root).as_posix()


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    root, docs = _docs(config)
    pending = list(files.documentation_pages())
    while pending:
        page = pending.pop()
        for path in linked(page.content_string, page.src_uri, docs):
            site = site_path(path, docs)
            if site is None or not site.startswith(f"{REPO}/") or files.get_file_from_path(site):
                continue
            if not (root / path).is_file():
                continue  # mkdocs reports the link
            added = File.generated(
                config, site, abs_src_path=str(root / path), inclusion=InclusionLevel.NOT_IN_NAV
            )
            files.append(added)
            if added.is_documentation_page():
                pending.append(added)
    return files


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    return rewrite(markdown, page.file.src_uri, _docs(config)[1])
