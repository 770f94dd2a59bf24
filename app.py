"""dataval: find the bad samples in a labeled dataset, decide what to do, export a cleaned copy.

Streamlit's entry point and router: ``st.navigation`` registers the pages (files in ``app_pages/``,
see :data:`ui.layout.NAV`), the shared chrome runs once (session restored from the ``?sid=`` in
the URL, styles, sidebar summary), then the chosen page runs. A reload or a server restart loses
nothing: the session's state lives in the workspace.
"""
import streamlit as st

from ui import layout

page = st.navigation(layout.navigation())
layout.setup(page.title)
page.run()
