import pytest

from support.verify_helpers import small_graph


@pytest.fixture
def graph():
    return small_graph()
