import sys
from pathlib import Path

# the random-network builder shared with tests/ir
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ir"))
