import sys
from pathlib import Path

# tests/impls.py is shared by several test modules.
sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["pytester"]
