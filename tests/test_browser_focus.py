"""Review's keyboard focus and lightbox in headless Chromium against a real ``streamlit run``: → moves the focus
ring from card to card (scrolling a card under the window into view), D drops the focused card (not the first)
and the focus moves on, the drop is stored (a reload shows it), and Z opens the focused sample's whole image in
the lightbox, wider than the old 384 px zoom. Waits on states, never on time."""
from __future__ import annotations

import pytest
from test_browser_decisions import (
    VIEWPORT,
    css_key,
    current,
    log_rows,
    open_review,
    seed_sessions,
    shown_choice,
    wait_cards,
)

from test_browser import require_browser, settle, shot, start_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("focus")
    root = tmp / "ws"
    (sid, key), = seed_sessions(root, tmp, 1)
    proc, url = start_server(root, tmp / "streamlit.log")
    yield url, root, sid, key
    proc.terminate()
    proc.wait(timeout=20)


def ring_at(page) -> int | None:
    """The position of the card wearing the focus ring (a solid outline), or None."""
    return page.evaluate("""() => { const cards = [...document.querySelectorAll('[class*=st-key-card_]')];
        const i = cards.findIndex(c => getComputedStyle(c).outlineStyle === 'solid'); return i < 0 ? null : i; }""")


def wait_ring(page, i: int) -> None:
    page.wait_for_function(f"""() => {{ const c = document.querySelector('.st-key-card_{i}');
        return c && getComputedStyle(c).outlineStyle === 'solid'; }}""")
    settle(page)


def test_arrow_moves_focus_d_drops_the_focused_card_and_z_opens_the_lightbox(server, browser):
    url, root, sid, key = server
    ctx = browser.new_context(viewport=VIEWPORT)
    page = open_review(ctx, url, sid)
    wait_cards(page)
    ids = [page.locator(f".st-key-card_{i} [data-testid=stCaptionContainer] code").first.inner_text()
           for i in range(3)]
    assert ring_at(page) == 0  # the first card has the focus to start with
    page.keyboard.press("ArrowRight")
    wait_ring(page, 1)
    page.keyboard.press("ArrowRight")
    wait_ring(page, 2)
    page.keyboard.press("ArrowLeft")
    wait_ring(page, 1)
    page.keyboard.press("d")  # decide-and-advance: drops the second card, the focus goes to the third
    page.locator(f".st-key-rv_drop_{css_key(ids[1])} button[kind=primary]").wait_for()
    wait_ring(page, 2)
    assert current(log_rows(root, key)) == {ids[1]: "drop"}  # stored: the focused card, not the first
    shot(page, "review_focus_1024")

    page.reload()
    wait_cards(page)
    assert {i: a for i, a in shown_choice(page).items() if a} == {ids[1]: "drop"}

    page.keyboard.press("z")  # the lightbox of the focused sample (the first after a reload)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"{ids[0]}", exact=True).wait_for()
    box = dialog.locator("img").first.bounding_box()
    assert box is not None and box["width"] > 384  # beyond the old zoom's 384 px
    assert 384 < box["height"] <= 0.75 * VIEWPORT["height"]  # and within the window, its facts in view below
    dialog.get_by_text("Original 8 × 8 px", exact=False).wait_for()
    shot(page, "review_lightbox_1024")
    ctx.close()


def in_view(page, i: int) -> bool:
    """Whether card ``i`` is wholly inside the window."""
    return page.evaluate(f"""() => {{ const r = document.querySelector('.st-key-card_{i}').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight; }}""")


def below_window(page, i: int) -> bool:
    return page.evaluate(f"() => document.querySelector('.st-key-card_{i}').getBoundingClientRect().top"
                         " >= window.innerHeight")


def test_moving_the_focus_to_a_card_below_the_window_scrolls_it_into_view(server, browser):
    url, _, sid, _ = server
    ctx = browser.new_context(viewport=VIEWPORT)
    page = open_review(ctx, url, sid)
    wait_cards(page)
    below = next(i for i in range(24) if below_window(page, i))  # the first card wholly under the window
    for i in range(1, below + 1):
        page.keyboard.press("ArrowRight")
        wait_ring(page, i)
    page.wait_for_function(f"""() => {{ const r = document.querySelector('.st-key-card_{below}')
        .getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }}""")
    assert in_view(page, below) and not in_view(page, 0)  # the page scrolled down to it
    shot(page, "review_focus_scrolled_1024")
    ctx.close()
