"""Battle for Wesnoth campaign "Descent Into Darkness" from Debian's wesnoth-1.16-did: scenario stories,
dialogue and objectives, and its units' descriptions (see :func:`._wesnoth.campaign_source`).

Manual pages, Debian ``copyright`` files, changelogs and licence texts are held out or boilerplate
and skipped (:func:`._technical.is_held_out_path`).
"""
from __future__ import annotations

from . import register
from ._wesnoth import campaign_source

SOURCE = register(campaign_source("did", "Descent Into Darkness"))
