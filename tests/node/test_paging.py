"""``page_of``: the pages of a long list cover every row once, a page asked for out of range or garbled is the
nearest real one, and a refused form's row is on the page shown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from peer_node.web_ui.paging import page_of


@given(st.integers(0, 2_000), st.integers(1, 300))
def test_the_pages_cover_every_row_once_in_order(total: int, per_page: int) -> None:
    first = page_of(total, None, per_page)
    seen: list[int] = []
    for number in range(1, first.count + 1):
        page = page_of(total, str(number), per_page)
        assert page.number == number and page.count == first.count and page.total == total
        assert (page.previous, page.next) == (number - 1 or None, number + 1 if number < page.count else None)
        assert 0 < page.stop - page.start <= per_page or total == 0
        seen.extend(range(page.start, page.stop))
    assert seen == list(range(total))


@given(st.integers(0, 2_000), st.text(max_size=12))
def test_any_page_asked_for_is_a_real_page(total: int, asked: str) -> None:
    page = page_of(total, asked, 100)
    assert 1 <= page.number <= page.count
    assert page.start <= page.stop <= total


def test_out_of_range_and_garbled_pages_are_the_nearest_real_one() -> None:
    assert page_of(250, "9", 100).number == 3
    assert page_of(250, "0", 100).number == 1
    assert page_of(250, "-2", 100).number == 1
    assert page_of(250, "²", 100).number == 1  # a digit to str.isdigit, not a page number
    assert page_of(250, "9" * 40, 100).number == 1  # not parsed at all: no huge int from a query string
    assert page_of(0, None, 100) == page_of(0, "5", 100)  # no rows: one empty page, not page 0


@given(st.integers(1, 2_000), st.data())
def test_the_row_held_is_on_the_page_whatever_was_asked(total: int, data: st.DataObject) -> None:
    row = data.draw(st.integers(0, total - 1))
    page = page_of(total, data.draw(st.sampled_from([None, "1", "3", "x"])), 100, holding=row)
    assert page.start <= row < page.stop
