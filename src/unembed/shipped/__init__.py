"""Inverters that ship with unembed, one folder each (``load_inverter(NAME)``); see each MODEL_CARD.md."""
