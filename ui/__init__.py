"""Streamlit-only helpers shared by the pages (state, widgets, layout); no valuation math here."""
