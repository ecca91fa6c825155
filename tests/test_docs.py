"""The README and docs/ as a reader meets them on GitHub: every relative link and image
resolves to a file of the checkout (and a #anchor to a heading of its page), every page
of docs/ is reachable from README.md or docs/README.md, and the README stays a front page
(at most 200 lines). Reads files only: no network, well under a second."""

import os
import re
import unicodedata

import pytest

from testkit import ROOT

README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
INDEX = os.path.join(DOCS, "README.md")
MAX_README_LINES = 200

# [text](target) and ![alt](target); the target may be <bracketed> and followed by a title.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target (reference definitions), and <img src="..."> / <a href="...">.
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)", re.M)
_HTML = re.compile(r"<(?:img|a)\s[^>]*?(?:src|href)\s*=\s*\"([^\"]+)\"", re.I)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def pages() -> list[str]:
  """README.md and every docs/**/*.md, as absolute paths."""
  found = [README]
  for folder, _, files in os.walk(DOCS):
    found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
  return found


def prose_lines(text: str, code_spans: bool = False) -> list[str]:
  """The lines of a Markdown text outside code blocks (fenced, or indented 4 spaces after
  a blank line). Inline code spans are blanked (a link there is an example, not a link)
  unless code_spans."""
  out, fenced, previous_blank = [], False, True
  for line in text.splitlines():
    if _FENCE.match(line):
      fenced = not fenced
      continue
    indented_code = previous_blank and (line.startswith("    ") or line.startswith("\t"))
    previous_blank = not line.strip() or (indented_code and previous_blank)
    if fenced or indented_code:
      continue
    out.append(line if code_spans else _CODE_SPAN.sub("", line))
  return out


def links(path: str) -> list[str]:
  """Every link and image target of a page, in order."""
  text = "\n".join(prose_lines(open(path, encoding="utf-8").read()))
  targets = [m.group(1).strip("<>") for m in _INLINE.finditer(text)]
  return targets + _REFERENCE.findall(text) + _HTML.findall(text)


def slug(heading: str) -> str:
  """GitHub's anchor for a heading: Markdown marks and punctuation dropped, lower case,
  spaces to hyphens (letters, digits, '-' and '_' kept)."""
  text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
  text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
  kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
  return kept.replace(" ", "-")


def anchors(path: str) -> set[str]:
  """The anchors GitHub gives the headings of a page (repeats get -1, -2, ...)."""
  seen: dict[str, int] = {}
  out = set()
  for line in prose_lines(open(path, encoding="utf-8").read(), code_spans=True):
    m = _HEADING.match(line)
    if not m:
      continue
    base = slug(m.group(2))
    n = seen.get(base, 0)
    seen[base] = n + 1
    out.add(base if n == 0 else f"{base}-{n}")
  return out


def is_external(target: str) -> bool:
  return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def resolve(page: str, target: str) -> tuple[str, str]:
  """(file or folder the target names, its #anchor or '') for a relative link of a page."""
  path, _, anchor = target.partition("#")
  path = path.split("?")[0]
  resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
  return resolved, anchor


@pytest.mark.parametrize("page", pages(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_and_image_resolves(page):
  broken = []
  for target in links(page):
    if is_external(target):
      continue
    path, anchor = resolve(page, target)
    if not os.path.commonpath([path, ROOT]) == ROOT:
      broken.append(f"{target} (outside the repository)")
    elif not os.path.exists(path):
      broken.append(f"{target} (no such file)")
    elif anchor and (not path.endswith(".md") or anchor.lower() not in anchors(path)):
      broken.append(f"{target} (no heading with anchor #{anchor})")
  assert not broken, f"{os.path.relpath(page, ROOT)}: broken links: {broken}"


def test_every_docs_page_is_linked_from_the_readme_or_the_docs_index():
  """A page nobody links is a page nobody reads. A link to a folder counts for its
  README.md, which GitHub shows under the folder's listing."""
  linked = set()
  for page in (README, INDEX):
    for target in links(page):
      if not is_external(target):
        path, _ = resolve(page, target)
        linked.add(os.path.join(path, "README.md") if os.path.isdir(path) else path)
  orphans = [os.path.relpath(p, ROOT) for p in pages()
             if p not in (README, INDEX) and p not in linked]
  assert os.path.exists(INDEX), "docs/README.md (the index of the docs) is missing"
  assert not orphans, f"docs pages linked from neither README.md nor docs/README.md: {orphans}"


def test_readme_is_a_front_page():
  with open(README, encoding="utf-8") as f:
    n = len(f.read().splitlines())
  assert n <= MAX_README_LINES, (f"README.md has {n} lines; at most {MAX_README_LINES}: move "
                                 "detail into a docs/ page and link it")


def test_the_checks_find_what_they_look_for(tmp_path):
  """The parsing the checks rest on: links in prose are found, links in code are not,
  and anchors follow GitHub's rules."""
  page = tmp_path / "page.md"
  page.write_text("# Title: `code` and (more)\n\nSee [a](a.md#x), ![i](img/p.png \"t\").\n\n"
                  "    [not](in-code.md)\n\n```\n[not](fenced.md)\n```\n"
                  "`[not](span.md)` and <img src=\"h.png\">\n\n## Title: code and more\n",
                  encoding="utf-8")
  assert links(str(page)) == ["a.md#x", "img/p.png", "h.png"]
  assert anchors(str(page)) == {"title-code-and-more", "title-code-and-more-1"}
  assert slug("point_mass: the demo") == "point_mass-the-demo"
  assert slug("The original's options (A/B)") == "the-originals-options-ab"
  assert is_external("https://example.org") and not is_external("docs/results.md")
