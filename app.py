"""dataval: find the bad samples in a labeled dataset, decide what to do, export a cleaned copy.

Streamlit's entry point and router: ``st.navigation`` registers the pages (files in ``app_pages/``,
see :data:`ui.layout.NAV`), the shared chrome runs once (session restored from the ``?sid=`` in
the URL, styles, sidebar summary), then the chosen page runs. A reload or a server restart loses
nothing: the session's state lives in the workspace.
"""
import streamlit as st

from ui import auth, layout

# Streamlit runs this file as ``__main__``; a worker process started with ``spawn`` (sava's solver
# pool) re-imports it as ``__mp_main__`` outside any Streamlit session, and must not build the app.
if __name__ == "__main__":
    page = st.navigation(layout.navigation(), position=layout.menu_position())
    with auth.page_guard():  # a workspace fault anywhere (a disk that fills up mid-run): one line, no traceback
        layout.setup(page.title)
        page.run()
