import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from verify_helpers import small_graph  # noqa: E402


@pytest.fixture
def graph():
    return small_graph()
